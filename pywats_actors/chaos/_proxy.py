"""A TCP fault proxy on Trio: forwards connections to a server and injects toxiproxy's faults.

::

    async with open_fault_proxy("127.0.0.1", emulator.port) as proxy:
        ...  # point the node at proxy.url
        proxy.set_faults(ProxyFaults(downstream=Toxics(latency=0.2, jitter=0.05)))
        proxy.set_faults(ProxyFaults(upstream=Toxics(reset_peer=0, toxicity=0.3)))
        proxy.reset_all()           # RST every open connection now
        print(proxy.stats())

Each accepted connection gets its own connection to the server and two pumps, one per
direction; a pump reads a chunk, applies the toxics in force for its direction (see
:class:`Toxics`) and forwards it. It listens on 127.0.0.1 on an ephemeral port by default.
"""

from __future__ import annotations

import contextlib
import random
import socket
import struct
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import msgspec
import trio

from ._toxics import ProxyFaults, Toxics

__all__ = ["FaultProxy", "ProxyStats", "open_fault_proxy"]

_CHUNK: Final = 65536
_RST_LINGER: Final = struct.pack("ii", 1, 0)
_BANDWIDTH_SLICES_PER_SECOND: Final = 20


class ProxyStats(msgspec.Struct, frozen=True, kw_only=True):
    """What the proxy has done since it started.

    Attributes:
        connections: client connections accepted.
        open: connections open now.
        upstream_bytes: bytes forwarded from clients to the server.
        downstream_bytes: bytes forwarded from the server to clients.
        faults: injected faults by kind: ``latency`` and ``bandwidth`` count delayed chunks;
            ``reset_peer``, ``timeout``, ``limit_data`` and ``slow_close`` count connections;
            ``reset_all`` counts connections reset by :meth:`FaultProxy.reset_all`;
            ``refused`` counts clients reset because the server could not be reached.
    """

    connections: int
    open: int
    upstream_bytes: int
    downstream_bytes: int
    faults: dict[str, int]


class _Connection:
    """One client connection and its connection to the server."""

    def __init__(
        self, client: trio.SocketStream, server: trio.SocketStream, nursery: trio.Nursery
    ) -> None:
        self.client = client
        self.server = server
        self.nursery = nursery
        self.closed = False

    def close(self, *, reset: bool) -> None:
        """Close both sides now: with a TCP RST when *reset*, else an ordinary close."""
        if self.closed:
            return
        self.closed = True
        for stream in (self.client, self.server):
            if reset:
                with contextlib.suppress(OSError):  # already gone: nothing left to reset
                    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RST_LINGER)
            stream.socket.close()
        self.nursery.cancel_scope.cancel()


