"""The dynamic supervisor: children added and removed at run time."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from supervisors import (
    DynamicSupervisor,
    InvalidSpec,
    MaxChildrenReached,
    Restart,
    Supervisor,
    UnknownChild,
)
from supervisors.testing import PuppetChild


class TestDynamicSupervisor:
    async def test_start_and_terminate_children(self) -> None:
        """start_child runs a child until terminate_child stops and forgets it."""
        sup = DynamicSupervisor(name="pool")
        kids = [PuppetChild(f"w{i}") for i in range(3)]
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            for k in kids:
                await sup.start_child(k.spec())
            assert sup.which_children() == ("w0", "w1", "w2")
            await sup.terminate_child("w1")
            assert not kids[1].running
            assert sup.which_children() == ("w0", "w2")
            with pytest.raises(UnknownChild, match="no child 'w1'"):
                await sup.terminate_child("w1")
            await sup.stop()
        assert not any(k.running for k in kids)

    async def test_max_children_is_enforced(self) -> None:
        """Past max_children, start_child raises MaxChildrenReached and starts nothing."""
        sup = DynamicSupervisor(max_children=2)
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            await sup.start_child(PuppetChild("a").spec())
            await sup.start_child(PuppetChild("b").spec())
            extra = PuppetChild("c")
            with pytest.raises(MaxChildrenReached):
                await sup.start_child(extra.spec())
            assert extra.starts == 0
            await sup.stop()

    async def test_duplicate_id_is_refused(self) -> None:
        """Two children with one id cannot coexist."""
        sup = DynamicSupervisor()
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            await sup.start_child(PuppetChild("a").spec())
            with pytest.raises(InvalidSpec, match="already has"):
                await sup.start_child(PuppetChild("a").spec())
            await sup.stop()

    async def test_crashed_permanent_child_restarts_and_finished_one_is_forgotten(self) -> None:
        """A permanent child restarts after a crash; a transient one that finished is dropped."""
        sup = DynamicSupervisor()
        worker, job = PuppetChild("worker"), PuppetChild("job")
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            await sup.start_child(worker.spec())
            await sup.start_child(job.spec(restart=Restart.TRANSIENT))
            worker.crash()
            job.finish()
            await trio.testing.wait_all_tasks_blocked()
            assert worker.starts == 2
            assert sup.which_children() == ("worker",)
            await sup.stop()

    async def test_children_stop_concurrently(self, autojump_clock: trio.abc.Clock) -> None:
        """At shutdown all dynamic children get their grace at the same time, not one by one."""
        from supervisors import Timeout

        sup = DynamicSupervisor()
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            for i in range(5):
                await sup.start_child(
                    PuppetChild(f"s{i}", ignore_stop=True).spec(shutdown=Timeout(2))
                )
            start = trio.current_time()
            await sup.stop()
            assert trio.current_time() - start == pytest.approx(2)

    async def test_start_child_fails_cleanly(self) -> None:
        """A child that fails to start is not kept, and the error names it."""
        from supervisors import ChildStartError

        sup = DynamicSupervisor(name="pool")
        bad = PuppetChild("bad", fail_start=lambda n: True)
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            with pytest.raises(ChildStartError, match="'bad' of 'pool'"):
                await sup.start_child(bad.spec())
            assert sup.which_children() == ()
            await sup.stop()

    async def test_static_supervisor_start_child_after_stop_is_refused(self) -> None:
        """A supervisor that is not running accepts no children."""
        sup = Supervisor([])
        with pytest.raises(RuntimeError, match="not running"):
            await sup.start_child(PuppetChild("a").spec())


class TestRestartChild:
    async def test_restart_child_keeps_its_place_and_spends_no_intensity(self) -> None:
        """restart_child stops and starts one child in place, outside the intensity count."""
        log: list[tuple[str, str]] = []
        a, b, c = (PuppetChild(x, log) for x in "abc")
        sup = Supervisor([a.spec(), b.spec(), c.spec()], intensity=0)
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            log.clear()
            assert await sup.restart_child("b") == 2
            assert await sup.restart_child("b") == 3
            assert log == [("stop", "b"), ("start", "b"), ("stop", "b"), ("start", "b")]
            assert sup.which_children() == ("a", "b", "c")
            assert sup.statistics().restarts_in_period == 0
            with pytest.raises(UnknownChild):
                await sup.restart_child("zz")
            await sup.stop()


class TestConcurrentStarts:
    async def test_children_started_from_several_tasks_start_at_once(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """start_child does not hold the supervisor while a child gets ready, so slow starts
        from several tasks overlap (a pool of worker processes starts in parallel)."""
        from supervisors import ChildSpec, current_child

        async def slow(*, task_status: trio.TaskStatus[None]) -> None:
            await trio.sleep(1)
            task_status.started()
            await current_child().wait_stop_requested()

        sup = DynamicSupervisor(max_children=3)
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            start = trio.current_time()
            async with trio.open_nursery() as starters:
                for i in range(3):
                    starters.start_soon(sup.start_child, ChildSpec(f"s{i}", slow))
            assert trio.current_time() - start == pytest.approx(1)
            assert sorted(sup.which_children()) == ["s0", "s1", "s2"]
            with pytest.raises(MaxChildrenReached):
                await sup.start_child(ChildSpec("s3", slow))
            await sup.stop()

    async def test_stop_while_a_child_is_starting(self, autojump_clock: trio.abc.Clock) -> None:
        """A stop that arrives while a child is still getting ready cancels that start: the
        caller gets ChildStartError and the supervisor stops cleanly."""
        from supervisors import ChildSpec, ChildStartError, Timeout

        async def never_ready(*, task_status: trio.TaskStatus[None]) -> None:
            await trio.sleep_forever()

        sup = DynamicSupervisor()
        outcome: list[BaseException] = []
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)

            async def starter() -> None:
                try:
                    await sup.start_child(ChildSpec("stuck", never_ready, shutdown=Timeout(1)))
                except ChildStartError as exc:
                    outcome.append(exc)

            nursery.start_soon(starter)
            await trio.testing.wait_all_tasks_blocked()
            await sup.stop()
        assert len(outcome) == 1
        assert "cancelled before it was ready" in str(outcome[0])
