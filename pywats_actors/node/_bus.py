"""The event bus: every supervision and pipeline event, numbered, fanned out to subscribers.

Publishing never blocks the publisher. Each subscriber has its own bounded buffer; a subscriber
that falls behind loses the *oldest* events it has not read yet and is told how many through
``Subscription.dropped`` (an IPC client sees a gap in the sequence numbers). The bus also keeps
the most recent events so a new subscriber can ask for what happened just before it attached.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import msgspec
import trio

__all__ = ["Envelope", "EventBus", "NodeEvent", "Subscription"]


class NodeEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="event", tag=True):
    """Base class of the node's events; the class name is the ``event`` tag on the wire."""

    topic: ClassVar[str] = "node"


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """An event with its sequence number and wall-clock time (seconds since the epoch)."""

    seq: int
    time: float
    topic: str
    event: Any


class Subscription:
    """What one subscriber reads: envelopes of the topics it asked for, in order."""

    def __init__(self, bus: EventBus, topics: frozenset[str] | None, buffer: int) -> None:
        self._bus = bus
        self.topics = topics
        self._queue: deque[Envelope] = deque(maxlen=buffer)
        self._arrived = trio.Event()
        self.dropped = 0
        self.closed = False

    def wants(self, topic: str) -> bool:
        return self.topics is None or topic in self.topics

    def _push(self, envelope: Envelope) -> None:
        if self._queue.maxlen is not None and len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(envelope)
        self._arrived.set()

    def receive_nowait(self) -> list[Envelope]:
        """Everything waiting, oldest first (may be empty)."""
        items = list(self._queue)
        self._queue.clear()
        self._arrived = trio.Event()
        return items

    async def receive(self) -> list[Envelope]:
        """Wait for at least one envelope and return all that are waiting.

        Raises:
            trio.EndOfChannel: the subscription or the bus was closed.
        """
        while not self._queue:
            if self.closed:
                raise trio.EndOfChannel
            await self._arrived.wait()
        return self.receive_nowait()

    def close(self) -> None:
        """Stop receiving; a pending :meth:`receive` raises ``EndOfChannel``."""
        self.closed = True
        self._arrived.set()
        self._bus._subscriptions.discard(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    """Numbers events and hands them to subscribers and observers.

    Args:
        history: how many recent envelopes to keep for :meth:`recent`.
        wall_clock: the source of envelope times (injectable for tests).
    """

    def __init__(self, history: int = 1000, wall_clock: Callable[[], float] = time.time) -> None:
        self._seq = 0
        self._history: deque[Envelope] = deque(maxlen=history)
        self._subscriptions: set[Subscription] = set()
        self._observers: list[Callable[[Envelope], None]] = []
        self._wall_clock = wall_clock
        self.observer_errors = 0

    @property
    def last_seq(self) -> int:
        """The sequence number of the latest event (0 before the first)."""
        return self._seq

    def publish(self, event: NodeEvent) -> Envelope:
        """Number *event* and deliver it; never blocks."""
        self._seq += 1
        envelope = Envelope(
            seq=self._seq, time=self._wall_clock(), topic=type(event).topic, event=event
        )
        self._history.append(envelope)
        for observer in self._observers:
            try:
                observer(envelope)
            except Exception:  # an observer bug must not break publishing
                self.observer_errors += 1
        for sub in list(self._subscriptions):
            if sub.wants(envelope.topic):
                sub._push(envelope)
        return envelope

    def observe(self, observer: Callable[[Envelope], None]) -> None:
        """Call *observer* synchronously with every envelope (logging, metrics)."""
        self._observers.append(observer)

    def subscribe(self, topics: Iterable[str] | None = None, buffer: int = 1000) -> Subscription:
        """A new subscription to *topics* (all topics when ``None``)."""
        sub = Subscription(self, frozenset(topics) if topics is not None else None, buffer)
        self._subscriptions.add(sub)
        return sub

    def recent(self, after: int = 0, topics: Iterable[str] | None = None) -> list[Envelope]:
        """Kept envelopes with a sequence number above *after*, optionally of some topics."""
        wanted = frozenset(topics) if topics is not None else None
        return [e for e in self._history if e.seq > after and (wanted is None or e.topic in wanted)]

    def close(self) -> None:
        """End every subscription."""
        for sub in list(self._subscriptions):
            sub.close()
