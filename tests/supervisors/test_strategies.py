"""Strategies and restart types against OTP semantics."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from supervisors import (
    ChildState,
    ExitKind,
    NormalShutdown,
    Restart,
    Strategy,
    Supervisor,
    open_supervisor,
)
from supervisors.testing import EventRecorder, PuppetChild


def puppets(log: list[tuple[str, str]], *ids: str) -> list[PuppetChild]:
    return [PuppetChild(i, log) for i in ids]


async def settle() -> None:
    await trio.testing.wait_all_tasks_blocked()


class TestStartOrder:
    async def test_children_start_in_order_and_stop_in_reverse(self) -> None:
        """Children start in order, each once the previous is ready, and stop in reverse."""
        log: list[tuple[str, str]] = []
        a, b, c = puppets(log, "a", "b", "c")
        async with open_supervisor([a.spec(), b.spec(), c.spec()]):
            assert log == [("start", "a"), ("start", "b"), ("start", "c")]
        assert log[3:] == [("stop", "c"), ("stop", "b"), ("stop", "a")]

    async def test_start_value_is_kept(self) -> None:
        """The value a child passes to started() is what start_child returns."""
        a = PuppetChild("a")
        async with open_supervisor([]) as sup:
            assert await sup.start_child(a.spec()) == 1


class TestOneForOne:
    async def test_only_the_crashed_child_restarts(self) -> None:
        """Under one_for_one a crash restarts that child alone."""
        log: list[tuple[str, str]] = []
        a, b, c = puppets(log, "a", "b", "c")
        async with open_supervisor([a.spec(), b.spec(), c.spec()]) as sup:
            b.crash()
            await settle()
            assert (a.starts, b.starts, c.starts) == (1, 2, 1)
            stats = sup.statistics()
            assert stats.child("b").restarts == 1
            assert stats.child("b").incarnation == 2
            assert stats.child("b").state is ChildState.RUNNING
            last = stats.child("b").last_exit
            assert last is not None
            assert last.kind is ExitKind.CRASHED
            assert "b crashed" in last.description
            assert last.traceback is not None
            assert "RuntimeError" in last.traceback


class TestOneForAll:
    async def test_all_children_restart_in_order_after_reverse_stop(self) -> None:
        """Under one_for_all the others stop in reverse order, then all start again in order."""
        log: list[tuple[str, str]] = []
        a, b, c = puppets(log, "a", "b", "c")
        specs = [a.spec(), b.spec(), c.spec()]
        async with open_supervisor(specs, strategy=Strategy.ONE_FOR_ALL):
            log.clear()
            b.crash()
            await settle()
            assert log == [
                ("stop", "b"),
                ("stop", "c"),
                ("stop", "a"),
                ("start", "a"),
                ("start", "b"),
                ("start", "c"),
            ]

    async def test_temporary_sibling_is_not_restarted(self) -> None:
        """A temporary child terminated because a sibling died is not started again (OTP)."""
        log: list[tuple[str, str]] = []
        a, b, c = puppets(log, "a", "b", "c")
        specs = [a.spec(), b.spec(restart=Restart.TEMPORARY), c.spec()]
        async with open_supervisor(specs, strategy=Strategy.ONE_FOR_ALL) as sup:
            a.crash()
            await settle()
            assert (a.starts, b.starts, c.starts) == (2, 1, 2)
            assert sup.which_children() == ("a", "c")


class TestRestForOne:
    async def test_the_child_and_later_ones_restart(self) -> None:
        """Under rest_for_one the failed child and those started after it restart."""
        log: list[tuple[str, str]] = []
        a, b, c, d = puppets(log, "a", "b", "c", "d")
        specs = [a.spec(), b.spec(), c.spec(), d.spec()]
        async with open_supervisor(specs, strategy=Strategy.REST_FOR_ONE):
            log.clear()
            b.crash()
            await settle()
            assert (a.starts, b.starts, c.starts, d.starts) == (1, 2, 2, 2)
            assert log == [
                ("stop", "b"),
                ("stop", "d"),
                ("stop", "c"),
                ("start", "b"),
                ("start", "c"),
                ("start", "d"),
            ]


class TestRestartTypes:
    @pytest.mark.parametrize(
        ("restart", "crash", "restarted"),
        [
            (Restart.PERMANENT, False, True),
            (Restart.PERMANENT, True, True),
            (Restart.TRANSIENT, False, False),
            (Restart.TRANSIENT, True, True),
            (Restart.TEMPORARY, False, False),
            (Restart.TEMPORARY, True, False),
        ],
    )
    async def test_restart_type_decides(
        self, restart: Restart, crash: bool, restarted: bool
    ) -> None:
        """Permanent always restarts, transient only after a crash, temporary never."""
        a = PuppetChild("a")
        async with open_supervisor([a.spec(restart=restart)]):
            if crash:
                a.crash()
            else:
                a.finish()
            await settle()
            assert a.starts == (2 if restarted else 1)

    async def test_normal_shutdown_exception_is_not_abnormal(self) -> None:
        """A transient child raising NormalShutdown stays down, with a shutdown exit reason."""
        a = PuppetChild("a")
        async with open_supervisor([a.spec(restart=Restart.TRANSIENT)]) as sup:
            a.crash(NormalShutdown("folder removed"))
            await settle()
            assert a.starts == 1
            last = sup.statistics().child("a").last_exit
            assert last is not None
            assert last.kind is ExitKind.SHUTDOWN
            assert "folder removed" in last.description

    async def test_temporary_child_is_forgotten_after_exit(self) -> None:
        """A temporary child that exits is removed from the supervisor, as in OTP."""
        a, b = PuppetChild("a"), PuppetChild("b")
        async with open_supervisor([a.spec(), b.spec(restart=Restart.TEMPORARY)]) as sup:
            b.crash()
            await settle()
            assert sup.which_children() == ("a",)


class TestEvents:
    async def test_every_start_exit_and_restart_is_an_event(self) -> None:
        """Observers see start, exit with reason, restart decision, and the final stop."""
        from supervisors import ChildExited, ChildRestarting, ChildStarted, SupervisorStopped

        rec = EventRecorder()
        a = PuppetChild("a")
        async with open_supervisor([a.spec()], name="top", observers=[rec]):
            a.crash()
            await settle()
        kinds = [type(e).__name__ for e in rec.events]
        assert kinds == [
            "ChildStarted",
            "ChildExited",
            "ChildRestarting",
            "ChildStarted",
            "ChildExited",
            "SupervisorStopped",
        ]
        exited = rec.of_type(ChildExited)
        assert exited[0].reason.kind is ExitKind.CRASHED
        assert exited[1].reason.kind is ExitKind.SHUTDOWN
        assert rec.of_type(ChildRestarting)[0].restarts == 1
        assert [e.incarnation for e in rec.of_type(ChildStarted)] == [1, 2]
        assert rec.of_type(SupervisorStopped)[0].why == "requested"
        assert all(e.supervisor == "top" for e in rec.events)

    async def test_a_failing_observer_does_not_stop_supervision(self) -> None:
        """An observer that raises is counted, and supervision carries on."""

        def broken(event: object) -> None:
            raise ValueError("observer bug")

        a = PuppetChild("a")
        async with open_supervisor([a.spec()], observers=[broken]) as sup:
            a.crash()
            await settle()
            assert a.starts == 2
            assert sup.statistics().observer_errors >= 3
            assert isinstance(sup.last_observer_error, ValueError)


class TestRunTwice:
    async def test_a_supervisor_cannot_run_twice_at_once(self) -> None:
        """Running the same supervisor concurrently is refused."""
        sup = Supervisor([PuppetChild("a").spec()])
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            with pytest.raises(RuntimeError, match="already running"):
                await sup.run()
            await sup.stop()
