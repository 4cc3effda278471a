"""What happens to a folder unit once its fate is known: the whole unit moves, or goes, as one.

The counterpart of ``_disposal`` for folder units (``unit = "folder"``), with the same promises:
called only after the spool committed the unit's reports (success) or the pool gave up on it
(failure); only the version that was converted is disposed of (its file list, sizes and mtimes
are compared first: a unit that changed meanwhile raises :class:`SourceChanged` and stays); names
never clash. A unit's folder and its sibling files move under one name: ``done/NAME/`` and
``done/NAME.txt``, or ``NAME~N`` with the first N free for all of them. A failed unit moves to
``error/`` the same way, beside ``NAME.error.json`` (written first, so a unit is never there
without its reason) that says why.

A deleted unit's folder is first renamed to the hidden ``.NAME.pywats-unit-deleting`` (the unit
is no longer seen), then its siblings are deleted, then the folder; the unit watcher removes such
a folder left by a crash when it starts.

All functions block; the pipeline calls them in a worker thread. Any ``OSError`` means the unit
was left where it was (or, for a failure half-way, as much of it as could not be moved).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from ._disposal import (
    _MAX_SUFFIX,
    SIDECAR_TMP,
    AfterSuccess,
    FolderMissing,
    _make_below,
    _rename_noreplace,
    error_document,
)
from ._messages import FileReady
from ._units import UnitRules, check_unit

__all__ = ["UNIT_DELETING_SUFFIX", "dispose_unit_failure", "dispose_unit_success"]

UNIT_DELETING_SUFFIX = ".pywats-unit-deleting"
"""A unit folder being deleted is first renamed to ``.<name>.pywats-unit-deleting``."""


def _members(ready: FileReady) -> list[str]:
    """The unit's top-level names in the watch folder: its folder, then its sibling files."""
    assert ready.unit is not None
    name = ready.relative
    return [name] + [f.path for f in ready.unit if "/" not in f.path]


def _renamed(member: str, name: str, suffix: str) -> str:
    """*member* (the folder ``name`` or a sibling ``name.ext``) with ``~N`` after the name."""
    return name + suffix + member[len(name) :]


def _move_together(
    root: Path,
    ready: FileReady,
    target_dir: Path,
    claim: Callable[[str], Path] | None = None,
) -> Path:
    """Move the unit's folder and siblings into *target_dir* under the first ``~N`` free for
    all of them. *claim*, when given, is called with the suffix (``""`` or ``~N``) before
    anything moves and returns the file it made (the error sidecar, made with no-replace:
    ``FileExistsError`` if taken); it is removed again when the unit cannot move under that
    suffix.

    Returns the folder's new path.
    """
    name = ready.relative
    members = _members(ready)
    for n in range(_MAX_SUFFIX):
        suffix = "" if n == 0 else f"~{n}"
        names = [_renamed(m, name, suffix) for m in members]
        if any(os.path.lexists(target_dir / new) for new in names):
            continue
        claimed: Path | None = None
        moved: list[tuple[Path, Path]] = []
        try:
            if claim is not None:
                claimed = claim(suffix)
            for member, new in zip(members, names, strict=True):
                _rename_noreplace(root / member, target_dir / new)
                moved.append((root / member, target_dir / new))
        except BaseException as exc:  # put back what moved; a clash tries the next N
            for source, target in reversed(moved):
                os.rename(target, source)
            if claimed is not None:
                claimed.unlink()
            if isinstance(exc, FileExistsError):
                continue
            raise
        return target_dir / names[0]
    raise FileExistsError(errno.EEXIST, "no free name", str(target_dir / name))


def _root_present(root: Path) -> None:
    if not os.path.isdir(root):
        raise FolderMissing(
            errno.ENOENT, "the watch folder is missing; it is not made again", str(root)
        )


def dispose_unit_success(
    ready: FileReady, root: Path, rules: UnitRules, action: AfterSuccess, done_dir: str = "done"
) -> Path | None:
    """Move the whole unit to the done folder, or delete it; returns its folder's new path
    (``None`` if deleted or gone). ``keep`` (which the configuration check refuses for units)
    leaves it where it is, unmarked.

    Raises:
        FolderMissing: the watch folder is not there; nothing was made or moved.
        SourceChanged: the unit changed since it was read; it was left in place.
        OSError: it could not be moved or deleted.
    """
    _root_present(root)
    try:
        check_unit(ready, root, rules)
    except FileNotFoundError:
        return None
    if action is AfterSuccess.KEEP:  # refused by the configuration check; never a delete
        return root / ready.relative
    if action is AfterSuccess.MOVE:
        target = root / done_dir
        _make_below(root, target)
        return _move_together(root, ready, target)
    hidden = root / f".{ready.relative}{UNIT_DELETING_SUFFIX}"
    if os.path.lexists(hidden):
        remove_deleting(hidden)
    _rename_noreplace(root / ready.relative, hidden)
    for member in _members(ready)[1:]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(root / member)
    remove_deleting(hidden)
    return None


def remove_deleting(hidden: Path) -> None:
    """Remove a unit folder renamed for deletion (its reports are stored)."""
    shutil.rmtree(hidden)


def dispose_unit_failure(
    ready: FileReady,
    root: Path,
    rules: UnitRules,
    *,
    kind: str,
    reason: str,
    converter: str | None,
    traceback: str | None = None,
    error_dir: str = "error",
) -> Path | None:
    """Move the whole unit to the error folder beside a ``NAME.error.json`` saying why;
    returns its folder's new path (``None`` if it had gone).

    Raises:
        FolderMissing: the watch folder is not there; nothing was made or moved.
        SourceChanged: the unit changed since it was read; it was left in place.
        OSError: it could not be moved.
    """
    _root_present(root)
    try:
        check_unit(ready, root, rules)
    except FileNotFoundError:
        return None
    assert ready.unit is not None
    target_dir = root / error_dir
    _make_below(root, target_dir)
    document = error_document(ready, kind, reason, converter, traceback)
    document["unit"] = [f.path for f in ready.unit]

    def write_sidecar(suffix: str) -> Path:
        document["file"] = ready.relative + suffix
        sidecar = target_dir / f"{ready.relative}{suffix}.error.json"
        tmp = sidecar.with_name(SIDECAR_TMP.format(name=sidecar.name, pid=os.getpid()))
        tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        try:
            _rename_noreplace(tmp, sidecar)
        except BaseException:
            tmp.unlink()
            raise
        return sidecar

    return _move_together(root, ready, target_dir, write_sidecar)
