"""What happens to a source file once its fate is known.

Called only after the spool has committed the file's reports (success), or after the converter
pool has given up on it (failure), so a crash at any point loses nothing: the file is still in
the watch folder and is converted again to the same report ids.

Only the version of the file that was converted is disposed of. Before a file is moved, deleted
or marked, its inode, device, size and modification time are compared with the signature it had
when it was read; a file rewritten meanwhile raises :class:`SourceChanged` and stays where it is,
to be converted again as a new result. The check and the rename are one blocking call, and the
file is checked again after the rename: a version that slipped in between is put back.

Names never clash: a file moves under its own name, or ``name~N.ext`` with the first free N,
claimed with ``renameat2(RENAME_NOREPLACE)`` so that two disposals racing for a name can never
overwrite each other (or, where the file system lacks it, an existence check just before the
rename).

All functions block (file-system calls). The pipeline calls ``dispose_success`` directly for
folders on a local disk (a rename there is cheaper than a thread hop) and through
``trio.to_thread.run_sync`` everywhere else (``_fs``). Any ``OSError`` means the file was left
where it was.
"""

from __future__ import annotations

import ctypes
import datetime as _dt
import enum
import errno
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from .._failpoints import failpoint
from ._messages import FileReady, FileSignature
from ._tracker import marker_path

__all__ = [
    "AfterSuccess",
    "SourceChanged",
    "dispose_failure",
    "dispose_success",
    "error_document",
    "same_version",
]

DELETING_SUFFIX = ".pywats-deleting"
"""A file being deleted is first renamed to ``.<name>.pywats-deleting`` (see ``_leftovers``)."""
SIDECAR_TMP = ".{name}.{pid}.tmp"
"""A sidecar is written to this hidden name first, then renamed into place."""
_TRACEBACK_EXCERPT = 4000
_MAX_SUFFIX = 100_000
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_NOT_SUPPORTED = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP})


class AfterSuccess(enum.Enum):
    """What to do with a file whose reports are safely in the spool."""

    MOVE = "move"
    """Move it to the done folder, keeping its relative path."""
    DELETE = "delete"
    """Delete it."""
    KEEP = "keep"
    """Leave it, and write a hidden marker so it is not converted again unless it changes."""


class SourceChanged(Exception):
    """The file at the path is no longer the version that was converted; it was left in place.

    Attributes:
        path: the file.
        found: the signature of what is there now.
    """

    def __init__(self, path: Path, found: FileSignature) -> None:
        super().__init__(f"{path} was rewritten after it was read; it stays for a new conversion")
        self.path = path
        self.found = found


class FolderMissing(OSError):
    """The watch folder itself is missing (deleted, or its share is away): the done or error
    folder is not made, so the watch folder is never brought back by a disposal. An
    ``OSError`` like any disposal failure: the file's disposal is tried again later."""


def _make_below(root: Path, folder: Path) -> None:
    """Make *folder* and the folders between it and *root*, one at a time, never *root* itself
    or anything above it.

    Raises:
        FolderMissing: *root* is not there (or not a folder).
        OSError: a folder could not be made.
    """
    try:
        parts = folder.relative_to(root).parts
    except ValueError:  # not below the root: nothing of ours to make
        parts = ()
    current = root
    for part in parts:
        current = current / part
        try:
            current.mkdir()
        except FileExistsError:
            continue
        except (FileNotFoundError, NotADirectoryError) as exc:
            if not os.path.isdir(root):
                raise FolderMissing(
                    errno.ENOENT, "the watch folder is missing; it is not made again", str(root)
                ) from exc
            raise


def same_version(expected: FileSignature, st: os.stat_result) -> bool:
    """Whether *st* describes the version of the file *expected* was taken from.

    Size and modification time must match; inode and device too, unless *expected* does not
    know them (0).
    """
    if (st.st_size, st.st_mtime_ns) != (expected.size, expected.mtime_ns):
        return False
    return expected.ino == 0 or (st.st_ino, st.st_dev) == (expected.ino, expected.dev)


def _candidates(target: Path) -> Iterator[Path]:
    """``target``, then ``stem~1.ext``, ``stem~2.ext``... up to a bound."""
    yield target
    for n in range(1, _MAX_SUFFIX):
        yield target.with_name(f"{target.stem}~{n}{target.suffix}")


def _load_renameat2() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function: Callable[..., int] = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):  # glibc before 2.28, musl without it
        return None
    function.argtypes = [  # type: ignore[attr-defined]
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    function.restype = ctypes.c_int  # type: ignore[attr-defined]
    return function


_renameat2 = _load_renameat2()


def _rename_noreplace(source: Path, target: Path) -> None:
    """Rename *source* to *target*; ``FileExistsError`` if *target* exists (atomically where
    the kernel and file system offer ``RENAME_NOREPLACE``)."""
    if _renameat2 is not None:
        result = _renameat2(
            _AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE
        )
        if result == 0:
            return
        code = ctypes.get_errno()
        if code not in _NOT_SUPPORTED:
            raise OSError(code, os.strerror(code), str(source), None, str(target))
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target))
    os.rename(source, target)


