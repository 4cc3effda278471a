"""The event bus: sequence numbers, topics, bounded subscribers, history."""

from __future__ import annotations

from typing import ClassVar

import msgspec
import pytest
import trio
import trio.testing

from pywats_actors.node._bus import Envelope, EventBus, NodeEvent


class FileSeen(NodeEvent, frozen=True, kw_only=True):
    topic: ClassVar[str] = "intake"
    path: str


class ReportSent(NodeEvent, frozen=True, kw_only=True):
    topic: ClassVar[str] = "upload"
    report_id: str


class TestEventBus:
    def test_events_are_numbered_in_order(self) -> None:
        """Every published event gets the next sequence number and its topic."""
        bus = EventBus(wall_clock=lambda: 1000.0)
        a = bus.publish(FileSeen(path="a"))
        b = bus.publish(ReportSent(report_id="r"))
        assert (a.seq, a.topic, b.seq, b.topic) == (1, "intake", 2, "upload")
        assert bus.last_seq == 2
        assert a.time == 1000.0

    async def test_subscribers_get_only_their_topics(self) -> None:
        """A subscription filtered by topic sees only those events, in order."""
        bus = EventBus()
        with bus.subscribe(["upload"]) as sub:
            bus.publish(FileSeen(path="a"))
            bus.publish(ReportSent(report_id="r1"))
            bus.publish(ReportSent(report_id="r2"))
            got = await sub.receive()
        assert [e.event.report_id for e in got] == ["r1", "r2"]

    def test_slow_subscriber_loses_oldest_and_is_told(self) -> None:
        """A full subscriber buffer drops its oldest events and counts them; publishing goes on."""
        bus = EventBus()
        sub = bus.subscribe(buffer=3)
        for i in range(5):
            bus.publish(FileSeen(path=str(i)))
        assert [e.event.path for e in sub.receive_nowait()] == ["2", "3", "4"]
        assert sub.dropped == 2

    async def test_closed_subscription_ends_a_waiting_receive(self) -> None:
        """Closing the bus wakes a waiting subscriber with EndOfChannel."""
        bus = EventBus()
        sub = bus.subscribe()
        async with trio.open_nursery() as nursery:

            async def reader() -> None:
                with pytest.raises(trio.EndOfChannel):
                    await sub.receive()

            nursery.start_soon(reader)
            await trio.testing.wait_all_tasks_blocked()
            bus.close()

    def test_history_and_observers(self) -> None:
        """Recent events can be replayed after a sequence number; observers see all events."""
        seen: list[Envelope] = []
        bus = EventBus(history=2)
        bus.observe(seen.append)
        bus.observe(lambda e: 1 / 0)  # a broken observer is counted, not fatal
        for i in range(3):
            bus.publish(FileSeen(path=str(i)))
        assert [e.seq for e in bus.recent()] == [2, 3]
        assert [e.seq for e in bus.recent(after=2)] == [3]
        assert len(seen) == 3
        assert bus.observer_errors == 3

    def test_envelopes_serialise_with_a_tag(self) -> None:
        """An envelope encodes to msgpack/JSON with the event's class name as its tag."""
        env = EventBus(wall_clock=lambda: 5.0).publish(ReportSent(report_id="r"))
        data = msgspec.json.decode(msgspec.json.encode(env))
        assert data == {
            "seq": 1,
            "time": 5.0,
            "topic": "upload",
            "event": {"event": "ReportSent", "report_id": "r"},
        }
