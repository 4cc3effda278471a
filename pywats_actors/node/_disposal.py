"""What happens to a source file once its fate is known.

Called only after the spool has committed the file's reports (success), or after the converter
pool has given up on it (failure), so a crash at any point loses nothing: the file is still in
the watch folder and is converted again to the same report ids.

All functions block (file-system calls). The pipeline calls ``dispose_success`` directly for
folders on a local disk (a rename there is cheaper than a thread hop) and through
``trio.to_thread.run_sync`` everywhere else (``_fs``).
"""

from __future__ import annotations

import datetime as _dt
import enum
import json
import os
from pathlib import Path

from .._failpoints import failpoint
from ._messages import FileReady, FileSignature
from ._watcher import marker_path

__all__ = ["AfterSuccess", "dispose_failure", "dispose_success", "unique_target"]

_TRACEBACK_EXCERPT = 4000


class AfterSuccess(enum.Enum):
    """What to do with a file whose reports are safely in the spool."""

    MOVE = "move"
    """Move it to the done folder, keeping its relative path."""
    DELETE = "delete"
    """Delete it."""
    KEEP = "keep"
    """Leave it, and write a hidden marker so it is not converted again unless it changes."""


def unique_target(target: Path) -> Path:
    """*target*, or ``name~N.ext`` with the first free N when it exists."""
    if not target.exists():
        return target
    stem, suffix = target.stem, target.suffix
    n = 1
    while True:
        candidate = target.with_name(f"{stem}~{n}{suffix}")
        if not candidate.exists():
            return candidate
        n += 1


def _move(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    final = unique_target(target)
    os.replace(source, final)
    return final


def dispose_success(
    ready: FileReady, root: Path, action: AfterSuccess, done_dir: str = "done"
) -> Path | None:
    """Move, delete or mark *ready*'s file; returns where it went (``None`` if deleted or gone).

    A file that has already gone (moved by an operator) is not an error.
    """
    source = Path(ready.path)
    try:
        failpoint("disposal.move")
        if action is AfterSuccess.MOVE:
            return _move(source, root / done_dir / ready.relative)
        if action is AfterSuccess.DELETE:
            source.unlink()
            return None
        _write_marker(source, ready.signature)
        return source
    except FileNotFoundError:
        return None


def _write_marker(source: Path, signature: FileSignature) -> None:
    marker = marker_path(source)
    tmp = marker.with_name(marker.name + ".tmp")
    tmp.write_text(f"{signature.size} {signature.mtime_ns} {signature.ino} {signature.dev}\n")
    os.replace(tmp, marker)


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

    The sidecar is written first (atomically), so an operator never finds a file in ``error/``
    without its reason. Returns the file's new path (``None`` if it had gone).
    """
    source = Path(ready.path)
    if not source.exists():
        return None
    target = unique_target(root / error_dir / ready.relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    sidecar = target.with_name(target.name + ".error.json")
    document = {
        "file": target.name,
        "source": ready.path,
        "folder": ready.folder,
        "kind": kind,
        "reason": reason,
        "converter": converter,
        "traceback": traceback[-_TRACEBACK_EXCERPT:] if traceback else None,
        "size": ready.signature.size,
        "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    tmp = sidecar.with_name(sidecar.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp, sidecar)
    try:
        os.replace(source, target)
    except FileNotFoundError:
        return None
    return target
