"""The TCP fault proxy with real sockets: every toxic, per direction, changed while running."""

from __future__ import annotations

import errno
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
import trio

from pywats_actors.chaos import FaultProxy, ProxyFaults, Toxics, open_fault_proxy

Handler = Callable[[trio.SocketStream], Awaitable[None]]


class Server:
    """A scripted server on a loopback port; remembers what it received and how it ended."""

    def __init__(self) -> None:
        self.port = 0
        self.received = bytearray()
        self.ended: list[str] = []

    async def read_all(self, stream: trio.SocketStream) -> None:
        try:
            while data := await stream.receive_some(65536):
                self.received += data
            self.ended.append("eof")
        except trio.BrokenResourceError as exc:
            self.ended.append(type(exc.__cause__).__name__)


async def echo(server: Server, stream: trio.SocketStream) -> None:
    try:
        while data := await stream.receive_some(65536):
            server.received += data
            await stream.send_all(data)
        server.ended.append("eof")
    except trio.BrokenResourceError as exc:
        server.ended.append(type(exc.__cause__).__name__)


@asynccontextmanager
async def serving(
    behaviour: Callable[[Server, trio.SocketStream], Awaitable[None]],
    faults: ProxyFaults | None = None,
) -> AsyncIterator[tuple[Server, FaultProxy]]:
    """A server with *behaviour* per connection and a fault proxy in front of it."""
    server = Server()

    async def handle(stream: trio.SocketStream) -> None:
        async with stream:
            await behaviour(server, stream)

    async with trio.open_nursery() as nursery:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        server.port = listeners[0].socket.getsockname()[1]
        nursery.start_soon(trio.serve_listeners, handle, listeners)
        async with open_fault_proxy("127.0.0.1", server.port, faults=faults, seed=1) as proxy:
            yield server, proxy
        nursery.cancel_scope.cancel()


async def connect(proxy: FaultProxy) -> trio.SocketStream:
    return await trio.open_tcp_stream("127.0.0.1", proxy.port)


async def read_until_eof(stream: trio.SocketStream) -> bytes:
    got = bytearray()
    while data := await stream.receive_some(65536):
        got += data
    return bytes(got)


def sends_and_closes(
    payload: bytes,
) -> Callable[[Server, trio.SocketStream], Awaitable[None]]:
    async def behaviour(server: Server, stream: trio.SocketStream) -> None:
        await stream.send_all(payload)

    return behaviour


def down(**toxics: object) -> ProxyFaults:
    return ProxyFaults(downstream=Toxics(**toxics))  # type: ignore[arg-type]


def up(**toxics: object) -> ProxyFaults:
    return ProxyFaults(upstream=Toxics(**toxics))  # type: ignore[arg-type]


class TestPassThrough:
    async def test_bytes_and_close_go_through_untouched(self) -> None:
        """Without faults, 1 MiB goes to the server and back intact and a half-close is
        passed on; the statistics count the bytes."""
        payload = bytes(range(256)) * 4096
        async with serving(echo) as (server, proxy):
            with trio.fail_after(20):
                client = await connect(proxy)
                async with client, trio.open_nursery() as nursery:
                    nursery.start_soon(client.send_all, payload)
                    got = bytearray()
                    while len(got) < len(payload):
                        got += await client.receive_some(65536)
                    await client.send_eof()
                    assert await read_until_eof(client) == b""
            stats = proxy.stats()
        assert bytes(got) == payload
        assert server.ended == ["eof"]
        assert stats.upstream_bytes == stats.downstream_bytes == len(payload)
        assert stats.connections == 1

    async def test_unreachable_server_resets_the_client(self) -> None:
        """A client of a proxy whose server is gone is reset, and counted as refused."""
        with trio.socket.socket() as probe:
            await probe.bind(("127.0.0.1", 0))
            dead_port = probe.getsockname()[1]
        async with open_fault_proxy("127.0.0.1", dead_port) as proxy:
            with trio.fail_after(10):
                client = await connect(proxy)
                async with client:
                    with pytest.raises(trio.BrokenResourceError):
                        await client.receive_some(10)
            assert proxy.stats().faults == {"refused": 1}


