"""What a crash in the middle of a disposal leaves in a watch folder, put right at start.

* ``.<name>.pywats-deleting``: a delete (``after_success = "delete"``) renames the file to this
  hidden name, checks it, then unlinks it. A crash in between leaves the hidden file, whose
  reports are in the spool. It is renamed back (under the first free name), so the watcher
  takes it again: converting it again gives the same report ids, the spool stores nothing new,
  and the delete is finished. Deleting it blindly would be wrong in the rare case where the
  check after the rename had not run yet (the hidden file might be a version never converted).
* ``.<name>.error.json.<pid>.tmp`` in the error folder: a sidecar written but not yet renamed
  into place; the file it describes was not moved, so it is still in the watch folder and gets
  a new sidecar. Removed, unless it belongs to this process (a disposal running now).
* ``.<name>.pywats-done.tmp``: a marker (``after_success = "keep"``) not yet renamed into
  place; removed (the file is converted again and marked then).

:func:`recover_leftovers` is blocking; the watcher runs it in a worker thread before its first
scan.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ._disposal import DELETING_SUFFIX, _rename_unique

__all__ = ["Leftovers", "recover_leftovers"]

_SIDECAR_TMP = re.compile(r"^\..+\.error\.json\.(\d+)\.tmp$")
_MARKER_TMP = re.compile(r"^\..+\.pywats-done\.tmp$")
_SUFFIXED = re.compile(r"~\d+$")  # a second leftover of one name got ``~N`` before its suffix


@dataclass
class Leftovers:
    """What :func:`recover_leftovers` did.

    Attributes:
        restored: (hidden name, name it got back) of each interrupted delete.
        removed: half-written sidecars and markers removed.
        failed: (path, error) of leftovers that could not be put right (tried again at the
            next start).
    """

    restored: list[tuple[str, str]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def recover_leftovers(
    root: Path, *, recursive: bool, skip_dirs: frozenset[str], error_dir: str
) -> Leftovers:
    """Put right what interrupted disposals left under *root* (see the module's docstring)."""
    done = Leftovers()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                listed = sorted(entries, key=lambda entry: entry.name)
        except OSError:
            continue  # missing or unreadable: the watcher reports the folder itself
        for entry in listed:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if recursive and entry.name not in skip_dirs:
                        stack.append(Path(entry.path))
                elif entry.name.startswith(".") and entry.is_file(follow_symlinks=False):
                    _one(Path(entry.path), done)
            except OSError as exc:
                done.failed.append((entry.path, exc.strerror or str(exc)))
    _sidecars(root / error_dir, done)
    return done


def _one(path: Path, done: Leftovers) -> None:
    name = path.name
    if name.endswith(DELETING_SUFFIX) and len(name) > len(DELETING_SUFFIX) + 1:
        original = _SUFFIXED.sub("", name[1 : -len(DELETING_SUFFIX)])
        if original:
            back = _rename_unique(path, path.with_name(original))
            done.restored.append((str(path), str(back)))
    elif _MARKER_TMP.match(name):
        path.unlink(missing_ok=True)
        done.removed.append(str(path))


def _sidecars(error_folder: Path, done: Leftovers) -> None:
    own = str(os.getpid())
    for folder, _, files in os.walk(error_folder):
        for name in files:
            match = _SIDECAR_TMP.match(name)
            if match is None or match[1] == own:
                continue
            path = os.path.join(folder, name)
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                done.failed.append((path, exc.strerror or str(exc)))
                continue
            done.removed.append(path)
