"""Supervisor events reach the log (bound to the child) and the event bus."""

from __future__ import annotations

import structlog
import trio
import trio.testing
from structlog.testing import capture_logs

from pywats_actors import get_logger
from pywats_actors.node._actor import stop_requested_cancels
from pywats_actors.node._bus import EventBus
from pywats_actors.node._supervision import bind_child, supervision_observer
from supervisors import ChildSpec, Supervisor, current_child, open_supervisor
from supervisors.testing import PuppetChild


class TestSupervisionGlue:
    async def test_crash_is_logged_with_reason_and_published(self) -> None:
        """A crash gives a warning line naming the child and a 'exited' bus event."""
        bus = EventBus()
        a = PuppetChild("spool")
        with capture_logs() as logs:
            async with open_supervisor(
                [a.spec()], name="node", observers=[supervision_observer(bus)]
            ):
                a.crash(OSError("disk on fire"))
                await trio.testing.wait_all_tasks_blocked()
        warning = next(e for e in logs if e["event"] == "child exited")
        assert warning["log_level"] == "warning"
        assert warning["actor"] == "node/spool"
        assert "disk on fire" in warning["reason"]
        assert "OSError" in warning["traceback"]
        whats = [e.event.what for e in bus.recent()]
        assert whats == ["started", "exited", "restarting", "started", "exited", "stopped"]
        assert bus.recent()[1].event.reason_kind == "crashed"

    async def test_child_log_lines_carry_the_actor(self) -> None:
        """Lines a child logs are bound to its path and incarnation."""

        async def worker(*, task_status: trio.TaskStatus[None]) -> None:
            get_logger().info("hello")
            task_status.started()
            await current_child().wait_stop_requested()

        with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
            async with open_supervisor(
                [ChildSpec("uploader", worker)], name="uplink", task_context=bind_child
            ):
                pass
        hello = next(e for e in logs if e["event"] == "hello")
        assert hello["actor"] == "uplink/uploader"
        assert hello["incarnation"] == 1

    async def test_supervisor_lines_name_the_events_incarnation_not_the_callers(self) -> None:
        """A restart asked for from another child's task (a reload in the control child) is
        logged with the restarted child's incarnation, not the caller's."""
        target = PuppetChild("conversion")
        holder: list[Supervisor] = []
        go, done = trio.Event(), trio.Event()

        async def control(*, task_status: trio.TaskStatus[None]) -> None:
            task_status.started()
            await go.wait()
            for _ in range(2):
                await holder[0].restart_child("conversion")
            done.set()
            await current_child().wait_stop_requested()

        with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
            async with open_supervisor(
                [target.spec(), ChildSpec("control", control)],
                name="node",
                observers=[supervision_observer()],
                task_context=bind_child,
            ) as sup:
                holder.append(sup)
                go.set()
                await done.wait()
        started = [
            e["incarnation"]
            for e in logs
            if e["event"] == "child started" and e["actor"] == "node/conversion"
        ]
        assert started == [1, 2, 3]


class TestStopRequestedCancels:
    async def test_block_is_cancelled_by_a_stop_request_and_says_so(self) -> None:
        """A waiting block ends when the supervisor asks the child to stop."""
        outcome: list[bool] = []

        async def waiter(*, task_status: trio.TaskStatus[None]) -> None:
            task_status.started()
            async with stop_requested_cancels() as scope:
                await trio.sleep_forever()
            outcome.append(scope.cancelled_caught)

        async def quick(*, task_status: trio.TaskStatus[None]) -> None:
            task_status.started()
            async with stop_requested_cancels() as scope:
                await trio.lowlevel.checkpoint()
            outcome.append(scope.cancelled_caught)
            await current_child().wait_stop_requested()

        async with open_supervisor([ChildSpec("w", waiter), ChildSpec("q", quick)]):
            await trio.testing.wait_all_tasks_blocked()
        assert sorted(outcome) == [False, True]
