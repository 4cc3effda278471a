"""One node per instance: an exclusive ``flock`` on ``<instance>.lock``.

The lock is held by an open file description, so the kernel releases it when the process
ends in any way, ``kill -9`` and power cuts included: a lock file left behind by a dead node
never blocks the next start, and there is no stale-lock guessing. The file holds the holder's
pid, for the error message of a second start. The file is never deleted: unlinking a lock file
while another process is about to open it would let two processes hold "the" lock.

The descriptor is not inherited by child processes (converter workers), which would otherwise
keep the instance locked after the node itself died.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType
from typing import final

from ._errors import ConfigError, InstanceLocked
from ._paths import check_instance_name

__all__ = ["InstanceLock", "acquire_instance_lock"]


@final
class InstanceLock:
    """A held instance lock; release it with :meth:`release` or by leaving a ``with`` block.

    Attributes:
        instance: the instance name.
        path: the lock file.
        pid: this process's id, as written in the lock file.
    """

    def __init__(self, instance: str, path: Path, descriptor: int) -> None:
        self.instance = instance
        self.path = path
        self.pid = os.getpid()
        self._descriptor: int | None = descriptor

    @property
    def held(self) -> bool:
        """True until :meth:`release`."""
        return self._descriptor is not None

    def release(self) -> None:
        """Release the lock (idempotent). The file stays."""
        if self._descriptor is not None:
            descriptor, self._descriptor = self._descriptor, None
            with contextlib.suppress(OSError):
                fcntl.flock(descriptor, fcntl.LOCK_UN)
            os.close(descriptor)

    def __enter__(self) -> InstanceLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "held" if self.held else "released"
        return f"<InstanceLock {self.instance!r} {state} at {self.path}>"


def acquire_instance_lock(instance: str, directory: str | os.PathLike[str]) -> InstanceLock:
    """Claim *instance* for this process, or fail at once if another process has it.

    Use the instance's data folder (``config.node.data_dir``) as *directory*: the lock then
    guards the spool itself. The folder is created (mode 0700) if needed. Blocking but never
    waits for the lock.

    Raises:
        InstanceLocked: another process holds it; the error names its pid and the lock file.
        ConfigError: the instance name is invalid, or the lock file cannot be created.
    """
    folder = Path(directory).expanduser()
    path = folder / f"{instance}.lock"
    try:
        check_instance_name(instance)
    except ValueError as exc:
        raise ConfigError(str(exc), path=path) from None
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot create the lock file {path}: {exc.strerror}", path=path) from exc
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_pid(descriptor)
        os.close(descriptor)
        raise InstanceLocked(instance, path, holder) from None
    except OSError as exc:
        os.close(descriptor)
        raise ConfigError(f"cannot lock {path}: {exc.strerror}", path=path) from exc
    try:
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
    except OSError as exc:
        os.close(descriptor)
        raise ConfigError(f"cannot write the lock file {path}: {exc.strerror}", path=path) from exc
    return InstanceLock(instance, path, descriptor)


def _read_pid(descriptor: int) -> int | None:
    try:
        text = os.pread(descriptor, 32, 0).decode("ascii").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None