class _Pump:
    """Forwards one direction of one connection, applying that direction's toxics."""

    def __init__(
        self,
        proxy: FaultProxy,
        connection: _Connection,
        *,
        upstream: bool,
        draw: float,
    ) -> None:
        self.proxy = proxy
        self.connection = connection
        self.upstream = upstream
        self.draw = draw  # this connection is affected while draw < toxicity
        self.source = connection.client if upstream else connection.server
        self.target = connection.server if upstream else connection.client
        self.forwarded = 0
        self.reset_armed = False
        self.stalled_since: float | None = None

    def toxics(self) -> Toxics:
        faults = self.proxy.faults
        toxics = faults.upstream if self.upstream else faults.downstream
        return toxics if self.draw < toxics.toxicity else _QUIET

    async def run(self) -> None:
        while True:
            try:
                data = await self.source.receive_some(_CHUNK)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self.connection.close(reset=True)  # pass a reset on as a reset
                return
            if not data:
                await self._closed_by_source()
                return
            await self._forward(data)

    async def _closed_by_source(self) -> None:
        toxics = self.toxics()
        if toxics.slow_close > 0:
            self.proxy.count("slow_close")
            await trio.sleep(toxics.slow_close)
        try:
            await self.target.send_eof()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            self.connection.close(reset=False)

    async def _forward(self, data: bytes) -> None:
        toxics = self.toxics()
        if toxics.reset_peer is not None and not self.reset_armed:
            self.reset_armed = True
            self.proxy.count("reset_peer")
            if toxics.reset_peer == 0:
                self.connection.close(reset=True)
                await trio.lowlevel.checkpoint()
                return
            self.connection.nursery.start_soon(self._reset_after, toxics.reset_peer)
        if toxics.timeout is not None:
            await self._stall(toxics.timeout)
            return
        self.stalled_since = None
        if toxics.latency or toxics.jitter:
            self.proxy.count("latency")
            spread = self.proxy.random.uniform(-1.0, 1.0) * toxics.jitter
            await trio.sleep(max(0.0, toxics.latency + spread))
        cut = False
        if toxics.limit_data is not None and self.forwarded + len(data) >= toxics.limit_data:
            data = data[: max(0, toxics.limit_data - self.forwarded)]
            cut = True
        await self._send(data, toxics.bandwidth)
        if cut:
            self.proxy.count("limit_data")
            self.connection.close(reset=False)

    async def _stall(self, after: float) -> None:
        """Drop the data; the first stall of a run arms the close *after* seconds later."""
        if self.stalled_since is None:
            self.stalled_since = trio.current_time()
            self.proxy.count("timeout")
            if after > 0:
                self.connection.nursery.start_soon(self._close_after_stall, after)
        await trio.lowlevel.checkpoint()

    async def _close_after_stall(self, after: float) -> None:
        started = self.stalled_since
        await trio.sleep(after)
        if started is not None and self.stalled_since == started:
            self.connection.close(reset=False)

    async def _reset_after(self, delay: float) -> None:
        await trio.sleep(delay)
        self.connection.close(reset=True)

    async def _send(self, data: bytes, bandwidth: int | None) -> None:
        if not data:
            return
        slices = [data]
        if bandwidth is not None:
            self.proxy.count("bandwidth")
            size = max(1, bandwidth // _BANDWIDTH_SLICES_PER_SECOND)
            slices = [data[i : i + size] for i in range(0, len(data), size)]
        for piece in slices:
            try:
                await self.target.send_all(piece)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self.connection.close(reset=True)
                return
            self.forwarded += len(piece)
            self.proxy.add_bytes(len(piece), upstream=self.upstream)
            if bandwidth is not None:
                await trio.sleep(len(piece) / bandwidth)


_QUIET: Final = Toxics()


class FaultProxy:
    """A running fault proxy. Get one from :func:`open_fault_proxy`.

    Attributes:
        host: the address it listens on.
        port: the port it listens on.
        faults: the faults in force (replace them with :meth:`set_faults`).
        random: the proxy's seeded random source (toxicity draws and jitter).
    """

    def __init__(
        self, *, host: str, upstream: tuple[str, int], faults: ProxyFaults, seed: int | None
    ) -> None:
        self.host = host
        self.port = 0
        self.upstream = upstream
        self.faults = faults
        self.random = random.Random(seed)
        self._connections: set[_Connection] = set()
        self._accepted = 0
        self._bytes = {True: 0, False: 0}
        self._faults: Counter[str] = Counter()

    @property
    def url(self) -> str:
        """``http://host:port`` of the proxy, for an HTTP client."""
        return f"http://{self.host}:{self.port}"

    def set_faults(self, faults: ProxyFaults) -> None:
        """Replace the faults in force; open connections follow from their next chunk on."""
        self.faults = faults

    def reset_all(self) -> int:
        """Reset (TCP RST) every open connection now; returns how many."""
        connections = list(self._connections)
        for connection in connections:
            connection.close(reset=True)
        self._faults["reset_all"] += len(connections)
        return len(connections)

    def stats(self) -> ProxyStats:
        """A snapshot of what the proxy has done."""
        return ProxyStats(
            connections=self._accepted,
            open=len(self._connections),
            upstream_bytes=self._bytes[True],
            downstream_bytes=self._bytes[False],
            faults=dict(self._faults),
        )

    def count(self, fault: str) -> None:
        """Count one injected fault of kind *fault* (the pumps call it)."""
        self._faults[fault] += 1

    def add_bytes(self, size: int, *, upstream: bool) -> None:
        """Count *size* bytes forwarded in one direction (the pumps call it)."""
        self._bytes[upstream] += size

    async def _serve(self, client: trio.SocketStream) -> None:
        """Proxy one client connection until either side ends it."""
        self._accepted += 1
        try:
            server = await trio.open_tcp_stream(*self.upstream)
        except OSError:
            self.count("refused")
            client.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RST_LINGER)
            client.socket.close()
            return
        _nodelay(client)
        _nodelay(server)
        connection: _Connection | None = None
        try:
            async with trio.open_nursery() as nursery:
                connection = _Connection(client, server, nursery)
                self._connections.add(connection)
                for upstream in (True, False):
                    pump = _Pump(self, connection, upstream=upstream, draw=self.random.random())
                    nursery.start_soon(pump.run)
        finally:
            if connection is not None:
                self._connections.discard(connection)
            client.socket.close()
            server.socket.close()


def _nodelay(stream: trio.SocketStream) -> None:
    with contextlib.suppress(OSError):  # already reset by the peer: the pumps will see it
        stream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)


@asynccontextmanager
async def open_fault_proxy(
    upstream_host: str,
    upstream_port: int,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    faults: ProxyFaults | None = None,
    seed: int | None = None,
) -> AsyncIterator[FaultProxy]:
    """Run a fault proxy to ``upstream_host:upstream_port`` while the block executes.

    Args:
        upstream_host: the server's address.
        upstream_port: the server's port.
        host: the address to listen on; loopback by default.
        port: the port; 0 (the default) picks a free one, see :attr:`FaultProxy.port`.
        faults: the faults to start with; none by default.
        seed: the seed of the toxicity draws and the jitter; random by default.

    Cancellation: leaving the block closes the listener and every proxied connection.
    """
    proxy = FaultProxy(
        host=host,
        upstream=(upstream_host, upstream_port),
        faults=ProxyFaults() if faults is None else faults,
        seed=seed,
    )
    listeners = await trio.open_tcp_listeners(port, host=host)
    proxy.port = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, proxy._serve, listeners)
        try:
            yield proxy
        finally:
            nursery.cancel_scope.cancel()
