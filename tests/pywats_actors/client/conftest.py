"""Fixtures for the WATS client tests: a real emulator, a client on it, a scripted server."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Any

import pytest
import trio

from pywats_actors._http_server import Disconnect, HttpLimits, Request, Response, serve_connection
from pywats_actors.client import WatsClient, WatsClientSettings, open_wats_client
from pywats_actors.emulator import Emulator, open_emulator

from ..._reports import minimal_report

TOKEN = "client-test-token"


WsjfFactory = Callable[..., tuple[str, bytes]]
Handler = Callable[[Request], Awaitable[Response | Disconnect]]


def make_wsjf(report_id: str | None = None, **changes: Any) -> tuple[str, bytes]:
    """A valid WSJF report (a fresh id unless given) with top-level *changes*; (id, bytes)."""
    report = minimal_report(report_id=report_id or str(uuid.uuid4()))
    report.update(changes)
    return report["id"], json.dumps(report).encode()


@pytest.fixture
def wsjf() -> WsjfFactory:
    """The factory of valid WSJF reports."""
    return make_wsjf


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """A fault-free emulator on an ephemeral loopback port."""
    async with open_emulator(token=TOKEN, seed=1) as emu:
        yield emu


def settings_for(url: str, **changes: Any) -> WatsClientSettings:
    """Client settings for *url* with short timeouts suited to tests."""
    values: dict[str, Any] = {
        "base_url": url,
        "token": TOKEN,
        "connect_timeout": 2.0,
        "read_timeout": 2.0,
        "write_timeout": 2.0,
        "pool_timeout": 2.0,
        "attempt_timeout": 5.0,
    }
    values.update(changes)
    return WatsClientSettings(**values)


OpenClient = Callable[[WatsClientSettings], AbstractAsyncContextManager[WatsClient]]


@pytest.fixture(params=["in-process", "separate-process"])
def open_client(request: pytest.FixtureRequest) -> OpenClient:
    """Opens a client of either kind: httpx in this process, or in an upload process.

    Every client test runs with both, so the two give the same results and errors.
    """
    return partial(open_wats_client, separate_process=request.param == "separate-process")


@pytest.fixture
async def wats(emulator: Emulator, open_client: OpenClient) -> AsyncIterator[WatsClient]:
    """A client of the emulator."""
    async with open_client(settings_for(emulator.url)) as client:
        yield client


@asynccontextmanager
async def _scripted_server(handler: Handler) -> AsyncIterator[str]:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    serve = partial(serve_connection, handler=handler, limits=HttpLimits(), name="test")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, serve, listeners)
        yield f"http://127.0.0.1:{port}"
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def _raw_server(reply: bytes) -> AsyncIterator[str]:
    async def answer(stream: trio.SocketStream) -> None:
        async with stream:
            await stream.receive_some(65536)
            await stream.send_all(reply)
            # Close gracefully: unread request bytes at close() would make the kernel send an
            # RST, which can overtake the reply and turn the test into a "connection reset".
            with trio.move_on_after(5):
                await stream.send_eof()
                while await stream.receive_some(65536):
                    pass

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, answer, listeners)
        yield f"http://127.0.0.1:{port}"
        nursery.cancel_scope.cancel()


@pytest.fixture
def scripted_server() -> Callable[[Handler], AbstractAsyncContextManager[str]]:
    """Runs a real HTTP server on loopback whose answers a test scripts; yields its URL."""
    return _scripted_server


@pytest.fixture
def raw_server() -> Callable[[bytes], AbstractAsyncContextManager[str]]:
    """Runs a TCP server on loopback that answers any request with the given raw bytes."""
    return _raw_server


@pytest.fixture
def client_settings() -> Callable[..., WatsClientSettings]:
    """Makes client settings for a URL, with short test timeouts and the test token."""
    return settings_for
