"""Accepted uploads, marked sent in the spool in batches (:class:`SentMarks`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import trio
from structlog.typing import FilteringBoundLogger

from ..spool import SpoolError

__all__ = ["SentMarks", "SentQueue"]


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
    """

    _EXIT_WAIT = 5.0

    def __init__(self, queue: SentQueue, log: FilteringBoundLogger) -> None:
        self.queue = queue
        self.log = log
        self.waiting: list[tuple[str, str | None]] = []
        self.arrived = trio.Event()
        self.writing = trio.Lock()

    def add(self, report_id: str, answer: str | None) -> None:
        self.waiting.append((report_id, answer))
        self.arrived.set()

    async def run(self) -> None:
        while True:
            await self.arrived.wait()
            self.arrived = trio.Event()
            await self.flush()

    async def flush(self) -> None:
        """Write every mark waiting now (and wait for a write already under way)."""
        async with self.writing:
            marks, self.waiting = self.waiting, []
            if not marks:
                return
            try:
                refused = await self.queue.mark_sent_many(marks)
            except SpoolError as exc:
                self.log.warning(
                    "could not record uploads as sent; they will be sent again (the server "
                    "keeps one copy)",
                    reports=len(marks),
                    error=str(exc),
                )
                return
        for report_id, error in refused:
            self.log.warning(
                "report changed by an operator during upload", report_id=report_id, error=str(error)
            )

    async def flush_on_the_way_out(self) -> None:
        """Last chance when the uploader ends, even cancelled: a few seconds, shielded."""
        if self.waiting:
            with trio.CancelScope(shield=True), trio.move_on_after(self._EXIT_WAIT):
                await self.flush()
