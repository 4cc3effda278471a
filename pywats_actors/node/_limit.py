"""The adaptive upload concurrency limit (:class:`AdaptiveLimit`), on trio's clock.

How many uploads may be in flight at once is learnt from the server's answers, AIMD-style
(additive increase, multiplicative decrease, as TCP's congestion window):

* **grow** by ``1 / limit`` per answered upload (about +1 per round trip) while the limit is in
  use (the upload started with the limit nearly full) and its latency holds: at most
  ``tolerance`` times the baseline latency plus ``slack``;
* **shrink** to ``latency_backoff`` of the limit when an answer is slower than that (the server
  or the path to it queues), but not below the initial limit: the latency is measured in the
  node, and a node busy converting a burst slows its own measurements down, which must not
  throttle its uploads below what was configured;
* **shrink** to ``error_backoff`` on an overload signal (429, 5xx, a timeout, a lost
  connection), down to 1: the server said so;
* each decrease at most once per round trip, so one burst of bad answers counts once;
* always between 1 and ``maximum``.

The baseline is the lowest latency seen in the current and the previous window (``window``
seconds each): it follows a server that got slower for good after two windows instead of
shrinking the limit forever.

The class is pure bookkeeping plus one wait (:meth:`acquire`); the uploader tells it what each
attempt saw.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import trio

__all__ = ["AdaptiveLimit"]


class AdaptiveLimit:
    """A concurrency limit between 1 and *maximum*, adapted to latency and overload.

    Args:
        initial: the limit at the start (clamped to ``1..maximum``), and the lowest that rising
            latency alone takes it to.
        maximum: the most uploads in flight, ever; ``initial == maximum`` with no room to grow
            is not special: the limit still shrinks on overload and grows back.
        tolerance: an answer slower than ``baseline * tolerance + slack`` means queueing.
        slack: seconds added to that threshold (noise of a fast local server, and of the
            node's own event loop under load).
        latency_backoff: factor applied to the limit when the latency rose.
        error_backoff: factor applied on an overload signal.
        window: seconds per baseline window.
        on_change: called with the new whole-number limit when it changes.
    """

    def __init__(
        self,
        *,
        initial: int,
        maximum: int,
        tolerance: float = 2.0,
        slack: float = 0.05,
        latency_backoff: float = 0.9,
        error_backoff: float = 0.5,
        window: float = 30.0,
        on_change: Callable[[int], None] | None = None,
    ) -> None:
        if maximum < 1:
            raise ValueError("maximum must be at least 1")
        self.maximum = maximum
        self.limit = float(min(max(1, initial), maximum))
        self.floor = self.limit
        self.tolerance = tolerance
        self.slack = slack
        self.latency_backoff = latency_backoff
        self.error_backoff = error_backoff
        self.window = window
        self.on_change = on_change
        self.in_flight = 0
        self.highest = int(self.limit)
        self._mins = [math.inf, math.inf]
        self._window_ends = trio.current_time() + window
        self._calm_until = -math.inf
        self._freed = trio.Event()

    @property
    def slots(self) -> int:
        """Uploads that may be in flight now: the whole part of the limit."""
        return max(1, int(self.limit))

    @property
    def baseline(self) -> float:
        """The lowest latency of the current and the previous window (``inf`` before any)."""
        return min(self._mins)

    async def acquire(self) -> None:
        """Wait for a free slot and take it; give it back with :meth:`release`.

        Cancellation: safe; a cancelled wait takes no slot.
        """
        while self.in_flight >= self.slots:
            await self._freed.wait()
        self.in_flight += 1

    def release(self) -> None:
        """Give a slot back (after the attempt's outcome was reported, or without one)."""
        self.in_flight -= 1
        self._wake()

    def succeeded(self, latency: float, in_flight: int) -> None:
        """An attempt was answered (accepted or refused for good) after *latency* seconds;
        *in_flight* uploads were in flight when it started (itself included)."""
        now = trio.current_time()
        self._observe(latency, now)
        if latency > self.baseline * self.tolerance + self.slack:
            if self.limit > self.floor:
                self._shrink(self.latency_backoff, now, latency, self.floor)
        elif in_flight >= self.slots - 1 and self.limit < self.maximum:
            self._set(min(self.maximum, self.limit + 1 / self.limit))

    def overloaded(self, latency: float | None = None) -> None:
        """The server is overloaded or unreachable (429, 5xx, timeout, lost connection)."""
        self._shrink(self.error_backoff, trio.current_time(), latency, 1.0)

    def _observe(self, latency: float, now: float) -> None:
        if now >= self._window_ends:
            self._mins = [math.inf, self._mins[0]]
            self._window_ends = now + self.window
        self._mins[0] = min(self._mins[0], latency)

    def _shrink(self, factor: float, now: float, latency: float | None, floor: float) -> None:
        if now < self._calm_until:
            return  # the same round trip's bad news counts once
        rtt = latency if latency is not None and math.isfinite(latency) else self.baseline
        self._calm_until = now + (rtt if math.isfinite(rtt) else 0.0)
        self._set(max(floor, self.limit * factor))

    def _set(self, limit: float) -> None:
        before = self.slots
        self.limit = limit
        after = self.slots
        self.highest = max(self.highest, after)
        if after != before:
            if after > before:
                self._wake()
            if self.on_change is not None:
                self.on_change(after)

    def _wake(self) -> None:
        self._freed.set()
        self._freed = trio.Event()
