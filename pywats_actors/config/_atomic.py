"""Replacing a file so that a crash leaves either the old or the new content, never a mix."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from ._errors import ConfigWriteError

__all__ = ["write_config_atomically"]


def write_config_atomically(path: str | os.PathLike[str], text: str, *, mode: int = 0o600) -> None:
    """Write *text* to *path* atomically and durably.

    The text goes to a temporary file in the same folder, which is fsynced, given *mode*, and
    renamed over *path*; then the folder is fsynced so that the rename itself survives a power
    cut. A reader (or the config actor's file watcher) sees the old file or the new one, never
    a partly written one. The folder must exist.

    Blocking; call it from trio with ``trio.to_thread.run_sync``.

    Args:
        path: the file to create or replace.
        text: its new content, written as UTF-8.
        mode: the new file's permission bits; 0600 by default, because a configuration may
            hold a token.

    Raises:
        ConfigWriteError: anything failed; the old file (if any) is unchanged and no temporary
            file is left behind.
    """
    target = Path(os.path.abspath(Path(path).expanduser()))
    folder = target.parent
    temporary: str | None = None
    try:
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=folder
        )
        with open(descriptor, "wb") as file:
            os.fchmod(file.fileno(), mode)
            file.write(text.encode("utf-8"))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
        temporary = None
        _fsync_folder(folder)
    except OSError as exc:
        raise ConfigWriteError(
            f"cannot write {target}: {exc.strerror or exc}", path=target
        ) from exc
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