def _rename_unique(source: Path, target: Path) -> Path:
    """Rename *source* to *target* or its first free ``~N`` variant; returns the name used."""
    for candidate in _candidates(target):
        try:
            _rename_noreplace(source, candidate)
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(errno.EEXIST, "no free name", str(target))


def _check(source: Path, expected: FileSignature) -> None:
    """Raise :class:`SourceChanged` unless *source* is still the version converted."""
    st = os.stat(source)
    if not same_version(expected, st):
        raise SourceChanged(source, FileSignature.from_stat(st))


def _verified_move(source: Path, target: Path, expected: FileSignature) -> Path:
    """Move *source* to a free name at *target* if it is still the version converted.

    Checked before the rename and again after it: a file replaced in between (another inode,
    or written to) is moved back into the watch folder, under its own name if that is free.
    """
    _check(source, expected)
    final = _rename_unique(source, target)
    st = os.stat(final)
    if not same_version(expected, st):
        _rename_unique(final, source)
        raise SourceChanged(source, FileSignature.from_stat(st))
    return final


def dispose_success(
    ready: FileReady, root: Path, action: AfterSuccess, done_dir: str = "done"
) -> Path | None:
    """Move, delete or mark *ready*'s file; returns where it went (``None`` if deleted or gone).

    A file that has already gone (moved by an operator) is not an error; a watch folder that
    has gone is (:class:`FolderMissing`), and the done folder is made only inside an existing
    watch folder.

    Raises:
        FolderMissing: the watch folder is not there; nothing was made or moved.
        SourceChanged: the file was rewritten since it was read; it was left in place.
        OSError: it could not be moved, deleted or marked; it was left in place.
    """
    source = Path(ready.path)
    if not os.path.isdir(root):  # the whole folder is away: try again when it is back
        raise FolderMissing(
            errno.ENOENT, "the watch folder is missing; it is not made again", str(root)
        )
    try:
        failpoint("disposal.move")
        if action is AfterSuccess.MOVE:
            target = root / done_dir / ready.relative
            _make_below(root, target.parent)
            return _verified_move(source, target, ready.signature)
        if action is AfterSuccess.DELETE:
            # Renamed to a hidden name first, so that only the version converted is deleted.
            doomed = source.with_name(f".{source.name}{DELETING_SUFFIX}")
            os.unlink(_verified_move(source, doomed, ready.signature))
            return None
        _check(source, ready.signature)
        _write_marker(source, ready.signature)
        return source
    except FileNotFoundError:
        return None


def _write_marker(source: Path, signature: FileSignature) -> None:
    marker = marker_path(source)
    tmp = marker.with_name(marker.name + ".tmp")
    tmp.write_text(f"{signature.size} {signature.mtime_ns} {signature.ino} {signature.dev}\n")
    os.replace(tmp, marker)


def error_document(
    ready: FileReady, kind: str, reason: str, converter: str | None, traceback: str | None
) -> dict[str, object]:
    """The error sidecar's content for a file (or unit) that failed (``file`` set on writing)."""
    return {
        "file": "",
        "source": ready.path,
        "folder": ready.folder,
        "kind": kind,
        "reason": reason,
        "converter": converter,
        "traceback": traceback[-_TRACEBACK_EXCERPT:] if traceback else None,
        "size": ready.signature.size,
        "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def dispose_failure(
    ready: FileReady,
    root: Path,
    *,
    kind: str,
    reason: str,
    converter: str | None,
    traceback: str | None = None,
    error_dir: str = "error",
) -> Path | None:
    """Move the file to the error folder with a ``<name>.error.json`` sidecar saying why.

    The sidecar is written first (atomically, and never over another file's sidecar), so an
    operator never finds a file in ``error/`` without its reason. Returns the file's new path
    (``None`` if it had gone).

    Raises:
        FolderMissing: the watch folder is not there; nothing was made or moved.
        SourceChanged: the file was rewritten since it was read; it was left in place.
        OSError: it could not be moved; it was left in place.
    """
    source = Path(ready.path)
    try:
        _check(source, ready.signature)
    except FileNotFoundError:
        if not os.path.isdir(root):  # the whole folder is away: try again when it is back
            raise FolderMissing(
                errno.ENOENT, "the watch folder is missing; it is not made again", str(root)
            ) from None
        return None
    wanted = root / error_dir / ready.relative
    _make_below(root, wanted.parent)
    document = error_document(ready, kind, reason, converter, traceback)
    for target in _candidates(wanted):
        sidecar = target.with_name(target.name + ".error.json")
        if os.path.lexists(target) or os.path.lexists(sidecar):
            continue
        document["file"] = target.name
        tmp = sidecar.with_name(SIDECAR_TMP.format(name=sidecar.name, pid=os.getpid()))
        tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        try:
            _rename_noreplace(tmp, sidecar)
        except FileExistsError:
            tmp.unlink()
            continue
        try:
            _rename_noreplace(source, target)
        except FileExistsError:
            sidecar.unlink()
            continue
        except FileNotFoundError:
            sidecar.unlink()
            return None
        except BaseException:
            sidecar.unlink()
            raise
        st = os.stat(target)
        if not same_version(ready.signature, st):
            _rename_unique(target, source)
            sidecar.unlink()
            raise SourceChanged(source, FileSignature.from_stat(st))
        return target
    raise FileExistsError(errno.EEXIST, "no free name", str(wanted))