class TestLatencyAndBandwidth:
    async def test_latency_with_jitter_delays_each_chunk(self) -> None:
        """Downstream latency 0.3 s ± 0.1 s delays the echo by at least 0.2 s."""
        async with serving(echo, down(latency=0.3, jitter=0.1)) as (_, proxy):
            with trio.fail_after(10):
                client = await connect(proxy)
                async with client:
                    start = trio.current_time()
                    await client.send_all(b"ping")
                    assert await client.receive_some(10) == b"ping"
                    assert trio.current_time() - start >= 0.2
            assert proxy.stats().faults["latency"] == 1

    async def test_bandwidth_limits_the_rate(self) -> None:
        """Upstream 100 kB/s takes at least 0.35 s for 40 kB, which arrive intact."""
        payload = b"x" * 40_000
        async with serving(Server.read_all, up(bandwidth=100_000)) as (server, proxy):
            with trio.fail_after(10):
                start = trio.current_time()
                client = await connect(proxy)
                async with client:
                    await client.send_all(payload)
                    await client.send_eof()
                    while server.ended == []:
                        await trio.sleep(0.01)
                elapsed = trio.current_time() - start
        assert bytes(server.received) == payload
        assert elapsed >= 0.35


class TestCuts:
    async def test_reset_peer_at_once_resets_both_sides(self) -> None:
        """reset_peer 0 upstream: the data is not forwarded and both sides get a TCP RST."""
        async with serving(Server.read_all, up(reset_peer=0)) as (server, proxy):
            with trio.fail_after(10):
                client = await connect(proxy)
                async with client:
                    await client.send_all(b"hello")
                    with pytest.raises(trio.BrokenResourceError) as raised:
                        await client.receive_some(10)
                    while not server.ended:
                        await trio.sleep(0.01)
        assert isinstance(raised.value.__cause__, ConnectionResetError)
        assert server.ended == ["ConnectionResetError"]
        assert server.received == b""
        assert proxy.stats().faults["reset_peer"] == 1

    async def test_reset_peer_after_a_delay_lets_data_through_first(self) -> None:
        """reset_peer 0.3 downstream: the echo arrives, then the RST no earlier than 0.3 s."""
        async with serving(echo, down(reset_peer=0.3)) as (_, proxy):
            with trio.fail_after(10):
                client = await connect(proxy)
                async with client:
                    await client.send_all(b"ping")
                    start = trio.current_time()
                    assert await client.receive_some(10) == b"ping"
                    with pytest.raises(trio.BrokenResourceError):
                        await client.receive_some(10)
                    assert trio.current_time() - start >= 0.25

    async def test_timeout_drops_data_then_closes(self) -> None:
        """timeout 0.3 downstream: the answer never arrives and the connection is closed
        (not reset) no earlier than 0.3 s later."""
        async with serving(echo, down(timeout=0.3)) as (server, proxy):
            with trio.fail_after(10):
                client = await connect(proxy)
                async with client:
                    start = trio.current_time()
                    await client.send_all(b"ping")
                    assert await read_until_eof(client) == b""
                    assert trio.current_time() - start >= 0.3
        assert server.received == b"ping"
        assert proxy.stats().faults["timeout"] == 1

    async def test_timeout_zero_holds_until_the_fault_is_removed(self) -> None:
        """timeout 0 holds the connection silent; once faults are cleared while it is open,
        new data flows again on the same connection."""
        async with serving(echo, up(timeout=0)) as (server, proxy):
            with trio.fail_after(10):
                client = await connect(proxy)
                async with client:
                    await client.send_all(b"lost")
                    with trio.move_on_after(0.3) as waited:
                        await client.receive_some(10)
                    assert waited.cancelled_caught
                    proxy.set_faults(ProxyFaults())
                    await client.send_all(b"back")
                    assert await client.receive_some(10) == b"back"
        assert server.received == b"back"

    async def test_slow_close_delays_the_close(self) -> None:
        """slow_close 0.3 downstream: the data comes at once, the close 0.3 s later."""
        behaviour = sends_and_closes(b"bye")
        async with serving(behaviour, down(slow_close=0.3)) as (_, proxy):
            with trio.fail_after(10):
                client = await connect(proxy)
                async with client:
                    assert await client.receive_some(10) == b"bye"
                    start = trio.current_time()
                    assert await read_until_eof(client) == b""
                    assert trio.current_time() - start >= 0.25
            assert proxy.stats().faults["slow_close"] == 1

    async def test_limit_data_closes_after_exactly_n_bytes(self) -> None:
        """limit_data 100 downstream: the client gets exactly 100 of 1000 bytes, then EOF."""
        behaviour = sends_and_closes(bytes(1000))
        async with serving(behaviour, down(limit_data=100)) as (_, proxy):
            with trio.fail_after(10):
                client = await connect(proxy)
                async with client:
                    assert len(await read_until_eof(client)) == 100
            assert proxy.stats().faults["limit_data"] == 1

    async def test_faults_apply_per_direction(self) -> None:
        """An upstream limit cuts what the server receives; the downstream is not limited
        before the cut."""
        async with serving(Server.read_all, up(limit_data=5)) as (server, proxy):
            with trio.fail_after(10):
                client = await connect(proxy)
                async with client:
                    await client.send_all(b"0123456789")
                    while not server.ended:
                        await trio.sleep(0.01)
        assert server.received == b"01234"


