"""The emulator's HTTP/1.1 handling under stress: keep-alive, pipelining, limits, bad input."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import h11
import pytest
import trio

from pywats_actors.emulator import Emulator, Faults, HttpLimits, open_emulator

from .conftest import TOKEN, encode

HEAD = f"Host: x\r\nAuthorization: Basic {TOKEN}\r\n".encode()
VERSION = b"GET /api/App/Version HTTP/1.1\r\n" + HEAD + b"\r\n"


async def _responses(stream: trio.SocketStream, count: int) -> list[tuple[int, bytes]]:
    """Read *count* responses with an h11 client; [(status, body)]."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    answers: list[tuple[int, bytes]] = []
    status, body = 0, b""
    with trio.fail_after(5):
        while len(answers) < count:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                status, body = event.status_code, b""
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                answers.append((status, body))
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    break
                conn.start_next_cycle()
                conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
                conn.send(h11.EndOfMessage())
            elif isinstance(event, h11.ConnectionClosed):
                break
    return answers


async def _closed_by_peer(stream: trio.SocketStream) -> bool:
    with trio.fail_after(5):
        try:
            while await stream.receive_some(65536):
                pass
        except trio.BrokenResourceError:
            return True
    return True


@pytest.fixture
async def small() -> AsyncIterator[Emulator]:
    """An emulator with small limits and short timeouts."""
    limits = HttpLimits(
        max_header_bytes=2048, max_body_bytes=4096, idle_timeout=0.3, request_timeout=0.3
    )
    async with open_emulator(token=TOKEN, limits=limits) as emu:
        yield emu


async def _connect(emulator: Emulator) -> trio.SocketStream:
    return await trio.open_tcp_stream("127.0.0.1", emulator.port)


