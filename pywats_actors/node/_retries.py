"""Files that wait for another try: one entry per path, each with its own backoff.

A file the pipeline could not read, convert (no worker) or dispose of stays in its folder, and
the pipeline tries it again after ``RETRY_FIRST * 2**(n-1)`` seconds (at most ``RETRY_CAP``),
with jitter, for that file alone. A newer offer of the same file (another version, seen by the
watcher) replaces the waiting entry; an offer of the same version while one waits is dropped, so
the watcher's periodic re-offer and the retry never run twice. A stop request cancels the
waiting; the files stay where they are for the next start.

The schedule is also written into the node's record (:attr:`FolderHealth.retries`), which
outlives the pipeline: when the conversion branch is restarted (a configuration change, a
crash), the new pipeline resumes every waiting file at the time it was due
(:meth:`RetrySchedule.resume`), instead of leaving it to the watcher's re-offer minutes later.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

from ._actor import StopSignal
from ._folder_status import FolderHealth, Trouble, WaitingRetry
from ._messages import FileReady

__all__ = ["RETRY_CAP", "RETRY_FIRST", "RetrySchedule", "retry_delay"]

RETRY_FIRST = 1.0
"""Seconds before the first retry of a file."""
RETRY_CAP = 300.0
"""The longest wait between two tries of a file."""


def retry_delay(attempt: int, rand: float | None = None) -> float:
    """Seconds to wait after the *attempt*-th failure (from 1): doubling, capped, jittered
    between half and all of it so that files failing together spread out."""
    ceiling: float = min(RETRY_CAP, RETRY_FIRST * 2.0 ** min(max(attempt - 1, 0), 32))
    return ceiling * (0.5 + 0.5 * (random.random() if rand is None else rand))


@dataclass(eq=False)
class _Entry:
    ready: FileReady
    trouble: Trouble
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)


@dataclass
class RetrySchedule:
    """The waiting files of one pipeline run.

    Attributes:
        health: told when a waiting file no longer waits.
        stop: the pipeline's stop request; it ends every wait.
    """

    health: FolderHealth
    stop: StopSignal
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _nursery: trio.Nursery | None = None

    def waiting(self, ready: FileReady) -> bool:
        """Whether this version of the file already waits for a retry (then it is not taken
        now). A waiting entry for another version is dropped: the new version is taken."""
        entry = self._entries.get(ready.path)
        if entry is None:
            return False
        if entry.ready.signature == ready.signature:
            return True
        self.drop(entry.ready)
        return False

    def drop(self, ready: FileReady) -> None:
        """Forget the file's waiting entry, if any (it was dealt with, or it changed)."""
        entry = self._entries.pop(ready.path, None)
        self.health.retries.pop(ready.path, None)
        if entry is not None:
            entry.scope.cancel()
            self.health.settled(entry.ready.folder, entry.ready.path, entry.trouble)

    def schedule(
        self,
        ready: FileReady,
        trouble: Trouble,
        attempt: int,
        again: Callable[[], Awaitable[object]],
    ) -> float | None:
        """Run *again* after the backoff for *attempt*; returns the delay (``None``: the
        pipeline is stopping, nothing is scheduled and the file waits for the next start)."""
        nursery = self._nursery
        if nursery is None or self.stop.requested:
            return None
        delay = retry_delay(attempt)
        due = trio.current_time() + delay
        self._start(nursery, WaitingRetry(ready, trouble, attempt, due), again)
        return delay

    def resume(self, again: Callable[[WaitingRetry], Callable[[], Awaitable[object]]]) -> int:
        """Take over the waiting files an earlier pipeline left in the node's record: each is
        tried at its due time (at once if that has passed) with ``again(record)``. Returns
        how many."""
        nursery = self._nursery
        if nursery is None:
            return 0
        waiting = list(self.health.retries.values())
        for record in waiting:
            if record.ready.path not in self._entries:
                self._start(nursery, record, again(record))
        return len(waiting)

    def _start(
        self, nursery: trio.Nursery, record: WaitingRetry, again: Callable[[], Awaitable[object]]
    ) -> None:
        path = record.ready.path
        old = self._entries.get(path)
        if old is not None:
            old.scope.cancel()
        entry = self._entries[path] = _Entry(record.ready, record.trouble)
        self.health.retries[path] = record
        delay = max(0.0, record.due - trio.current_time())
        nursery.start_soon(self._later, entry, delay, again)

    async def _later(
        self, entry: _Entry, delay: float, again: Callable[[], Awaitable[object]]
    ) -> None:
        with entry.scope, self.stop.waiting():
            await trio.sleep(delay)
        if self._entries.get(entry.ready.path) is not entry:
            return  # dropped or replaced meanwhile
        if self.stop.requested or self._nursery is None:
            return  # stays waiting (in the folder status and the record) for the next start
        del self._entries[entry.ready.path]
        self.health.retries.pop(entry.ready.path, None)
        await again()

    def hurry(self, trouble: Trouble) -> int:
        """Retry now every file waiting because of *trouble* (its cause went away); returns
        how many."""
        waiting = [entry for entry in self._entries.values() if entry.trouble == trouble]
        for entry in waiting:
            entry.scope.cancel()  # ends the wait; the entry stays, so the retry runs
        return len(waiting)

    def attach(self, nursery: trio.Nursery) -> None:
        """Run retries in *nursery* (the pipeline's) until :meth:`close`."""
        self._nursery = nursery

    def close(self) -> None:
        """No new retries; waiting ones are cancelled (their files stay in place, and are
        taken again at the next start). Retries already running finish."""
        self._nursery = None
        for entry in list(self._entries.values()):
            entry.scope.cancel()
