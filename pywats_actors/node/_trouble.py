"""What the pipeline does with a file in trouble: one that changed, cannot be read, could
not be converted (no worker) or cannot be moved, deleted or marked.

Each gets a log line (a warning the first time, then info), an event, the folder's record
(:class:`FolderHealth`) and a retry of its own (:class:`RetrySchedule`). Nothing here raises:
the file stays in its folder and the pipeline carries on.
"""

from __future__ import annotations

import errno
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import trio
from structlog.typing import FilteringBoundLogger

from ._bus import EventBus
from ._disposal import SourceChanged
from ._file_events import (
    ConversionUnavailable,
    DisposalFailed,
    FileChangedMeanwhile,
    FileDisposed,
    FileUnreadable,
)
from ._folder_status import FolderHealth, Trouble
from ._messages import FileReady
from ._retries import RetrySchedule

__all__ = ["Disposal", "DisposalOutcome", "FileTrouble", "error_text"]

_Log = FilteringBoundLogger
_Again = Callable[[], Awaitable[object]]
Disposal = Callable[[], Path | None]
"""A blocking disposal (``dispose_success`` or ``dispose_failure`` with its arguments)."""
DisposalOutcome = Literal["done", "changed", "failed"]


def error_text(exc: OSError) -> str:
    """``EACCES: [Errno 13] Permission denied: '/path'`` (the errno's name first, to search)."""
    code = errno.errorcode.get(exc.errno) if exc.errno is not None else None
    return f"{code}: {exc}" if code else str(exc)


@dataclass
class FileTrouble:
    """Reports files in trouble and schedules their retries.

    Attributes:
        bus: where the events go.
        health: the per-folder record.
        retries: the pipeline's waiting files.
    """

    bus: EventBus
    health: FolderHealth
    retries: RetrySchedule

    async def dispose(
        self,
        ready: FileReady,
        dispose: Disposal,
        action: str,
        failures: int,
        log: _Log,
        *,
        inline: bool,
    ) -> tuple[DisposalOutcome, Path | None]:
        """Run a disposal. A file that changed stays (an event); one that cannot be disposed of
        stays and is tried again with backoff (an event, and the folder's record)."""
        try:
            where = dispose() if inline else await trio.to_thread.run_sync(dispose)
        except SourceChanged:
            self.retries.drop(ready)
            self.health.settled(ready.folder, ready.path, "disposal")
            self.changed(ready, "disposal", log)
            return "changed", None
        except OSError as exc:
            attempt = failures + 1
            error = error_text(exc)
            self.health.failed(ready.folder, ready.path, "disposal", error)

            async def again() -> None:
                outcome, moved = await self.dispose(
                    ready, dispose, action, attempt, log, inline=False
                )
                if outcome == "done":
                    log.info("file disposed of after all", attempts=attempt + 1)
                    self.bus.publish(
                        FileDisposed(
                            folder=ready.folder,
                            source=ready.path,
                            disposed_to=str(moved) if moved is not None else None,
                            attempts=attempt + 1,
                        )
                    )

            retry_in = self._retry(
                ready,
                "disposal",
                attempt,
                again,
                log,
                "cannot dispose of the file; it stays in its folder and is tried again",
                action=action,
                error=error,
            )
            self.bus.publish(
                DisposalFailed(
                    folder=ready.folder,
                    source=ready.path,
                    action=action,
                    error=error,
                    attempt=attempt,
                    retry_in=retry_in,
                )
            )
            return "failed", None
        self.health.disposed(ready.folder)
        self.health.settled(ready.folder, ready.path, "disposal")
        return "done", where

    def forget(self, ready: FileReady) -> None:
        """This version of the file no longer waits to be read or converted."""
        self.health.settled(ready.folder, ready.path, "read")
        self.health.settled(ready.folder, ready.path, "converter")

    def changed(self, ready: FileReady, stage: Literal["read", "disposal"], log: _Log) -> None:
        """The file was rewritten: this version stays, the watcher offers the new one."""
        log.info(
            "file rewritten while it was processed; its new version is taken anew", stage=stage
        )
        self.bus.publish(FileChangedMeanwhile(folder=ready.folder, source=ready.path, stage=stage))

    def unreadable(
        self, ready: FileReady, error: str, attempt: int, log: _Log, again: _Again
    ) -> None:
        """The file could not be read: it waits, and *again* reads it after the backoff."""
        self.health.failed(ready.folder, ready.path, "read", error)
        retry_in = self._retry(
            ready,
            "read",
            attempt,
            again,
            log,
            "cannot read file; it will be tried again",
            error=error,
        )
        self.bus.publish(
            FileUnreadable(
                folder=ready.folder,
                source=ready.path,
                error=error,
                attempt=attempt,
                retry_in=retry_in,
            )
        )

    def unavailable(
        self,
        ready: FileReady,
        reason: str,
        attempt: int,
        log: _Log,
        again: _Again,
        *,
        quiet: bool = False,
        message: str = "no conversion could run; the file stays and is tried again",
    ) -> None:
        """No conversion could run (or its reports could not be stored): the file waits, and
        *again* takes it after the backoff. *quiet*: the outage has been reported already (no
        worker can start), so the file's line is at info level. *message*: the log line."""
        self.health.failed(ready.folder, ready.path, "converter", reason)
        retry_in = self._retry(
            ready, "converter", attempt, again, log, message, loud=not quiet, reason=reason
        )
        self.bus.publish(
            ConversionUnavailable(
                folder=ready.folder,
                source=ready.path,
                reason=reason,
                attempt=attempt,
                retry_in=retry_in,
            )
        )

    def _retry(
        self,
        ready: FileReady,
        trouble: Trouble,
        attempt: int,
        again: _Again,
        log: _Log,
        message: str,
        *,
        loud: bool = True,
        **fields: object,
    ) -> float | None:
        """Schedule *again* for *ready* and log *message*: a warning on the first attempt (when
        *loud*), info after; returns the delay in seconds (rounded), ``None`` if not retried."""
        delay = self.retries.schedule(ready, trouble, attempt, again)
        retry_in = None if delay is None else round(delay, 3)
        say = log.warning if loud and attempt == 1 and delay is not None else log.info
        say(message, attempt=attempt, retry_in=retry_in, **fields)
        return retry_in
