"""Restart intensity, escalation, auto-shutdown and start failures."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from supervisors import (
    AutoShutdown,
    ChildStartError,
    ExitKind,
    InvalidSpec,
    Restart,
    Supervisor,
    SupervisorGaveUp,
    SupervisorGaveUpEvent,
)
from supervisors.testing import EventRecorder, PuppetChild


async def settle() -> None:
    await trio.testing.wait_all_tasks_blocked()


class TestIntensity:
    async def test_more_restarts_than_intensity_escalates(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """The (intensity+1)-th restart within the period stops all children and raises."""
        log: list[tuple[str, str]] = []
        a, b = PuppetChild("a", log), PuppetChild("b", log)
        rec = EventRecorder()
        sup = Supervisor([a.spec(), b.spec()], name="sup", intensity=2, period=5, observers=[rec])
        with pytest.RaisesGroup(SupervisorGaveUp) as group:
            async with trio.open_nursery() as nursery:
                await nursery.start(sup.run)
                for _ in range(3):
                    await b.wait_running()
                    b.crash()
                    await trio.sleep(1)
        gave_up = group.value.exceptions[0]
        assert isinstance(gave_up, SupervisorGaveUp)
        assert gave_up.supervisor == "sup"
        assert [cid for cid, _ in gave_up.reasons] == ["b", "b", "b"]
        assert all(r.kind is ExitKind.CRASHED for _, r in gave_up.reasons)
        assert not a.running
        assert not b.running
        assert log[-2:] == [("stop", "b"), ("stop", "a")]
        assert len(rec.of_type(SupervisorGaveUpEvent)) == 1

    async def test_restarts_spread_over_time_do_not_escalate(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """Restarts further apart than the period never add up to the intensity."""
        a = PuppetChild("a")
        sup = Supervisor([a.spec()], intensity=1, period=5)
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            for _ in range(10):
                await a.wait_running()
                a.crash()
                await trio.sleep(6)
            assert a.starts == 11
            assert sup.statistics().total_restarts == 10
            await sup.stop()

    async def test_intensity_zero_never_restarts(self, autojump_clock: trio.abc.Clock) -> None:
        """With intensity 0 the first restart is already one too many."""
        a = PuppetChild("a")
        sup = Supervisor([a.spec()], intensity=0)
        with pytest.RaisesGroup(SupervisorGaveUp):
            async with trio.open_nursery() as nursery:
                await nursery.start(sup.run)
                a.crash()
        assert a.starts == 1

    async def test_gave_up_child_supervisor_is_restarted_by_its_parent(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """A sub-supervisor that gives up is an abnormal exit its parent restarts."""
        a = PuppetChild("a")
        inner = Supervisor([a.spec()], name="inner", intensity=0)
        rec = EventRecorder()
        outer = Supervisor([inner.as_child()], name="outer", observers=[rec])
        async with trio.open_nursery() as nursery:
            await nursery.start(outer.run)
            a.crash()
            await settle()
            assert a.starts == 2
            inner_exit = rec.exits("inner")[0].reason
            assert inner_exit.kind is ExitKind.CRASHED
            assert isinstance(inner_exit.exception, SupervisorGaveUp)
            await outer.stop()

    async def test_escalation_goes_all_the_way_up(self, autojump_clock: trio.abc.Clock) -> None:
        """When every level gives up, the top raises with the chain of reasons."""
        a = PuppetChild("a")
        inner = Supervisor([a.spec()], name="inner", intensity=0)
        outer = Supervisor([inner.as_child()], name="outer", intensity=0)
        with pytest.RaisesGroup(SupervisorGaveUp) as group:
            async with trio.open_nursery() as nursery:
                await nursery.start(outer.run)
                a.crash()
        gave_up = group.value.exceptions[0]
        assert isinstance(gave_up, SupervisorGaveUp)
        ((child_id, reason),) = gave_up.reasons
        assert child_id == "inner"
        assert isinstance(reason.exception, SupervisorGaveUp)
        assert reason.exception.supervisor == "inner"


class TestAutoShutdown:
    async def test_any_significant_exit_stops_the_supervisor(self) -> None:
        """With any_significant, one significant child ending normally ends the supervisor."""
        log: list[tuple[str, str]] = []
        a, job = PuppetChild("a", log), PuppetChild("job", log)
        sup = Supervisor(
            [a.spec(), job.spec(restart=Restart.TRANSIENT, significant=True)],
            auto_shutdown=AutoShutdown.ANY_SIGNIFICANT,
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            job.finish()
            await sup.wait_stopped()
        assert not a.running
        assert log[-1] == ("stop", "a")

    async def test_all_significant_waits_for_every_one(self) -> None:
        """With all_significant the supervisor runs until the last significant child ends."""
        x, y = PuppetChild("x"), PuppetChild("y")
        sup = Supervisor(
            [
                x.spec(restart=Restart.TEMPORARY, significant=True),
                y.spec(restart=Restart.TEMPORARY, significant=True),
            ],
            auto_shutdown=AutoShutdown.ALL_SIGNIFICANT,
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            x.crash()
            await settle()
            assert y.running
            y.finish()
            await sup.wait_stopped()

    async def test_transient_significant_crash_is_restarted_not_counted(self) -> None:
        """A transient significant child that crashes restarts instead of ending the supervisor."""
        job = PuppetChild("job")
        sup = Supervisor(
            [job.spec(restart=Restart.TRANSIENT, significant=True)],
            auto_shutdown=AutoShutdown.ANY_SIGNIFICANT,
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            job.crash()
            await settle()
            assert job.starts == 2
            job.finish()
            await sup.wait_stopped()

    def test_significant_needs_auto_shutdown_and_non_permanent(self) -> None:
        """Specs that OTP rejects are rejected when built."""
        job = PuppetChild("job")
        with pytest.raises(InvalidSpec, match="transient or temporary"):
            job.spec(significant=True)
        with pytest.raises(InvalidSpec, match="auto_shutdown"):
            Supervisor([job.spec(restart=Restart.TRANSIENT, significant=True)])
        with pytest.raises(InvalidSpec, match="duplicate"):
            Supervisor([job.spec(), job.spec()])


class TestStartFailure:
    async def test_initial_start_failure_stops_started_children(self) -> None:
        """If a child fails to start, the ones before it stop and the supervisor raises."""
        log: list[tuple[str, str]] = []
        a = PuppetChild("a", log)
        b = PuppetChild("b", log, fail_start=lambda n: True)
        sup = Supervisor([a.spec(), b.spec()], name="s")
        with pytest.RaisesGroup(ChildStartError) as group:
            async with trio.open_nursery() as nursery:
                await nursery.start(sup.run)
        error = group.value.exceptions[0]
        assert isinstance(error, ChildStartError)
        assert error.child_id == "b"
        assert isinstance(error.cause, RuntimeError)
        assert log == [("start", "a"), ("stop", "a")]

    async def test_child_returning_without_started_is_a_start_failure(self) -> None:
        """A child that returns before calling started() fails to start, with a clear cause."""
        from supervisors import ChildSpec

        async def forgetful(*, task_status: trio.TaskStatus[None]) -> None:
            return None

        sup = Supervisor([ChildSpec("f", forgetful)])
        with pytest.RaisesGroup(
            pytest.RaisesExc(ChildStartError, match="without calling task_status.started")
        ):
            async with trio.open_nursery() as nursery:
                await nursery.start(sup.run)

    async def test_failed_restart_counts_against_intensity(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """A restart whose start fails is handled like a crash and can escalate."""
        a = PuppetChild("a", fail_start=lambda n: n > 1)
        sup = Supervisor([a.spec()], intensity=3, period=5)
        with pytest.RaisesGroup(SupervisorGaveUp) as group:
            async with trio.open_nursery() as nursery:
                await nursery.start(sup.run)
                a.crash()
        assert a.starts == 4
        gave_up = group.value.exceptions[0]
        assert isinstance(gave_up, SupervisorGaveUp)
        assert len(gave_up.reasons) == 4
