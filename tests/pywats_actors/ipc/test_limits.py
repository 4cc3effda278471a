"""Limits of the IPC server: a misbehaving client only ever hurts itself."""

from __future__ import annotations

import contextlib
from pathlib import Path

import msgspec
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pywats_actors.ipc import ErrorCode, Framer, FrameTooLarge

from ._node import running_node
from ._raw import Clients


async def still_serves(clients: Clients, token: str) -> None:
    """A new client passes the handshake and gets its status."""
    raw = await clients.open()
    assert (await raw.hello(token))[2] is None
    assert (await raw.call(1, "status"))[2] is None


class TestLimits:
    async def test_each_misbehaving_client_is_closed_and_the_others_are_served(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A half message that stalls, a 100 MB message, garbage bytes, a flood and a fifth
        connection (the limit is 4) each get their error code and are closed, while a client
        connected all along keeps getting answers."""
        async with (
            running_node(tmp_path, monkeypatch) as (_node, entry, token),
            Clients(entry.address) as clients,
        ):
            good = await clients.open()
            assert (await good.hello(token))[2] is None

            half = await clients.open()
            whole = msgspec.msgpack.encode([0, 1, "status", []])
            await half.stream.send_all(whole[:5])  # then stalls (read_timeout 0.5 s)
            with trio.fail_after(3):
                assert (await half.receive())[2][0] == ErrorCode.TIMEOUT
            assert await half.closed()
            assert (await good.call(2, "status"))[2] is None

            big = await clients.open()
            # bin32 header of 100 MB and its first bytes: refused from the header
            await big.stream.send_all(b"\xc6" + (100 << 20).to_bytes(4, "big") + bytes(4096))
            assert (await big.receive())[2][0] == ErrorCode.TOO_LARGE

            async def send_the_rest() -> None:
                for _ in range(100):  # the rest of the 100 MB finds the connection closed
                    await big.stream.send_all(bytes(1 << 20))

            with trio.fail_after(5), pytest.raises(trio.BrokenResourceError):
                await send_the_rest()

            garbage = await clients.open()
            await garbage.stream.send_all(b"\xc1\xc1\xc1 not msgpack")
            assert (await garbage.receive())[2][0] == ErrorCode.PARSE_ERROR
            assert await garbage.closed()

            flood = await clients.open()
            assert (await flood.hello(token))[2] is None
            request = msgspec.msgpack.encode([0, 5, "status", []])
            with trio.move_on_after(5):
                try:
                    for _ in range(400):  # burst 20, 50/s: most are refused, then closed
                        await flood.stream.send_all(request)
                except trio.BrokenResourceError:
                    pass
            codes = []
            try:
                while True:
                    codes.append((await flood.receive())[2])
            except (EOFError, trio.BrokenResourceError):
                pass
            refused = [c for c in codes if c is not None]
            assert refused
            assert {c[0] for c in refused} == {ErrorCode.RATE_LIMITED}
            assert refused[-1][1] == "closed: flooding"
            assert (await good.call(3, "status"))[2] is None

            extra = [await clients.open() for _ in range(3)]  # with good: 4 connections
            for raw in extra:
                assert (await raw.hello(token))[2] is None
            fifth = await clients.open()
            assert (await fifth.receive())[2][0] == ErrorCode.TOO_MANY_CONNECTIONS
            assert await fifth.closed()
            await extra[0].stream.aclose()
            clients.opened.remove(extra[0])
            with trio.fail_after(5):
                while True:  # the freed place is taken by the next client
                    again = await clients.open()
                    answer = await again.hello(token)
                    if answer[2] is None:
                        break
                    await trio.sleep(0.05)
            assert (await good.call(4, "stats"))[3]["ipc"]["refused_connections"] >= 1

    async def test_a_client_that_never_reads_its_answers_is_closed(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A client that sends requests without ever reading the answers is closed once an
        answer waits longer than request_timeout to be taken; the node's memory does not
        hold its answers, and another client is served meanwhile."""
        ipc = "rate_per_second = 100000\nburst = 100000\nrequest_timeout = 0.5\n"
        async with (
            running_node(tmp_path, monkeypatch, ipc=ipc) as (_node, entry, token),
            Clients(entry.address) as clients,
        ):
            good = await clients.open()
            assert (await good.hello(token))[2] is None
            deaf = await clients.open()
            assert (await deaf.hello(token))[2] is None
            request = msgspec.msgpack.encode([0, 1, "converters.list", []])

            async def send_until_closed() -> None:
                while True:
                    await deaf.stream.send_all(request * 16)

            with trio.fail_after(20), pytest.raises(trio.BrokenResourceError):
                await send_until_closed()
            stats = await good.call(2, "stats")
            assert stats[2] is None
            assert stats[3]["ipc"]["closed_for_limits"] == 1
            assert stats[3]["ipc"]["open_connections"] == 1

    async def test_fuzzed_messages_never_stop_the_server(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Random msgpack values and random bytes, sent after a good handshake, get answers
        or a closed connection, never a crash: the IPC branch keeps running and serves."""
        values = st.recursive(
            st.none()
            | st.booleans()
            | st.integers(-(2**63), 2**64 - 1)
            | st.text(max_size=8)
            | st.binary(max_size=8),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=4), inner, max_size=3)
            ),
            max_leaves=8,
        )
        shaped = st.tuples(st.sampled_from([0, 1, 2, 3]), values, values, values).map(list)
        payloads = st.one_of(
            values.map(msgspec.msgpack.encode),
            shaped.map(msgspec.msgpack.encode),
            st.binary(max_size=40),
        )
        async with running_node(tmp_path, monkeypatch) as (node, entry, token):
            sent: list[bytes] = []

            @settings(
                max_examples=60,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            @given(payloads)
            def collect(data: bytes) -> None:
                sent.append(data)

            collect()
            async with Clients(entry.address) as clients:
                for data in sent:
                    raw = await clients.open()
                    assert (await raw.hello(token))[2] is None
                    await raw.stream.send_all(data)
                    # an answer, a close, or silence (a partial message)
                    with contextlib.suppress(EOFError, trio.BrokenResourceError, trio.TooSlowError):
                        await raw.receive(within=0.3)
                    await raw.stream.aclose()
                    clients.opened.remove(raw)
                await still_serves(clients, token)
            assert node.statistics().find("ipc").state.value == "running"


class TestFramer:
    def test_messages_split_anywhere_come_out_whole_and_in_order(self) -> None:
        """Fifty messages fed in 7-byte chunks come out as the same fifty messages."""
        messages = [msgspec.msgpack.encode([0, n, "m", [{"k": "v" * n}]]) for n in range(50)]
        stream = b"".join(messages)
        framer = Framer(1 << 20)
        out: list[bytes] = []
        for start in range(0, len(stream), 7):
            out += framer.feed(stream[start : start + 7])
        assert out == messages
        assert not framer.pending

    def test_a_declared_size_over_the_limit_is_refused_from_its_header(self) -> None:
        """A str32 header declaring 100 MB is refused before any of its body arrives."""
        framer = Framer(64 * 1024)
        with pytest.raises(FrameTooLarge):
            framer.feed(b"\xdb" + (100 << 20).to_bytes(4, "big"))

    def test_many_small_items_over_the_limit_are_refused(self) -> None:
        """An array declaring a million items is refused at its header when the limit is 64 KiB."""
        framer = Framer(64 * 1024)
        with pytest.raises(FrameTooLarge):
            framer.feed(b"\xdd" + (1 << 20).to_bytes(4, "big"))

    def test_every_kind_of_value_is_found_whole(self) -> None:
        """Every value msgspec encodes is found whole by the framer (nested maps, ext, bins)."""
        value = {"a": [1, 2.5, None, True, b"xx", "yy" * 40, {"n": [[], {}]}], "b": -(2**40)}
        data = msgspec.msgpack.encode(value) + msgspec.msgpack.encode(msgspec.msgpack.Ext(5, b"e"))
        assert Framer(1 << 20).feed(data) == [
            msgspec.msgpack.encode(value),
            msgspec.msgpack.encode(msgspec.msgpack.Ext(5, b"e")),
        ]
