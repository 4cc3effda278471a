"""The emulator server: a listening socket, one task per connection, and the ``down`` switch.

Usage::

    async with open_emulator(token="t0k3n", faults=Faults(error_503=0.2), seed=7) as emu:
        ...  # point a client at emu.url
        assert emu.stats().accepted == 1
"""

from __future__ import annotations

import errno
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path

import msgspec
import trio
from structlog.typing import FilteringBoundLogger

from .._http_server import HttpLimits, reset, serve_connection
from .._logging import get_logger
from ._app import DELIVERY_PAGE_LIMIT, DeliveryPage, EmulatorStats, WatsEmulatorApp
from ._faults import FaultDice, Faults
from ._store import Delivery, MemoryStore, ReportStore, SqliteStore

__all__ = ["Emulator", "open_emulator"]


def _log() -> FilteringBoundLogger:
    # looked up at each use: a logger bound at import would miss configure_logging() later
    return get_logger(actor="emulator")


_ACCEPT_RETRY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
_REBIND_ATTEMPTS = 50
_current_stream: ContextVar[trio.SocketStream] = ContextVar("_current_stream")


class Emulator:
    """A running emulator. Get one from :func:`open_emulator`.

    Attributes:
        host: the address it listens on.
        port: the port it listens on (the real one, when 0 was asked for).
    """

    def __init__(
        self,
        *,
        host: str,
        store: ReportStore,
        token: str | None,
        admin_token: str | None,
        faults: Faults,
        seed: int,
        limits: HttpLimits,
        max_connections: int,
    ) -> None:
        self.host = host
        self.port = 0
        self._limits = limits
        self._max_connections = max_connections
        self._app = WatsEmulatorApp(
            store=store,
            token=token,
            admin_token=admin_token,
            dice=FaultDice(faults, seed),
            on_faults=self.set_faults,
        )
        self._nursery: trio.Nursery | None = None
        self._listener: trio.SocketListener | None = None
        self._connections: dict[trio.SocketStream, trio.CancelScope] = {}
        self._down_generation = 0
        self._startup_faults = faults

    @property
    def url(self) -> str:
        """The base URL of the server, such as ``http://127.0.0.1:43817``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def faults(self) -> Faults:
        """The faults in force."""
        return self._app.dice.faults

    @property
    def seed(self) -> int:
        """The seed the fault dice started (or were last restarted) from."""
        return self._app.dice.seed

    def stats(self) -> EmulatorStats:
        """A snapshot of what the emulator has seen."""
        return self._app.stats()

    def deliveries(self, after: int = 0) -> list[Delivery]:
        """Every delivery (accepted submission) numbered after *after*, oldest first.

        Unlike :meth:`stats`, which counts distinct ids, this is one entry per report the
        server accepted, resends included, with the SHA-256 of the body that arrived.
        """
        found: list[Delivery] = []
        page: DeliveryPage | None = None
        while page is None or page.next_after is not None:
            cursor = after if page is None else page.next_after
            assert cursor is not None
            page = self._app.delivery_page(cursor, DELIVERY_PAGE_LIMIT)
            found.extend(page.deliveries)
        return found

    def delivery_count(self) -> int:
        """How many deliveries the record holds (cheap)."""
        return self._app.store.delivery_count()

    def stored_report(self, report_id: str) -> bytes | None:
        """The WSJF bytes stored under *report_id* (any GUID form), or ``None``."""
        try:
            canonical = str(uuid.UUID(report_id))
        except ValueError:
            return None
        stored = self._app.store.get(canonical)
        return None if stored is None else stored.body

    def set_faults(self, faults: Faults, seed: int | None = None) -> None:
        """Replace the faults in force; with *seed*, restart the random sequence from it.

        Setting ``down`` closes the listening socket (new connections are refused) and resets
        every open connection; with ``down_for`` it comes back up by itself after that long.
        Clearing ``down`` listens again on the same port.
        """
        was_down = self._app.dice.faults.down
        self._app.dice = self._app.dice.replaced(faults, seed)
        _log().info("faults set", faults=msgspec.structs.asdict(faults), seed=self._app.dice.seed)
        if faults.down and not was_down:
            self._go_down()
        elif was_down and not faults.down:
            self._go_up()
        if faults.down and faults.down_for is not None:
            self._schedule_comeback(faults.down_for)

    def _schedule_comeback(self, seconds: float) -> None:
        self._down_generation += 1
        assert self._nursery is not None
        self._nursery.start_soon(self._come_back_after, seconds, self._down_generation)

    async def _come_back_after(self, seconds: float, generation: int) -> None:
        await trio.sleep(seconds)
        if generation == self._down_generation and self.faults.down:
            self.set_faults(_without_down(self.faults))

    def _go_down(self) -> None:
        # Close the sockets here and now, not at the tasks' next checkpoint, so that "down" is
        # in force when this returns: connects are refused and no request slips through.
        if self._listener is not None:
            self._listener.socket.close()
            self._listener = None
        asking = _current_stream.get(None)  # the admin request that asked for it gets its answer
        for stream, scope in list(self._connections.items()):
            if stream is not asking:
                reset(stream)
                stream.socket.close()
                scope.cancel()
        _log().info("down: refusing connections", url=self.url)

    def _go_up(self) -> None:
        assert self._nursery is not None
        self._nursery.start_soon(self._listen_again)

    async def _listen_again(self) -> None:
        for _ in range(_REBIND_ATTEMPTS):
            try:
                listener = await _listen(self.host, self.port)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                await trio.sleep(0.05)
                continue
            if self.faults.down:  # went down again meanwhile
                await listener.aclose()
                return
            assert self._nursery is not None
            self._nursery.start_soon(self._accept_loop, listener)
            _log().info("up: accepting connections", url=self.url)
            return
        raise OSError(errno.EADDRINUSE, f"could not listen on {self.url} again")

    async def _run(
        self,
        listener: trio.SocketListener,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            if self._startup_faults.down:
                await listener.aclose()
                if self._startup_faults.down_for is not None:
                    self._schedule_comeback(self._startup_faults.down_for)
            else:
                nursery.start_soon(self._accept_loop, listener)
            task_status.started()
            await trio.sleep_forever()

    async def _accept_loop(self, listener: trio.SocketListener) -> None:
        assert self._nursery is not None
        self._listener = listener
        async with listener:
            while True:
                try:
                    stream = await listener.accept()
                except trio.ClosedResourceError:
                    return  # closed by _go_down
                except OSError as exc:
                    if exc.errno not in _ACCEPT_RETRY_ERRNOS:
                        raise
                    _log().warning("accept failed; pausing", error=str(exc))
                    await trio.sleep(0.1)
                    continue
                if len(self._connections) >= self._max_connections:
                    reset(stream)
                    await stream.aclose()
                    continue
                self._app.connections += 1
                self._nursery.start_soon(self._serve, stream)

    async def _serve(self, stream: trio.SocketStream) -> None:
        _current_stream.set(stream)
        with trio.CancelScope() as scope:
            self._connections[stream] = scope
            try:
                await serve_connection(
                    stream, self._app.handle, self._limits, name="pywats-emulator"
                )
            except Exception:  # one broken connection must never take the server down
                _log().exception("connection failed")
            finally:
                del self._connections[stream]


def _without_down(faults: Faults) -> Faults:
    fields = {name: getattr(faults, name) for name in Faults.__struct_fields__}
    fields.update(down=False, down_for=None)
    return Faults(**fields)


async def _listen(host: str, port: int) -> trio.SocketListener:
    """A listening socket on exactly one address (so that an ephemeral port is one port)."""
    family, kind, proto, _, address = (
        await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    )[0]
    sock = trio.socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        await sock.bind(address)
        sock.listen(socket.SOMAXCONN)
    except BaseException:
        sock.close()
        raise
    return trio.SocketListener(sock)


@asynccontextmanager
async def open_emulator(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    admin_token: str | None = None,
    store: str | os.PathLike[str] | None = None,
    faults: Faults | None = None,
    seed: int | None = None,
    limits: HttpLimits | None = None,
    max_connections: int = 1024,
) -> AsyncIterator[Emulator]:
    """Run a WATS-compatible emulator in this trio run while the block executes.

    Args:
        host: the address to listen on; loopback by default.
        port: the port; 0 (the default) picks a free one, see :attr:`Emulator.port`.
        token: the API token ``/api`` routes accept (``Authorization: Basic <token>``);
            ``None`` accepts any non-empty token.
        admin_token: the token of the ``/_emulator`` admin routes; defaults to *token*, and
            when both are ``None`` the admin routes are open.
        store: a SQLite file to keep reports in across restarts; in memory by default.
        faults: the misbehaviour to start with; none by default.
        seed: the seed of the fault dice; a random one by default (see :attr:`Emulator.seed`).
        limits: header and body size limits and connection timeouts.
        max_connections: connections beyond this many are reset at once.

    Yields:
        The running :class:`Emulator`, already listening.

    Cancellation: leaving the block closes the listener and every connection, and the store.
    """
    report_store: ReportStore = MemoryStore() if store is None else SqliteStore(Path(store))
    emulator = Emulator(
        host=host,
        store=report_store,
        token=token,
        admin_token=token if admin_token is None else admin_token,
        faults=Faults() if faults is None else faults,
        seed=int.from_bytes(os.urandom(4)) if seed is None else seed,
        limits=HttpLimits() if limits is None else limits,
        max_connections=max_connections,
    )
    try:
        listener = await _listen(host, port)
        emulator.port = listener.socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            await nursery.start(emulator._run, listener)
            try:
                yield emulator
            finally:
                nursery.cancel_scope.cancel()
    finally:
        report_store.close()
