"""Supervisor-owned channels: restarting a consumer loses nothing and breaks no producer."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from supervisors import ChildSpec, Clone, Supervisor, Timeout, current_child


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
