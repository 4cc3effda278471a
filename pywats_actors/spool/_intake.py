"""When the node should stop taking new files, and when it may start again.

Intake pauses for one of two reasons (:class:`PauseReason`):

* **size limit**: an enqueue was refused, or the work not yet sent (pending and rejected
  reports) is exactly at ``max_bytes`` / ``max_reports``. It resumes when unsent work has gone
  down (reports marked sent, a purge) to ``resume_below`` of every limit. A decrease is
  required: a refusal while usage is below that level (one report too big for the room left)
  must not reopen intake at once, or the node would retry the same file in a loop. Sent
  reports never count: they make room by themselves;
* **disk full**: SQLite said ``SQLITE_FULL``, or an enqueue would cut into the free-space
  reserve. It resumes when a probe, every ``disk_probe_interval`` seconds of trio's clock, finds
  ``reserve_free_bytes + resume_free_bytes`` free.

Everything here runs on the trio thread. Observers are called synchronously and must not block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import trio
from structlog.typing import FilteringBoundLogger

from ._files import free_bytes
from ._settings import SpoolSettings
from ._types import IntakePaused, IntakeResumed, PauseReason, SpoolEvent

__all__ = ["IntakeGate", "SpoolObserver", "Usage"]

SpoolObserver = Callable[[SpoolEvent], None]
"""Receives every :data:`SpoolEvent` synchronously on the trio thread; must not block."""

Usage = tuple[int, int]
"""Body bytes and rows of the reports not yet sent (pending and rejected)."""


class IntakeGate:
    """The intake state machine: open, paused for the size limit, paused for the disk.

    Args:
        settings: the limits and the disk thresholds.
        clock: the wall clock, for event times.
        observers: called with :class:`IntakePaused` / :class:`IntakeResumed`.
        log: where transitions and observer failures are logged.
    """

    def __init__(
        self,
        settings: SpoolSettings,
        clock: Callable[[], float],
        observers: Iterable[SpoolObserver],
        log: FilteringBoundLogger,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._observers = tuple(observers)
        self._log = log
        self.paused: PauseReason | None = None
        self._paused_at: Usage = (0, 0)
        self._open = trio.Event()
        self._open.set()
        self._disk_paused = trio.Event()

    async def wait_open(self) -> None:
        """Return when intake is open."""
        await self._open.wait()

    def at_limit(self, usage: Usage) -> bool:
        """Whether unsent work has reached a limit (nothing more fits)."""
        size, rows = usage
        s = self._settings
        return (s.max_bytes is not None and size >= s.max_bytes) or (
            s.max_reports is not None and rows >= s.max_reports
        )

    def _below_resume(self, usage: Usage) -> bool:
        size, rows = usage
        s = self._settings
        return (s.max_bytes is None or size <= s.max_bytes * s.resume_below) and (
            s.max_reports is None or rows <= s.max_reports * s.resume_below
        )

    def committed(self, usage: Usage) -> None:
        """A transaction committed; *usage* is the spool's usage after it."""
        if self.paused is PauseReason.SIZE_LIMIT:
            freed = usage[0] < self._paused_at[0] or usage[1] < self._paused_at[1]
            if freed and self._below_resume(usage):
                self._resume()
        elif self.paused is None and self.at_limit(usage):
            self.pause(PauseReason.SIZE_LIMIT, usage)

    def pause(self, reason: PauseReason, usage: Usage) -> None:
        """Pause intake (again) for *reason*; *usage* is what a resume must improve on."""
        self._paused_at = usage
        if self.paused is reason:
            return
        self.paused = reason
        if self._open.is_set():
            self._open = trio.Event()
        if reason is PauseReason.DISK_FULL:
            self._disk_paused.set()
        self._log.warning("spool intake paused", reason=reason.value)
        self._emit(IntakePaused(reason=reason, time=self._clock()))

    def _resume(self) -> None:
        self.paused = None
        self._disk_paused = trio.Event()
        self._open.set()
        self._log.info("spool intake resumed")
        self._emit(IntakeResumed(time=self._clock()))

    def disk_has_room(self, free: int) -> bool:
        """Whether *free* bytes are enough to resume after a disk-full pause."""
        s = self._settings
        return free >= s.reserve_free_bytes + s.resume_free_bytes

    async def probe_disk(self, directory: Path, usage: Callable[[], Usage]) -> None:
        """Run forever: while paused for the disk, look at the free space every
        ``disk_probe_interval`` seconds and resume once there is room."""
        while True:
            await self._disk_paused.wait()
            await trio.sleep(self._settings.disk_probe_interval)
            if self.paused is not PauseReason.DISK_FULL:
                continue
            free = await trio.to_thread.run_sync(free_bytes, directory)
            if self.disk_has_room(free):
                self._resume()
                self.committed(usage())  # still at the size limit? then pause for that

    def _emit(self, event: SpoolEvent) -> None:
        # This may run inside a TrioToken.run_sync_soon callback, where an exception would
        # crash trio itself: an observer's bug is logged, never raised.
        for observer in self._observers:
            try:
                observer(event)
            except Exception:
                self._log.exception("spool observer failed", observer=repr(observer))