class TestControl:
    async def test_faults_changed_on_an_open_connection_apply_at_the_next_chunk(self) -> None:
        """A connection that worked is reset as soon as reset_peer is set and data flows."""
        async with serving(echo) as (_, proxy):
            with trio.fail_after(10):
                client = await connect(proxy)
                async with client:
                    await client.send_all(b"one")
                    assert await client.receive_some(10) == b"one"
                    proxy.set_faults(up(reset_peer=0))
                    await client.send_all(b"two")
                    with pytest.raises(trio.BrokenResourceError):
                        await client.receive_some(10)

    async def test_toxicity_zero_affects_no_connection(self) -> None:
        """With toxicity 0 a toxic never applies."""
        async with serving(echo, up(reset_peer=0, toxicity=0.0)) as (_, proxy):
            with trio.fail_after(10):
                for _ in range(5):
                    client = await connect(proxy)
                    async with client:
                        await client.send_all(b"x")
                        assert await client.receive_some(10) == b"x"
            assert "reset_peer" not in proxy.stats().faults

    async def test_toxicity_picks_a_share_of_connections(self) -> None:
        """With toxicity 0.5, some of 40 connections are reset and some are not."""
        outcomes: list[bool] = []
        async with serving(echo, up(reset_peer=0, toxicity=0.5)) as (_, proxy):
            with trio.fail_after(20):
                for _ in range(40):
                    client = await connect(proxy)
                    async with client:
                        await client.send_all(b"x")
                        try:
                            outcomes.append(await client.receive_some(10) == b"x")
                        except trio.BrokenResourceError:
                            outcomes.append(False)
        assert 0 < sum(outcomes) < 40
        assert proxy.stats().faults["reset_peer"] == 40 - sum(outcomes)

    async def test_reset_all_resets_every_open_connection(self) -> None:
        """reset_all sends a TCP RST on every open connection and says how many."""
        async with serving(echo) as (_, proxy):
            with trio.fail_after(10):
                clients = [await connect(proxy) for _ in range(3)]
                for client in clients:
                    await client.send_all(b"x")
                    assert await client.receive_some(10) == b"x"
                assert proxy.reset_all() == 3
                for client in clients:
                    with pytest.raises(trio.BrokenResourceError) as raised:
                        await client.receive_some(10)
                    assert getattr(raised.value.__cause__, "errno", None) == errno.ECONNRESET
                    await client.aclose()
