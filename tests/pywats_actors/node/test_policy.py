"""Upload policy pieces on trio's clock: backoff, circuit breaker, rate limit."""

from __future__ import annotations

import pytest
import trio

from pywats_actors.node._policy import (
    BreakerState,
    CircuitBreaker,
    RateLimiter,
    RetryBackoff,
)


class TestRetryBackoff:
    def test_full_jitter_ceiling_doubles_to_the_cap(self) -> None:
        """With the top of the jitter range the delays are 1, 2, 4 ... capped at 300 s."""
        b = RetryBackoff(base=1, multiplier=2, cap=300)
        assert [b.delay(n, rand=1.0) for n in range(1, 11)] == [
            1,
            2,
            4,
            8,
            16,
            32,
            64,
            128,
            256,
            300,
        ]

    def test_jitter_spans_zero_to_the_ceiling(self) -> None:
        """Full jitter draws anywhere from zero to the ceiling."""
        b = RetryBackoff()
        assert b.delay(4, rand=0.0) == 0
        assert b.delay(4, rand=0.5) == 4

    def test_retry_after_is_a_floor_clamped_to_ten_minutes(self) -> None:
        """Never sooner than Retry-After, never later than 10 min because of it."""
        b = RetryBackoff()
        assert b.delay(1, retry_after=42, rand=0.5) == 42
        assert b.delay(1, retry_after=10_000, rand=0.5) == 600
        assert b.delay(9, retry_after=3, rand=1.0) == 256
        assert b.delay(1, retry_after=float("nan"), rand=0.5) == 0.5

    def test_huge_failure_counts_do_not_overflow(self) -> None:
        """A report that failed a million times waits the cap."""
        assert RetryBackoff().delay(1_000_000, rand=1.0) == 300


class TestCircuitBreaker:
    async def test_opens_after_consecutive_failures(self, autojump_clock: trio.abc.Clock) -> None:
        """Five failures in a row open it; a success in between resets the count."""
        changes: list[BreakerState] = []
        b = CircuitBreaker(threshold=5, open_for=30, random=lambda: 1.0, on_change=changes.append)
        for _ in range(4):
            assert b.try_acquire()
            b.record_failure()
        b.record_success()
        for _ in range(4):
            b.record_failure()
        assert b.state is BreakerState.CLOSED
        b.record_failure()
        assert b.state is BreakerState.OPEN
        assert not b.try_acquire()
        assert changes == [BreakerState.OPEN]

    async def test_half_open_lets_exactly_one_probe(self, autojump_clock: trio.abc.Clock) -> None:
        """After the open period one probe goes; others wait; success closes."""
        b = CircuitBreaker(threshold=1, open_for=30, random=lambda: 1.0)
        b.record_failure()
        start = trio.current_time()
        await b.acquire()
        assert trio.current_time() - start == pytest.approx(30)
        assert b.state is BreakerState.HALF_OPEN
        assert not b.try_acquire()
        b.record_success()
        assert b.state is BreakerState.CLOSED
        assert b.try_acquire()

    async def test_failed_probe_reopens_for_longer(self, autojump_clock: trio.abc.Clock) -> None:
        """Each failed probe doubles the open period, up to the cap."""
        b = CircuitBreaker(threshold=1, open_for=30, max_open=100, random=lambda: 1.0)
        b.record_failure()
        periods = []
        for _ in range(4):
            start = trio.current_time()
            await b.acquire()
            periods.append(round(trio.current_time() - start))
            b.record_failure()
        assert periods == [30, 60, 100, 100]

    async def test_cancelled_probe_gives_its_slot_back(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """A probe cancelled before an outcome lets the next caller probe."""
        b = CircuitBreaker(threshold=1, open_for=1, random=lambda: 1.0)
        b.record_failure()
        await b.acquire()
        b.release()
        assert b.try_acquire()

    async def test_probe_now_ends_the_open_period_at_once(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """probe_now (the monitor saw the server back) lets the half-open probe go at once."""
        changes: list[BreakerState] = []
        b = CircuitBreaker(threshold=1, open_for=60, random=lambda: 1.0, on_change=changes.append)
        b.record_failure()
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(b.acquire)
            await trio.sleep(5)
            b.probe_now()
        assert trio.current_time() - start == pytest.approx(5)
        assert changes == [BreakerState.OPEN, BreakerState.HALF_OPEN]
        assert not b.try_acquire()  # still exactly one probe

    async def test_probe_now_leaves_a_closed_breaker_alone(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """probe_now on a closed breaker changes nothing."""
        b = CircuitBreaker(threshold=1, open_for=60)
        b.probe_now()
        assert b.state is BreakerState.CLOSED
        assert b.try_acquire()
        assert b.try_acquire()


class TestRateLimiter:
    async def test_spaces_requests(self, autojump_clock: trio.abc.Clock) -> None:
        """At 2 requests/s, 5 requests take 2 s after the first."""
        limiter = RateLimiter(rate=2)
        start = trio.current_time()
        for _ in range(5):
            await limiter.acquire()
        assert trio.current_time() - start == pytest.approx(2)
