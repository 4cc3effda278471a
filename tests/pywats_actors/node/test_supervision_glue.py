"""Supervisor events reach the log (bound to the child) and the event bus."""

from __future__ import annotations

import trio
import trio.testing
from structlog.testing import capture_logs

from pywats_actors import get_logger
from pywats_actors.node._bus import EventBus
from pywats_actors.node._supervision import bind_child, supervision_observer
from supervisors import open_supervisor
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
        from supervisors import ChildSpec, current_child

        async def worker(*, task_status: trio.TaskStatus[None]) -> None:
            get_logger().info("hello")
            task_status.started()
            await current_child().wait_stop_requested()

        with capture_logs(
            processors=[__import__("structlog").contextvars.merge_contextvars]
        ) as logs:
            async with open_supervisor(
                [ChildSpec("uploader", worker)], name="uplink", task_context=bind_child
            ):
                pass
        hello = next(e for e in logs if e["event"] == "hello")
        assert hello["actor"] == "uplink/uploader"
        assert hello["incarnation"] == 1
