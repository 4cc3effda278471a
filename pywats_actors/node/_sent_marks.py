"""Accepted uploads, marked sent in the spool in batches (:class:`SentMarks`), and what happens
when the spool cannot record them (disk full, I/O error, closed)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import ClassVar, Protocol

import trio
from structlog.typing import FilteringBoundLogger

from ..spool import InvalidTransition, SpoolError, UnknownReport
from ._bus import NodeEvent
from ._policy import RetryBackoff

__all__ = ["MARK_BACKOFF", "WRITE_ERRORS", "MarkFailed", "SentMarks", "SentQueue"]

WRITE_ERRORS = (SpoolError, sqlite3.Error, OSError)
"""What a failed write to the spool raises: its own errors, and (until every path translates
them) SQLite's or the file system's, which must not crash the uploader either."""

MARK_BACKOFF = RetryBackoff(base=0.5, multiplier=2.0, cap=30.0)
"""How long to wait before writing an outcome again after the spool failed to record it."""


class MarkFailed(NodeEvent, frozen=True, kw_only=True):
    """The spool could not record the outcome of *reports* uploads (``action``: ``sent``,
    ``retry`` or ``rejected``); it is written again in *retry_in* seconds. Nothing is uploaded
    again meanwhile. *gave_up*: a retry or rejection was not recorded after several tries; the
    report stays pending and is uploaded again after *retry_in* seconds."""

    topic: ClassVar[str] = "upload"
    action: str
    reports: int
    report_id: str | None
    error: str
    attempt: int
    retry_in: float
    gave_up: bool = False


class SentQueue(Protocol):
    """What the sent marks need from the spool."""

    async def mark_sent_many(
        self, marks: Sequence[tuple[str, str | None]]
    ) -> Sequence[tuple[str, Exception]]: ...


class SentMarks:
    """Accepted reports, marked sent in the spool in batches.

    An accepted upload is recorded here at once (and logged and published at once); one task
    writes what has gathered in one trip to the spool, while the uploads go on. A report is
    claimed until its mark is committed, so no other upload takes it meanwhile. If the node
    dies before the commit, the report is still pending and is sent again after the restart
    with the same id, and the server keeps one copy: the same outcome as a crash between the
    server's answer and a mark made one at a time.

    When the spool cannot write the marks (disk full, an I/O error), they stay here and are
    written again with backoff (:data:`MARK_BACKOFF`), each failure an event
    (:class:`MarkFailed`); the uploader takes no new work meanwhile (:meth:`wait_recording`)
    and never uploads a report whose acknowledgement is held here (:meth:`holds`), even though
    the failed write gave its claim back.
    """

    _EXIT_WAIT = 5.0

    def __init__(
        self,
        queue: SentQueue,
        log: FilteringBoundLogger,
        publish: Callable[[NodeEvent], object] = lambda event: None,
        *,
        backoff: RetryBackoff = MARK_BACKOFF,
        random: Callable[[], float] | None = None,
    ) -> None:
        self.queue = queue
        self.log = log
        self.publish = publish
        self.backoff = backoff
        self.random = random
        self.unrecorded: dict[str, str | None] = {}
        self.arrived = trio.Event()
        self.writing = trio.Lock()
        self.failures = 0
        self.retry_in = 0.0
        self._recording = trio.Event()
        self._recording.set()

    def add(self, report_id: str, answer: str | None) -> None:
        self.unrecorded[report_id] = answer
        self.arrived.set()

    def holds(self, report_id: str) -> bool:
        """Whether the server acknowledged *report_id* and the spool has not recorded it yet."""
        return report_id in self.unrecorded

    async def wait_recording(self) -> None:
        """Return when the spool records marks (at once unless the last write failed)."""
        await self._recording.wait()

    async def run(self) -> None:
        while True:
            await self.arrived.wait()
            self.arrived = trio.Event()
            if not await self.flush():
                await trio.sleep(self.retry_in)
                self.arrived.set()  # write the held marks again

    async def flush(self) -> bool:
        """Write every mark waiting now (after a write already under way); whether it worked."""
        async with self.writing:
            marks = list(self.unrecorded.items())
            if not marks:
                return True
            try:
                refused = await self.queue.mark_sent_many(marks)
            except (UnknownReport, InvalidTransition):
                raise  # mark_sent_many returns these per report; never raised for a batch
            except WRITE_ERRORS as exc:
                self._failed(len(marks), exc)
                return False
            for report_id, _ in marks:
                self.unrecorded.pop(report_id, None)
            self.failures = 0
            self._recording.set()
        for report_id, error in refused:
            self.log.warning(
                "report changed by an operator during upload", report_id=report_id, error=str(error)
            )
        return True

    def _failed(self, count: int, exc: Exception) -> None:
        if self._recording.is_set():
            self._recording = trio.Event()
        self.failures += 1
        rand = self.random() if self.random is not None else None
        self.retry_in = retry_in = max(0.05, self.backoff.delay(self.failures, rand=rand))
        self.log.warning(
            "could not record uploads as sent; holding them and writing again, no new uploads "
            "meanwhile",
            reports=count,
            error=str(exc),
            attempt=self.failures,
            retry_in=round(retry_in, 3),
        )
        self.publish(
            MarkFailed(
                action="sent",
                reports=count,
                report_id=None,
                error=str(exc),
                attempt=self.failures,
                retry_in=retry_in,
            )
        )

    async def flush_on_the_way_out(self) -> None:
        """Last chance when the uploader ends, even cancelled: a few seconds, shielded."""
        if not self.unrecorded:
            return
        with trio.CancelScope(shield=True), trio.move_on_after(self._EXIT_WAIT):
            if await self.flush():
                return
        self.log.warning(
            "uploads not recorded as sent; they are sent again after a restart with the same "
            "ids (the server keeps one copy)",
            reports=len(self.unrecorded),
        )
