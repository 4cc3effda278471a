"""The adaptive upload concurrency limit on trio's clock: grows while latency holds, shrinks
when it rises or the server is overloaded, between 1 and the maximum."""

from __future__ import annotations

import pytest
import trio

from pywats_actors.node._limit import AdaptiveLimit


def answer_full(limit: AdaptiveLimit, latency: float, times: int) -> None:
    """*times* answers after *latency*, each sent with the limit in use."""
    for _ in range(times):
        limit.succeeded(latency, limit.slots)


class TestGrowth:
    async def test_grows_to_the_maximum_while_latency_holds(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """With steady latency and the limit in use it climbs to the maximum and stops there."""
        changes: list[int] = []
        limit = AdaptiveLimit(initial=2, maximum=10, on_change=changes.append)
        for _ in range(200):
            answer_full(limit, 0.2, 1)
            await trio.sleep(0.01)
        assert limit.slots == 10
        assert changes == list(range(3, 11))
        assert limit.highest == 10

    async def test_grows_about_one_per_round_of_answers(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """Additive increase: about `limit` answers raise the limit by one."""
        limit = AdaptiveLimit(initial=4, maximum=64)
        answer_full(limit, 0.05, 4)
        assert limit.slots == 4
        answer_full(limit, 0.05, 1)
        assert limit.slots == 5

    async def test_does_not_grow_when_the_limit_is_not_used(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """A trickle (one upload in flight of eight allowed) gives no reason to grow."""
        limit = AdaptiveLimit(initial=8, maximum=16)
        for _ in range(100):
            limit.succeeded(0.05, 1)
        assert limit.slots == 8

    async def test_initial_is_clamped_to_the_range(self, autojump_clock: trio.abc.Clock) -> None:
        """The start is never above the maximum nor below 1."""
        assert AdaptiveLimit(initial=8, maximum=4).slots == 4
        assert AdaptiveLimit(initial=0, maximum=4).slots == 1
        with pytest.raises(ValueError, match="maximum"):
            AdaptiveLimit(initial=1, maximum=0)


class TestShrinking:
    async def test_rising_latency_shrinks_by_a_tenth(self, autojump_clock: trio.abc.Clock) -> None:
        """An answer slower than twice the baseline (plus slack) takes a tenth off the limit."""
        limit = AdaptiveLimit(initial=2, maximum=16)
        limit.succeeded(0.1, 1)  # baseline 0.1 s
        answer_full(limit, 0.1, 60)
        grown = limit.limit
        assert grown > 10
        limit.succeeded(0.3, 10)  # 0.3 > 0.1 * 2 + 0.05
        assert limit.limit == pytest.approx(grown * 0.9)

    async def test_rising_latency_alone_stops_at_the_initial_limit(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """Slow answers take back what growth gave, never below the configured start."""
        limit = AdaptiveLimit(initial=4, maximum=16)
        answer_full(limit, 0.1, 30)
        assert limit.slots > 6
        for _ in range(50):
            limit.succeeded(1.0, limit.slots)
            await trio.sleep(1.1)
        assert limit.limit == 4.0

    async def test_overload_halves_once_per_round_trip(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """429s from one round trip halve the limit once; the next round trip's halve again."""
        limit = AdaptiveLimit(initial=16, maximum=16)
        limit.succeeded(0.2, 1)
        for _ in range(5):
            limit.overloaded(0.2)
        assert limit.slots == 8
        await trio.sleep(0.25)
        limit.overloaded(0.2)
        assert limit.slots == 4

    async def test_never_below_one(self, autojump_clock: trio.abc.Clock) -> None:
        """However bad the news, one upload may still go."""
        limit = AdaptiveLimit(initial=4, maximum=4)
        for _ in range(20):
            limit.overloaded(0.01)
            await trio.sleep(0.02)
        assert limit.slots == 1
        assert limit.limit == 1.0

    async def test_recovers_after_overload(self, autojump_clock: trio.abc.Clock) -> None:
        """After the overload ends, good answers bring the limit back to the maximum."""
        limit = AdaptiveLimit(initial=8, maximum=8)
        limit.overloaded(0.1)
        assert limit.slots == 4
        for _ in range(100):
            answer_full(limit, 0.1, 1)
        assert limit.slots == 8


class TestBaseline:
    async def test_baseline_follows_a_server_that_got_slower(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """After two windows the old, lower latency is forgotten and the limit grows again."""
        limit = AdaptiveLimit(initial=4, maximum=16, window=10)
        answer_full(limit, 0.05, 1)
        limit.overloaded(0.05)  # about 4 -> 2
        shrunk = limit.limit
        answer_full(limit, 0.3, 3)  # slower than 0.05 * 2 + 0.05: no growth
        assert limit.limit == shrunk
        await trio.sleep(11)
        answer_full(limit, 0.3, 1)
        await trio.sleep(11)
        answer_full(limit, 0.3, 1)  # the 0.05 s window is gone now
        assert limit.baseline == pytest.approx(0.3)
        answer_full(limit, 0.3, 50)
        assert limit.limit > shrunk + 3


class TestSlots:
    async def test_acquire_waits_for_a_free_slot(self, autojump_clock: trio.abc.Clock) -> None:
        """With every slot taken, acquire waits until one is released."""
        limit = AdaptiveLimit(initial=2, maximum=2)
        await limit.acquire()
        await limit.acquire()
        got: list[float] = []

        async def third() -> None:
            await limit.acquire()
            got.append(trio.current_time())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(third)
            await trio.sleep(3)
            assert not got
            limit.release()
        assert got == [pytest.approx(3)]
        assert limit.in_flight == 2

    async def test_growth_wakes_a_waiter(self, autojump_clock: trio.abc.Clock) -> None:
        """When the limit grows by a slot, a waiting upload may go at once."""
        limit = AdaptiveLimit(initial=1, maximum=4)
        await limit.acquire()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(limit.acquire)
            await trio.sleep(1)
            assert limit.in_flight == 1
            answer_full(limit, 0.05, 1)  # 1 -> 2
        assert limit.in_flight == 2

    async def test_cancelled_acquire_takes_no_slot(self, autojump_clock: trio.abc.Clock) -> None:
        """A wait cancelled before a slot was free leaves the count as it was."""
        limit = AdaptiveLimit(initial=1, maximum=1)
        await limit.acquire()
        with trio.move_on_after(1):
            await limit.acquire()
        assert limit.in_flight == 1
