"""Backoff between restarts: the sequence, jitter, cap and reset after a stable run."""

from __future__ import annotations

import itertools

import pytest
import trio

from supervisors import Backoff, ChildRestarting, InvalidSpec, Supervisor
from supervisors.testing import EventRecorder, PuppetChild


class TestBackoffFormula:
    def test_doubles_up_to_the_cap(self) -> None:
        """min x 2^n capped at max, without jitter: Akka's documented 3, 6, 12, 24, 30, 30."""
        b = Backoff(min=3, max=30, random_factor=0)
        assert [b.delay(n, 0.99) for n in range(6)] == [3, 6, 12, 24, 30, 30]

    def test_jitter_only_adds_up_to_the_factor(self) -> None:
        """Jitter is one-sided: between the base delay and base x (1 + factor)."""
        b = Backoff(min=1, max=60, random_factor=0.5)
        assert b.delay(2, 0.0) == 4
        assert b.delay(2, 0.5) == 5
        assert b.delay(2, 0.999999) == pytest.approx(6, rel=1e-5)

    def test_huge_failure_counts_stay_at_the_cap(self) -> None:
        """A child that failed thousands of times waits max, with no overflow."""
        assert Backoff(min=1, max=10, random_factor=0).delay(10_000, 0.5) == 10

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"min": 0, "max": 1},
            {"min": 2, "max": 1},
            {"min": 1, "max": 2, "random_factor": 1.5},
            {"min": 1, "max": 2, "random_factor": -0.1},
            {"min": 1, "max": 2, "reset_after": 0},
            {"min": float("inf"), "max": float("inf")},
        ],
    )
    def test_invalid_values_are_refused(self, kwargs: dict[str, float]) -> None:
        """Values Akka rejects are rejected when the Backoff is built."""
        with pytest.raises(InvalidSpec):
            Backoff(**kwargs)


class TestBackoffInSupervisor:
    async def test_restart_delays_follow_the_sequence(self, autojump_clock: trio.abc.Clock) -> None:
        """Consecutive quick crashes wait 1, 2, 4, 8 s (jitter from the injected source)."""
        rec = EventRecorder()
        a = PuppetChild("a")
        spec = a.spec(backoff=Backoff(min=1, max=8, random_factor=0.5, reset_after=30))
        sup = Supervisor([spec], intensity=100, period=1, observers=[rec], random=lambda: 0.0)
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            started_at = []
            for _ in range(5):
                await a.wait_running()
                started_at.append(trio.current_time())
                a.crash()
                await a.wait_stopped()
            await a.wait_running()
            started_at.append(trio.current_time())
            await sup.stop()
        delays = [rec_.delay for rec_ in rec.of_type(ChildRestarting)]
        assert delays == [1, 2, 4, 8, 8]
        gaps = [round(b - a_, 6) for a_, b in itertools.pairwise(started_at)]
        assert gaps == [1, 2, 4, 8, 8]

    async def test_jitter_comes_from_the_injected_random(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """The supervisor's random source decides the jitter, so runs are reproducible."""
        rec = EventRecorder()
        a = PuppetChild("a")
        spec = a.spec(backoff=Backoff(min=2, max=100, random_factor=0.5))
        sup = Supervisor([spec], intensity=10, observers=[rec], random=lambda: 0.5)
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            await a.wait_running()
            a.crash()
            await a.wait_stopped()
            await a.wait_running()
            await sup.stop()
        assert [e.delay for e in rec.of_type(ChildRestarting)] == [2.5]

    async def test_a_stable_run_resets_the_sequence(self, autojump_clock: trio.abc.Clock) -> None:
        """After running longer than reset_after, the next delay is min again."""
        rec = EventRecorder()
        a = PuppetChild("a")
        spec = a.spec(backoff=Backoff(min=1, max=60, random_factor=0, reset_after=10))
        sup = Supervisor([spec], intensity=100, period=1, observers=[rec])
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            for _ in range(3):
                await a.wait_running()
                a.crash()
                await a.wait_stopped()
            await a.wait_running()
            await trio.sleep(11)  # a stable run
            a.crash()
            await a.wait_stopped()
            await a.wait_running()
            await sup.stop()
        assert [e.delay for e in rec.of_type(ChildRestarting)] == [1, 2, 4, 1]

    async def test_stop_during_backoff_cancels_the_restart(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """A child waiting out its backoff is not started once the supervisor stops."""
        a = PuppetChild("a")
        sup = Supervisor([a.spec(backoff=Backoff(min=100, max=100))])
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            a.crash()
            await trio.sleep(1)
            await sup.stop()
            await trio.sleep(500)
        assert a.starts == 1