def _post(body: bytes, **extra: Any) -> bytes:
    lines = [
        b"POST /api/Report/WSJF HTTP/1.1",
        b"Host: x",
        f"Authorization: Basic {TOKEN}".encode(),
        b"Content-Type: application/json",
        f"Content-Length: {len(body)}".encode(),
        *[f"{name}: {value}".encode() for name, value in extra.items()],
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class TestConnections:
    async def test_keep_alive(self, emulator: Emulator) -> None:
        """Several requests one after the other share one connection."""
        async with await _connect(emulator) as stream:
            for _ in range(3):
                await stream.send_all(VERSION)
                assert (await _responses(stream, 1))[0][0] == 200
        assert emulator.stats().connections == 1

    async def test_pipelining(self, emulator: Emulator, report: Any) -> None:
        """Requests sent back to back in one write are all answered, in order."""
        ids = [report()["id"] for _ in range(3)]
        burst = b"".join(_post(encode(report(report_id))) for report_id in ids) + VERSION
        async with await _connect(emulator) as stream:
            await stream.send_all(burst)
            answers = await _responses(stream, 4)
        assert [status for status, _ in answers] == [200, 200, 200, 200]
        assert [body for _, body in answers[:3]] == [
            b'{"ID":"%s","uuid":"%s","Report_ID":%d}' % (i.encode(), i.encode(), n)
            for n, i in enumerate(ids, 1)
        ]
        assert emulator.stats().ids == ids

    async def test_connection_close_is_honoured(self, emulator: Emulator) -> None:
        """A request with Connection: close is answered and then the connection is closed."""
        request = b"GET /api/App/Version HTTP/1.1\r\n" + HEAD + b"Connection: close\r\n\r\n"
        async with await _connect(emulator) as stream:
            await stream.send_all(request)
            assert (await _responses(stream, 1))[0][0] == 200
            assert await _closed_by_peer(stream)

    async def test_client_vanishing_mid_request(self, emulator: Emulator) -> None:
        """A client that closes halfway through a request does not disturb the server."""
        async with await _connect(emulator) as stream:
            await stream.send_all(_post(b"x" * 100)[:-50])
        async with await _connect(emulator) as stream:
            await stream.send_all(VERSION)
            assert (await _responses(stream, 1))[0][0] == 200

    async def test_expect_100_continue(self, emulator: Emulator, report: Any) -> None:
        """A client that waits for 100 Continue gets it, then the final answer."""
        body = encode(report())
        head = _post(body, Expect="100-continue")[: -len(body)]
        async with await _connect(emulator) as stream:
            await stream.send_all(head)
            with trio.fail_after(5):
                interim = await stream.receive_some(65536)
            assert interim.startswith(b"HTTP/1.1 100 ")
            await stream.send_all(body)
            assert (await _responses(stream, 1))[0][0] == 200


class TestLimits:
    async def test_header_too_large(self, small: Emulator) -> None:
        """A header block beyond the limit gets 431 and the connection is closed."""
        request = (
            b"GET /api/App/Version HTTP/1.1\r\n" + HEAD + b"X-Big: " + b"a" * 4096 + b"\r\n\r\n"
        )
        async with await _connect(small) as stream:
            await stream.send_all(request)
            assert (await _responses(stream, 1))[0][0] == 431

    async def test_declared_body_too_large(self, small: Emulator) -> None:
        """A Content-Length beyond the limit gets 413 before any of the body is read."""
        async with await _connect(small) as stream:
            await stream.send_all(_post(b"")[:-4] + b"\r\nContent-Length: 999999\r\n\r\n")
            assert (await _responses(stream, 1))[0][0] in (400, 413)
        async with await _connect(small) as stream:
            head = _post(b"x" * 10000)[:-10000]
            await stream.send_all(head)
            assert (await _responses(stream, 1))[0][0] == 413

    async def test_chunked_body_too_large(self, small: Emulator) -> None:
        """A chunked body that grows past the limit gets 413."""
        head = (
            b"POST /api/Report/WSJF HTTP/1.1\r\n" + HEAD + b"Content-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"1000\r\n" + b"x" * 4096 + b"\r\n"
        async with await _connect(small) as stream:
            await stream.send_all(head + chunk + chunk)
            assert (await _responses(stream, 1))[0][0] == 413

    @pytest.mark.parametrize(
        "garbage",
        [
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n",
            b"GET / HTTP/9.9\r\n\r\n",
            b"POST /api/Report/WSJF HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n",
            b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
        ],
    )
    async def test_bad_request_is_400(self, emulator: Emulator, garbage: bytes) -> None:
        """Bytes that are not a valid HTTP/1.1 request get a 400 (not a crash) and a close."""
        async with await _connect(emulator) as stream:
            await stream.send_all(garbage)
            answers = await _responses(stream, 1)
        assert answers[0][0] in (400, 505)
        async with await _connect(emulator) as stream:
            await stream.send_all(VERSION)
            assert (await _responses(stream, 1))[0][0] == 200


class TestTimeouts:
    async def test_slow_request_gets_408(self, small: Emulator) -> None:
        """A request that starts but does not finish in time gets 408 and a close."""
        async with await _connect(small) as stream:
            await stream.send_all(_post(b"x" * 100)[:-10])
            assert (await _responses(stream, 1))[0][0] == 408

    async def test_idle_connection_is_closed(self, small: Emulator) -> None:
        """An idle keep-alive connection is closed quietly after the idle timeout."""
        async with await _connect(small) as stream:
            start = trio.current_time()
            assert await _closed_by_peer(stream)
            assert trio.current_time() - start >= 0.25


class TestInjectedDisconnects:
    async def test_reset_is_a_real_rst(self, emulator: Emulator) -> None:
        """The reset fault resets the TCP connection: the client's read fails, not ends."""
        emulator.set_faults(Faults(reset=1.0))
        async with await _connect(emulator) as stream:
            await stream.send_all(VERSION)
            with pytest.raises(trio.BrokenResourceError) as caught, trio.fail_after(5):
                await stream.receive_some(100)
        assert isinstance(caught.value.__cause__, ConnectionResetError)

    async def test_hang_holds_the_connection(self, emulator: Emulator) -> None:
        """The hang fault reads the request and then says nothing, keeping the connection."""
        emulator.set_faults(Faults(hang=1.0))
        async with await _connect(emulator) as stream:
            await stream.send_all(VERSION)
            with trio.move_on_after(0.3) as waited:
                await stream.receive_some(100)
            assert waited.cancelled_caught

    async def test_connection_limit(self, report: Any) -> None:
        """Connections beyond max_connections are reset at once; the others are served."""
        async with open_emulator(token=TOKEN, max_connections=2) as emu:
            first = await trio.open_tcp_stream("127.0.0.1", emu.port)
            second = await trio.open_tcp_stream("127.0.0.1", emu.port)
            with trio.fail_after(5):
                while emu.stats().connections < 2:
                    await trio.sleep(0.01)
            async with first, second:
                try:
                    third = await trio.open_tcp_stream("127.0.0.1", emu.port)
                except OSError:
                    pass  # reset so fast that the connect itself failed
                else:
                    async with third:
                        with trio.fail_after(5):
                            with contextlib.suppress(trio.BrokenResourceError):
                                while await third.receive_some(100):
                                    pass
                await first.send_all(VERSION)
                assert (await _responses(first, 1))[0][0] == 200


class TestCrashContainment:
    async def test_failing_handler_gets_500_and_server_goes_on(self) -> None:
        """A handler that raises answers its request 500; the server keeps serving."""
        from pywats_actors._http_server import Request, Response, serve_connection

        async def handler(request: Request) -> Response:
            if request.target == b"/boom":
                raise RuntimeError("bug\nwith a newline")
            return Response(200, b"{}")

        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        limits = HttpLimits()

        async def serve(stream: trio.SocketStream) -> None:
            await serve_connection(stream, handler, limits, name="bench")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, serve, listeners)
            async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
                await stream.send_all(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
                ((status, body),) = await _responses(stream, 1)
            assert status == 500
            assert json.loads(body)["Message"].startswith("internal error")
            async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
                await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                assert (await _responses(stream, 1))[0][0] == 200
            nursery.cancel_scope.cancel()
