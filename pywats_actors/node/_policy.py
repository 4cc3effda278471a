"""The upload policy's building blocks, all on trio's clock.

* :class:`RetryBackoff` — full-jitter exponential backoff (AWS), honouring ``Retry-After``;
* :class:`CircuitBreaker` — opens after consecutive retryable failures, stays open
  ``open_for * 2**k`` with full jitter up to a cap, lets exactly one probe through when
  half-open, and at once when the server monitor sees the server come back (:meth:`probe_now`);
* :class:`RateLimiter` — an optional cap on requests per second (off by default: reacting to
  429 is the primary mechanism).

The numbers are those of ``shared/spec/reliability.md`` §4 and ``docs/reliability.md``.
"""

from __future__ import annotations

import enum
import math
import random as _random
from collections.abc import Callable
from dataclasses import dataclass

import trio

__all__ = ["BreakerState", "CircuitBreaker", "RateLimiter", "RetryBackoff"]

_RETRY_AFTER_CAP = 600.0


@dataclass(frozen=True, slots=True)
class RetryBackoff:
    """``uniform(0, min(cap, base * multiplier**n))`` before the retry after the n-th failure.

    ``Retry-After`` from the server is a floor (clamped to 10 minutes): we never retry sooner.
    """

    base: float = 1.0
    multiplier: float = 2.0
    cap: float = 300.0

    def delay(
        self, failures: int, *, retry_after: float | None = None, rand: float | None = None
    ) -> float:
        """Seconds to wait after *failures* failures so far (1 for the first failure)."""
        exponent = max(failures - 1, 0)
        ceiling = (
            self.cap if exponent > 64 else min(self.cap, self.base * self.multiplier**exponent)
        )
        jittered = ceiling * (_random.random() if rand is None else rand)
        if retry_after is not None and math.isfinite(retry_after) and retry_after > 0:
            return max(jittered, min(retry_after, _RETRY_AFTER_CAP))
        return jittered


class BreakerState(enum.Enum):
    """The circuit breaker's state."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """A consecutive-failure circuit breaker with a single half-open probe.

    Args:
        threshold: consecutive failures that open it.
        open_for: the first open period in seconds; each re-open after a failed probe doubles
            it (with full jitter), up to *max_open*.
        max_open: the cap of the open period.
        random: jitter source in ``[0, 1)``.
        on_change: called with the new state on every transition.
    """

    def __init__(
        self,
        *,
        threshold: int = 5,
        open_for: float = 30.0,
        max_open: float = 300.0,
        random: Callable[[], float] = _random.random,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        self.threshold = threshold
        self.open_for = open_for
        self.max_open = max_open
        self._random = random
        self._on_change = on_change
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self.reopenings = 0
        self.opened_until = 0.0
        self._probe_in_flight = False
        self._changed = trio.Event()

    def _set(self, state: BreakerState) -> None:
        if state is not self.state:
            self.state = state
            self._changed.set()
            self._changed = trio.Event()
            if self._on_change is not None:
                self._on_change(state)

    def try_acquire(self) -> bool:
        """Whether a request may go now; in half-open state only one probe at a time may."""
        if self.state is BreakerState.OPEN:
            if trio.current_time() < self.opened_until:
                return False
            self._set(BreakerState.HALF_OPEN)
        if self.state is BreakerState.HALF_OPEN:
            if self._probe_in_flight:
                return False
            self._probe_in_flight = True
        return True

    async def acquire(self) -> None:
        """Wait until a request may go.

        Cancellation: safe; nothing is held until this returns.
        """
        while not self.try_acquire():
            if self.state is BreakerState.OPEN:
                with trio.move_on_at(self.opened_until):
                    await self._changed.wait()
            else:
                await self._changed.wait()

    def release(self) -> None:
        """Give back a permission without an outcome (the request was cancelled)."""
        if self._probe_in_flight:
            self._probe_in_flight = False
            self._changed.set()
            self._changed = trio.Event()

    def probe_now(self) -> None:
        """End an open period at once: the next :meth:`acquire` is the half-open probe.

        The server monitor is the authority on whether the server is up; when it sees the
        server come back, waiting out the rest of the open period only delays the uploads.
        Does nothing unless the breaker is open.
        """
        if self.state is BreakerState.OPEN:
            self.opened_until = trio.current_time()
            self._set(BreakerState.HALF_OPEN)

    def record_success(self) -> None:
        """The server answered; close the breaker."""
        self._probe_in_flight = False
        self.consecutive_failures = 0
        self.reopenings = 0
        self._set(BreakerState.CLOSED)

    def record_failure(self) -> None:
        """A retryable failure (connect error, timeout, 5xx without Retry-After)."""
        self.consecutive_failures += 1
        if self.state is BreakerState.HALF_OPEN:
            self._probe_in_flight = False
            self.reopenings += 1
            self._open()
        elif self.state is BreakerState.CLOSED and self.consecutive_failures >= self.threshold:
            self._open()

    def _open(self) -> None:
        exponent = min(self.reopenings, 32)
        period = min(self.max_open, self.open_for * 2**exponent)
        # Full jitter, but never shorter than the first period's half (no hammering).
        period = max(self.open_for / 2, period * self._random())
        self.opened_until = trio.current_time() + period
        self._set(BreakerState.OPEN)


class RateLimiter:
    """A token bucket of *rate* requests per second with a burst of *burst*."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        if not rate > 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._stamp: float | None = None
        self._lock = trio.Lock()

    async def acquire(self) -> None:
        """Wait for the next free slot.

        Cancellation: safe; a cancelled wait takes no slot.
        """
        async with self._lock:
            now = trio.current_time()
            if self._stamp is not None:
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens < 1:
                wait = (1 - self._tokens) / self.rate
                await trio.sleep(wait)
                self._tokens = 1.0
                self._stamp = trio.current_time()
            self._tokens -= 1
