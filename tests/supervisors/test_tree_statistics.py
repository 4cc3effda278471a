"""One call shows the whole tree: sub-supervisors, dynamic children and OS processes."""

from __future__ import annotations

import os
import sys

import trio
import trio.testing

from supervisors import (
    Backoff,
    ChildSpec,
    ChildState,
    DynamicSupervisor,
    Supervisor,
    current_child,
    process_spec,
)


async def idle(*, task_status: trio.TaskStatus[None]) -> None:
    task_status.started()
    await current_child().wait_stop_requested()


class TestTreeStatistics:
    async def test_sub_supervisors_and_dynamic_children_appear_with_their_paths(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """A sub-supervisor run as a child, and a dynamic supervisor a child starts in its own
        nursery, both appear under their child with their own children and states."""
        branch = Supervisor([ChildSpec("leaf", idle)], name="branch")
        pool = DynamicSupervisor(name="pool")

        async def pool_owner(*, task_status: trio.TaskStatus[None]) -> None:
            async with trio.open_nursery() as nursery:
                await nursery.start(pool.run)
                await pool.start_child(ChildSpec("w1", idle))
                await pool.start_child(ChildSpec("w2", idle))
                task_status.started()

        top = Supervisor(
            [branch.as_child(), ChildSpec("owner", pool_owner, kind="supervisor")], name="top"
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(top.run)
            tree = top.tree_statistics()
            flat = top.statistics()
            await top.stop()
        assert [path for path, _ in tree.walk()] == [
            "branch",
            "branch/leaf",
            "owner",
            "owner/w1",
            "owner/w2",
        ]
        assert all(child.state is ChildState.RUNNING for _, child in tree.walk())
        assert tree.child("branch").kind == "supervisor"
        assert [s.name for s in tree.child("owner").supervisors] == ["pool"]
        assert tree.find("owner/w2").incarnation == 1
        assert all(child.supervisors == () for child in flat.children)

    async def test_a_crashed_grandchild_shows_its_real_state(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """A grandchild waiting for its backoff shows BACKOFF and its restart count, while the
        parent levels stay RUNNING."""
        crashes = 0

        async def fragile(*, task_status: trio.TaskStatus[None]) -> None:
            nonlocal crashes
            task_status.started()
            if crashes == 0:
                crashes += 1
                raise RuntimeError("boom")
            await current_child().wait_stop_requested()

        branch = Supervisor(
            [ChildSpec("fragile", fragile, backoff=Backoff(min=10, max=10))], name="branch"
        )
        top = Supervisor([branch.as_child()], name="top")
        async with trio.open_nursery() as nursery:
            await nursery.start(top.run)
            await trio.sleep(1)
            during = top.tree_statistics()
            await trio.sleep(20)
            after = top.tree_statistics()
            await top.stop()
        assert during.find("branch").state is ChildState.RUNNING
        assert during.find("branch/fragile").state is ChildState.BACKOFF
        assert during.find("branch/fragile").last_exit is not None
        assert after.find("branch/fragile").state is ChildState.RUNNING
        assert after.find("branch/fragile").restarts == 1

    async def test_a_stopped_sub_supervisor_leaves_the_tree(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """A supervisor a child ran and stopped is no longer listed under that child."""
        inner = DynamicSupervisor(name="inner")

        async def owner(*, task_status: trio.TaskStatus[None]) -> None:
            async with trio.open_nursery() as nursery:
                await nursery.start(inner.run)
                task_status.started()
            await current_child().wait_stop_requested()

        top = Supervisor([ChildSpec("owner", owner)], name="top")
        async with trio.open_nursery() as nursery:
            await nursery.start(top.run)
            assert [s.name for s in top.tree_statistics().child("owner").supervisors] == ["inner"]
            await inner.stop()
            assert top.tree_statistics().child("owner").supervisors == ()
            await top.stop()

    async def test_os_process_children_carry_their_pid(self) -> None:
        """A child that runs an OS process shows the process's pid while it runs, at any depth."""
        code = "import time; time.sleep(60)"
        branch = Supervisor([process_spec("sleeper", [sys.executable, "-c", code])], name="b")
        top = Supervisor([branch.as_child()], name="top")
        async with trio.open_nursery() as nursery:
            await nursery.start(top.run)
            child = top.tree_statistics().find("b/sleeper")
            assert child.pid is not None
            os.kill(child.pid, 0)  # a live process of ours
            with trio.fail_after(20):
                await top.stop()
        stopped = top.tree_statistics().child("b")
        assert stopped.state is ChildState.STOPPED
        assert stopped.supervisors == ()

    async def test_a_child_reports_the_process_it_runs_now(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """A child that runs its processes itself reports each one; the snapshot shows the
        latest, and nothing once it reports none."""
        reported = trio.Event()
        cleared = trio.Event()

        async def slot(*, task_status: trio.TaskStatus[None]) -> None:
            task_status.started()
            ctx = current_child()
            ctx.report_process(4242)
            reported.set()
            await trio.sleep(1)
            ctx.report_process(None)
            cleared.set()
            await ctx.wait_stop_requested()

        top = Supervisor([ChildSpec("slot", slot)], name="top")
        async with trio.open_nursery() as nursery:
            await nursery.start(top.run)
            await reported.wait()
            assert top.tree_statistics().child("slot").pid == 4242
            await cleared.wait()
            assert top.tree_statistics().child("slot").pid is None
            await top.stop()


class TestDegraded:
    async def test_a_child_that_reports_degraded_is_never_shown_running(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """A child that says it cannot do its work shows as DEGRADED with its reason, in the
        flat and the tree snapshot, and as RUNNING again once it reports recovery."""
        degraded = trio.Event()
        recover = trio.Event()

        async def waiting(*, task_status: trio.TaskStatus[None]) -> None:
            task_status.started()
            current_child().report_degraded("its folder is gone")
            degraded.set()
            await recover.wait()
            current_child().report_recovered()
            await current_child().wait_stop_requested()

        top = Supervisor([ChildSpec("watcher", waiting), ChildSpec("other", idle)], name="top")
        async with trio.open_nursery() as nursery:
            await nursery.start(top.run)
            await degraded.wait()
            flat = top.statistics().child("watcher")
            tree = top.tree_statistics().child("watcher")
            other = top.statistics().child("other")
            recover.set()
            await trio.testing.wait_all_tasks_blocked()
            back = top.statistics().child("watcher")
            await top.stop()
        for snapshot in (flat, tree):
            assert snapshot.state is ChildState.DEGRADED
            assert snapshot.degraded == "its folder is gone"
        assert other.state is ChildState.RUNNING
        assert other.degraded is None
        assert back.state is ChildState.RUNNING
        assert back.degraded is None

    async def test_a_new_incarnation_starts_undegraded(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """The degraded mark belongs to one incarnation: a restarted child starts clean."""
        runs = 0

        async def flaky(*, task_status: trio.TaskStatus[None]) -> None:
            nonlocal runs
            runs += 1
            task_status.started()
            if runs == 1:
                current_child().report_degraded("first run")
                raise RuntimeError("crash")
            await current_child().wait_stop_requested()

        top = Supervisor([ChildSpec("c", flaky)], name="top")
        async with trio.open_nursery() as nursery:
            await nursery.start(top.run)
            await trio.sleep(1)
            snapshot = top.statistics().child("c")
            await top.stop()
        assert runs == 2
        assert snapshot.state is ChildState.RUNNING
        assert snapshot.degraded is None
