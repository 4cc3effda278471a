"""The watcher's hand-off: files ready to be taken go on oldest first.

A backlog (files waiting when the node starts, or piling up while the conversion is slower than
the station) is handed on in the order the files were made: by modification time, then by
relative path, so that results reach the server in that order as far as the concurrency of the
conversion allows. Files become ready in rounds; they wait here, in one heap, until the pipeline
takes them, so a file that settles in a later round still goes before every newer file that is
waiting, and the stability rounds go on while the pipeline is busy.

A path has at most one entry that counts: a newer version of a file replaces the waiting one
(whose entry is skipped when its turn comes).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

import trio

from ._messages import FileReady

__all__ = ["Handoff"]


class Handoff:
    """Files ready to be taken, oldest first; :meth:`run` sends them on."""

    def __init__(self, on_sent: Callable[[FileReady], object] | None = None) -> None:
        self._heap: list[tuple[int, str, int, FileReady]] = []
        self._latest: dict[str, FileReady] = {}
        self._order = itertools.count()
        self._more = trio.Event()
        self._on_sent = on_sent

    def __len__(self) -> int:
        return len(self._latest)

    def waiting(self, path: str) -> bool:
        """Whether a version of *path* waits to be sent."""
        return path in self._latest

    def put(self, item: FileReady) -> None:
        """Queue *item*; it replaces a waiting older version of the same path."""
        self._latest[item.path] = item
        key = (item.signature.mtime_ns, item.relative, next(self._order), item)
        heapq.heappush(self._heap, key)
        self._more.set()

    def discard(self, path: str) -> None:
        """*path* is gone or no longer to be taken: drop its waiting entry, if any."""
        self._latest.pop(path, None)

    async def run(self, out: trio.MemorySendChannel[FileReady]) -> None:
        """Send the oldest waiting file whenever *out* has room; runs until cancelled."""
        while True:
            while not self._heap:
                self._more = trio.Event()
                await self._more.wait()
            item = self._oldest()
            if item is None:
                continue
            await out.send(item)
            # Sent: unless a newer version was queued while the send waited, it waits no more.
            if self._latest.get(item.path) is item:
                del self._latest[item.path]
            if self._on_sent is not None:
                self._on_sent(item)

    def _oldest(self) -> FileReady | None:
        """The oldest entry that still counts (it stays counted until it is sent)."""
        while self._heap:
            item = heapq.heappop(self._heap)[3]
            if self._latest.get(item.path) is item:
                return item
        return None
