"""File-system helpers: the writer's lock file, directory fsync and free space."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path
from typing import IO

from ._errors import SpoolIOError, SpoolLocked

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the node's instance lock is the guard
    fcntl = None  # type: ignore[assignment]

__all__ = ["WriterLock", "free_bytes", "fsync_directory", "lock_path_for"]


def lock_path_for(path: Path) -> Path:
    """The lock file that marks a spool as open for writing: ``<db>.lock``."""
    return path.with_name(path.name + ".lock")


class WriterLock:
    """An exclusive, non-blocking advisory lock on ``<db>.lock``, held while a writer runs.

    The kernel drops the lock when the process dies (even by SIGKILL), so a stale lock file is
    harmless. Readers never take it.
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.path = lock_path_for(db_path)
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock.

        Raises:
            SpoolLocked: another process holds it.
            SpoolIOError: the lock file cannot be created (no such directory, no permission).
        """
        try:
            file = open(self.path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
        except OSError as exc:
            code = errno.errorcode.get(exc.errno or 0, "OSError")
            raise SpoolIOError(self.db_path, code, f"cannot create {self.path}: {exc}") from exc
        if fcntl is not None:
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                file.close()
                raise SpoolLocked(self.db_path, self.path) from None
        file.seek(0)
        file.truncate()
        file.write(f"{os.getpid()}\n")
        file.flush()
        self._file = file

    def release(self) -> None:
        """Drop the lock (closing the file releases it); the file itself stays."""
        if self._file is not None:
            self._file.close()
            self._file = None


def fsync_directory(directory: Path) -> None:
    """Make a new directory entry (a freshly created database file) durable."""
    if os.name != "posix":  # pragma: no cover - directories cannot be opened on Windows
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):  # some file systems refuse fsync on directories
            os.fsync(fd)
    finally:
        os.close(fd)


def free_bytes(directory: Path) -> int:
    """Bytes available to this (unprivileged) user on the file system holding *directory*."""
    return shutil.disk_usage(directory).free
