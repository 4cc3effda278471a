"""Supervisor-owned channels: restarting a consumer loses nothing and breaks no producer."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from supervisors import (
    ChildSpec,
    ChildStarted,
    ChildStartError,
    ChildState,
    Clone,
    DeadChannel,
    Restart,
    Supervisor,
    SupervisorGaveUp,
    Timeout,
    current_child,
)


class TestChannelOwnership:
    async def test_restarted_consumer_gets_every_waiting_item(self) -> None:
        """Items queued while the consumer is down are received by its next incarnation."""
        send, receive = trio.open_memory_channel[int](100)
        got: list[int] = []
        crash_at = {5}

        async def consumer(
            items: trio.MemoryReceiveChannel[int], *, task_status: trio.TaskStatus[None]
        ) -> None:
            task_status.started()
            async for item in items:
                if item in crash_at:
                    crash_at.discard(item)
                    got.append(item)  # acknowledged before the crash: at-least-once upstream
                    raise RuntimeError(f"cannot digest {item}")
                got.append(item)

        async def producer(
            out: trio.MemorySendChannel[int], *, task_status: trio.TaskStatus[None]
        ) -> None:
            task_status.started()
            for i in range(20):
                await out.send(i)
            await current_child().wait_stop_requested()

        sup = Supervisor(
            [
                ChildSpec("consumer", consumer, (Clone(receive),)),
                ChildSpec("producer", producer, (Clone(send),)),
            ],
            intensity=5,
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            with trio.fail_after(5):
                while len(got) < 20:
                    await trio.testing.wait_all_tasks_blocked()
            stats = sup.statistics()
            await sup.stop()
        assert got == list(range(20))
        assert stats.child("consumer").restarts == 1
        assert stats.child("producer").restarts == 0

    async def test_producer_never_sees_a_broken_channel_while_consumer_is_down(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """With the consumer crashed, the producer's sends still land in the buffer."""
        send, receive = trio.open_memory_channel[int](10)
        from supervisors import Backoff

        async def consumer(
            items: trio.MemoryReceiveChannel[int], *, task_status: trio.TaskStatus[None]
        ) -> None:
            task_status.started()
            await items.receive()
            raise RuntimeError("crash after one item")

        sup = Supervisor(
            [ChildSpec("consumer", consumer, (Clone(receive),), backoff=Backoff(min=10, max=10))]
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            producer_end = send.clone()
            await producer_end.send(1)  # consumed, then the consumer crashes
            await trio.sleep(1)  # consumer is in its 10 s backoff
            for i in range(5):
                producer_end.send_nowait(i)  # no BrokenResourceError
            assert receive.statistics().current_buffer_used == 5
            await sup.stop()

    async def test_two_phase_stop_drains_the_pipeline(self, autojump_clock: trio.abc.Clock) -> None:
        """Stopping closes the producer's channel for good, so the consumer drains and returns."""
        send, receive = trio.open_memory_channel[int](100)
        drained: list[int] = []

        async def consumer(
            items: trio.MemoryReceiveChannel[int], *, task_status: trio.TaskStatus[None]
        ) -> None:
            task_status.started()
            async for item in items:
                await trio.sleep(0.1)  # slow work
                drained.append(item)

        async def producer(
            out: trio.MemorySendChannel[int], *, task_status: trio.TaskStatus[None]
        ) -> None:
            task_status.started()
            for i in range(30):
                out.send_nowait(i)
            await current_child().wait_stop_requested()

        sup = Supervisor(
            [
                ChildSpec("consumer", consumer, (Clone(receive),), shutdown=Timeout(60)),
                ChildSpec("producer", producer, (Clone(send),)),
            ]
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            await sup.stop()
        assert drained == list(range(30))
        assert send.statistics().open_send_channels == 0


class TestSharedEnds:
    async def test_terminating_one_of_several_producers_keeps_the_channel_open(self) -> None:
        """Removing one producer at run time does not close the end other producers share."""
        from supervisors import DynamicSupervisor

        send, receive = trio.open_memory_channel[str](10)

        async def producer(
            out: trio.MemorySendChannel[str], name: str, *, task_status: trio.TaskStatus[None]
        ) -> None:
            task_status.started()
            await out.send(name)
            await current_child().wait_stop_requested()

        sup = DynamicSupervisor()
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            await sup.start_child(ChildSpec("p1", producer, (Clone(send), "p1")))
            await sup.start_child(ChildSpec("p2", producer, (Clone(send), "p2")))
            await sup.terminate_child("p1")
            await sup.start_child(ChildSpec("p3", producer, (Clone(send), "p3")))
            assert sorted([receive.receive_nowait() for _ in range(3)]) == ["p1", "p2", "p3"]
            await sup.stop()
        with pytest.raises(trio.EndOfChannel):
            receive.receive_nowait()

    async def test_restarted_sub_supervisor_gets_a_fresh_clone(self) -> None:
        """A sub-supervisor given Clone(end) by its parent can be restarted with working ends."""
        send, receive = trio.open_memory_channel[int](10)
        starts: list[int] = []

        async def leaf(
            out: trio.MemorySendChannel[int], *, task_status: trio.TaskStatus[None]
        ) -> None:
            task_status.started()
            starts.append(current_child().incarnation)
            await out.send(len(starts))
            if len(starts) == 1:
                raise RuntimeError("first leaf fails; its supervisor gives up")
            await current_child().wait_stop_requested()

        async def branch(
            out: trio.MemorySendChannel[int], *, task_status: trio.TaskStatus[None]
        ) -> None:
            inner = Supervisor([ChildSpec("leaf", leaf, (Clone(out),))], name="branch", intensity=0)
            await inner.run(task_status=task_status)

        top = Supervisor([ChildSpec("branch", branch, (Clone(send),), kind="supervisor")])
        async with trio.open_nursery() as nursery:
            await nursery.start(top.run)
            await trio.testing.wait_all_tasks_blocked()
            assert [receive.receive_nowait(), receive.receive_nowait()] == [1, 2]
            assert top.statistics().child("branch").restarts == 1
            await top.stop()


async def _send_then_wait(
    out: trio.MemorySendChannel[str], name: str, *, task_status: trio.TaskStatus[None]
) -> None:
    task_status.started()
    await out.send(name)
    await current_child().wait_stop_requested()


class TestOwnershipForTheSupervisorsLife:
    async def test_replacing_the_only_producer_keeps_the_channel_working(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """Terminating the last child that holds an end and starting another with the same end
        works: the supervisor keeps the original open until it stops (a watch folder's watcher
        replaced after a config change)."""
        from supervisors import DynamicSupervisor

        send, receive = trio.open_memory_channel[str](10)
        sup = DynamicSupervisor()
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            await sup.start_child(ChildSpec("w", _send_then_wait, (Clone(send), "first")))
            await sup.terminate_child("w")
            await sup.start_child(ChildSpec("w", _send_then_wait, (Clone(send), "second")))
            with trio.fail_after(5):
                assert await receive.receive() == "first"
                assert await receive.receive() == "second"
            assert sup.statistics().child("w").state is ChildState.RUNNING
            await sup.stop()
        with pytest.raises(trio.EndOfChannel):
            receive.receive_nowait()

    async def test_a_sub_supervisor_replacing_its_only_child_keeps_intake_alive(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """The node's intake pattern: a child gets a clone from its parent and hands it to a
        dynamic supervisor as ``Clone(clone)``; replacing the only grandchild keeps items
        flowing to the consumer."""
        from supervisors import DynamicSupervisor

        send, receive = trio.open_memory_channel[str](10)
        inner = DynamicSupervisor(name="intake")
        handed: list[trio.MemorySendChannel[str]] = []

        async def intake(
            out: trio.MemorySendChannel[str], *, task_status: trio.TaskStatus[None]
        ) -> None:
            handed.append(out)
            async with trio.open_nursery() as nursery:
                await nursery.start(inner.run)
                await inner.start_child(ChildSpec("w", _send_then_wait, (Clone(out), "a")))
                task_status.started()
                await inner.wait_stopped()

        top = Supervisor([ChildSpec("intake", intake, (Clone(send),), kind="supervisor")])
        async with trio.open_nursery() as nursery:
            await nursery.start(top.run)
            await inner.terminate_child("w")
            await inner.start_child(ChildSpec("w", _send_then_wait, (Clone(handed[0]), "b")))
            with trio.fail_after(5):
                assert [await receive.receive(), await receive.receive()] == ["a", "b"]
            await top.stop()

    async def test_a_forgotten_childs_end_closes_when_the_supervisor_stops(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """An end held only by a child that exited and was forgotten (temporary) is still
        closed at the stop, so its consumer sees the end of the stream."""
        from supervisors import DynamicSupervisor

        send, receive = trio.open_memory_channel[str](10)

        async def once(
            out: trio.MemorySendChannel[str], *, task_status: trio.TaskStatus[None]
        ) -> None:
            task_status.started()
            await out.send("only")

        sup = DynamicSupervisor()
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            await sup.start_child(ChildSpec("t", once, (Clone(send),), restart=Restart.TEMPORARY))
            await trio.testing.wait_all_tasks_blocked()
            assert sup.which_children() == ()
            await sup.stop()
        assert receive.receive_nowait() == "only"
        with pytest.raises(trio.EndOfChannel):
            receive.receive_nowait()


class TestDeadEnds:
    async def test_a_closed_end_fails_the_start_and_is_not_kept(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """A child given a closed end is refused at start (cause DeadChannel), is not listed,
        and the supervisor still stops at once."""
        from supervisors import DynamicSupervisor

        send, _receive = trio.open_memory_channel[str](10)
        send.close()
        sup = DynamicSupervisor()
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            with pytest.raises(ChildStartError) as caught:
                await sup.start_child(ChildSpec("w", _send_then_wait, (Clone(send), "x")))
            assert isinstance(caught.value.cause, DeadChannel)
            assert caught.value.cause.position == 0
            assert sup.which_children() == ()
            with trio.fail_after(1):
                await sup.stop()

    async def test_a_send_end_nobody_receives_from_fails_the_start(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """A producer whose channel has no receive end left is refused at start: it could
        never deliver anything."""
        from supervisors import DynamicSupervisor

        send, receive = trio.open_memory_channel[str](10)
        receive.close()
        sup = DynamicSupervisor()
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            with pytest.raises(ChildStartError) as caught:
                await sup.start_child(ChildSpec("w", _send_then_wait, (Clone(send), "x")))
            assert isinstance(caught.value.cause, DeadChannel)
            assert "receive" in str(caught.value.cause)
            await sup.stop()

    async def test_a_child_whose_channel_died_escalates_and_is_never_running(
        self, autojump_clock: trio.abc.Clock
    ) -> None:
        """When a producer's channel loses its last receiver, the producer crashes on its
        next send, every restart is refused with DeadChannel, and the supervisor gives up
        instead of showing a child as running that can deliver nothing."""
        send, receive = trio.open_memory_channel[int](0)
        events: list[object] = []

        async def ticker(
            out: trio.MemorySendChannel[int], *, task_status: trio.TaskStatus[None]
        ) -> None:
            task_status.started()
            while True:
                await trio.sleep(1)
                await out.send(1)

        sup = Supervisor(
            [ChildSpec("ticker", ticker, (Clone(send),))],
            intensity=2,
            period=60,
            observers=[events.append],
        )

        async def consumer_leaves_after_one_item() -> None:
            async with trio.open_nursery() as nursery:
                await nursery.start(sup.run)
                with trio.fail_after(5):
                    assert await receive.receive() == 1
                receive.close()  # the consumer is gone for good
                with trio.fail_after(60):
                    await sup.wait_stopped()

        with pytest.raises(ExceptionGroup) as caught:
            await consumer_leaves_after_one_item()
        gave_up = caught.value.exceptions[0]
        assert isinstance(gave_up, SupervisorGaveUp)
        reasons = [reason.exception for _, reason in gave_up.reasons]
        assert isinstance(reasons[0], trio.BrokenResourceError)
        assert len(reasons) == 3
        assert all(isinstance(e, DeadChannel) for e in reasons[1:])
        assert sum(isinstance(e, ChildStarted) for e in events) == 1  # never reported running
        final = sup.statistics().child("ticker")
        assert final.state is ChildState.EXITED
        assert final.last_exit is not None
        assert isinstance(final.last_exit.exception, DeadChannel)
