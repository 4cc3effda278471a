"""Orderly shutdown with grace, two-phase stop of a tree, and crash containment."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from supervisors import (
    BRUTAL_KILL,
    INFINITY,
    ChildSpec,
    ExitKind,
    Supervisor,
    Timeout,
    current_child,
    open_supervisor,
)
from supervisors.testing import EventRecorder, PuppetChild


class TestGrace:
    async def test_child_that_drains_stops_with_shutdown_reason(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """A child that returns on the stop request exits 'shutdown', without being cancelled."""
        rec = EventRecorder()
        a = PuppetChild("a", cleanup_time=0.5)
        async with open_supervisor([a.spec(shutdown=Timeout(2))], observers=[rec]):
            pass
        reason = rec.exits("a")[0].reason
        assert reason.kind is ExitKind.SHUTDOWN

    async def test_child_ignoring_stop_is_cancelled_after_its_grace(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """A child that ignores the stop request is cancelled when its grace period ends."""
        rec = EventRecorder()
        log: list[tuple[str, str]] = []
        a = PuppetChild("a", log)
        stubborn = PuppetChild("stubborn", log, ignore_stop=True)
        specs = [a.spec(shutdown=Timeout(1)), stubborn.spec(shutdown=Timeout(3))]
        start = trio.current_time()
        async with open_supervisor(specs, observers=[rec]):
            pass
        assert trio.current_time() - start == pytest.approx(3)
        reason = rec.exits("stubborn")[0].reason
        assert reason.kind is ExitKind.KILLED
        assert "3 s grace" in reason.description
        assert log[-2:] == [("stop", "stubborn"), ("stop", "a")]

    async def test_cleanup_shielded_past_the_grace_still_completes(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """A child whose shielded cleanup outlasts its grace is waited for, then reported killed."""
        rec = EventRecorder()
        slow = PuppetChild("slow", ignore_stop=True, cleanup_time=10)
        start = trio.current_time()
        async with open_supervisor([slow.spec(shutdown=Timeout(1))], observers=[rec]):
            pass
        assert trio.current_time() - start == pytest.approx(11)
        assert not slow.running
        assert rec.exits("slow")[0].reason.kind is ExitKind.KILLED

    async def test_brutal_kill_cancels_at_once(self, autojump_clock: trio.abc.Clock) -> None:
        """brutal_kill never waits for the child."""
        a = PuppetChild("a", ignore_stop=True)
        start = trio.current_time()
        async with open_supervisor([a.spec(shutdown=BRUTAL_KILL)]):
            pass
        assert trio.current_time() == start
        assert not a.running

    async def test_infinity_waits_as_long_as_it_takes(self, autojump_clock: trio.abc.Clock) -> None:
        """With infinity the supervisor waits for the child's own (long) drain."""

        async def drainer(*, task_status: trio.TaskStatus[None]) -> None:
            task_status.started()
            await current_child().wait_stop_requested()
            await trio.sleep(1000)

        start = trio.current_time()
        async with open_supervisor([ChildSpec("d", drainer, shutdown=INFINITY)]):
            pass
        assert trio.current_time() - start == pytest.approx(1000)


class TestTwoPhaseTreeStop:
    async def test_whole_tree_stops_in_reverse_order(self, autojump_clock: trio.abc.Clock) -> None:
        """Stopping the top stops each sub-supervisor's children in reverse order, depth first."""
        log: list[tuple[str, str]] = []
        a, b, c, d = (PuppetChild(i, log) for i in "abcd")
        inner = Supervisor([b.spec(), c.spec()], name="inner")
        top = Supervisor([a.spec(), inner.as_child(), d.spec()], name="top")
        async with trio.open_nursery() as nursery:
            await nursery.start(top.run)
            assert log == [("start", x) for x in "abcd"]
            await top.stop()
        assert log[4:] == [("stop", x) for x in "dcba"]

    async def test_phase_two_cancels_what_phase_one_could_not_stop(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """stop(grace) cancels the whole tree once the grace is over, even INFINITY children."""
        stubborn = PuppetChild("stubborn", ignore_stop=True)
        inner = Supervisor([stubborn.spec(shutdown=INFINITY)], name="inner")
        top = Supervisor([inner.as_child()], name="top")
        async with trio.open_nursery() as nursery:
            await nursery.start(top.run)
            start = trio.current_time()
            await top.stop(grace=5)
            assert trio.current_time() - start == pytest.approx(5)
        assert not stubborn.running

    async def test_idle_tree_stops_without_waiting(self, autojump_clock: trio.abc.Clock) -> None:
        """Children that honour the stop request let the tree stop in no time."""
        kids = [PuppetChild(str(i)) for i in range(10)]
        top = Supervisor([k.spec(shutdown=Timeout(30)) for k in kids])
        async with trio.open_nursery() as nursery:
            await nursery.start(top.run)
            start = trio.current_time()
            await top.stop(grace=60)
            assert trio.current_time() == start


class TestCrashContainment:
    async def test_child_exception_never_reaches_the_parent_nursery(self) -> None:
        """A crash is an exit reason; the task running the supervisor is not disturbed."""
        a = PuppetChild("a")
        async with open_supervisor([a.spec()]) as sup:
            a.crash(ZeroDivisionError("boom"))
            await trio.testing.wait_all_tasks_blocked()
            last = sup.statistics().child("a").last_exit
            assert last is not None
            assert isinstance(last.exception, ZeroDivisionError)

    async def test_exception_group_from_a_child_nursery_is_contained(self) -> None:
        """A child whose own nursery fails with several errors is contained as one crash."""

        async def fan_out(*, task_status: trio.TaskStatus[None]) -> None:
            task_status.started()

            async def fail(msg: str) -> None:
                raise ValueError(msg)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(fail, "one")
                nursery.start_soon(fail, "two")

        rec = EventRecorder()
        sup = Supervisor([ChildSpec("fan", fan_out)], intensity=0, observers=[rec])
        with pytest.RaisesGroup(pytest.RaisesExc(Exception, match="gave up")):
            async with trio.open_nursery() as nursery:
                await nursery.start(sup.run)
        reason = rec.exits("fan")[0].reason
        assert isinstance(reason.exception, ExceptionGroup)
        assert reason.kind is ExitKind.CRASHED

    async def test_base_exceptions_are_never_swallowed(self) -> None:
        """KeyboardInterrupt from a child propagates out of the supervisor."""
        a = PuppetChild("a")
        with pytest.RaisesGroup(KeyboardInterrupt, flatten_subgroups=True):
            async with open_supervisor([a.spec()]):
                a.crash(KeyboardInterrupt())
                await trio.sleep_forever()

    async def test_outer_cancellation_is_not_swallowed(self) -> None:
        """Cancelling the scope around a supervisor cancels it and its children, and propagates."""
        a = PuppetChild("a")
        with trio.move_on_after(0.05) as scope:
            async with open_supervisor([a.spec()]):
                await trio.sleep_forever()
        assert scope.cancelled_caught
        assert not a.running
