"""A small HTTP/1.1 server core on trio and h11: one task per connection, no parsing by hand.

h11 does all the parsing and framing; this module adds what a server needs around it:

* keep-alive, and pipelining (h11 keeps the bytes of the next request until we are ready);
* limits: the header block (431), the body (413, checked against ``Content-Length`` before any
  of it is read, and again while reading a chunked body); HTTP/1.0 and 1.1 only (505);
* timeouts: an idle keep-alive connection is closed after ``idle_timeout``; a request that has
  started must arrive whole within ``request_timeout`` (408), so a slow client cannot pin a task;
* malformed requests get a 400 (h11's own status hint) and the connection is closed;
* a handler that raises gets its request a 500 (and a log line), never a crashed server;
* a lingering close after a must-close answer, so that unread request bytes do not turn our
  close into a reset that destroys the answer in flight;
* two deliberate misbehaviours for fault injection: :data:`RESET` (a real TCP RST through
  ``SO_LINGER`` 0) and :data:`HANG` (read everything, answer nothing).
"""

from __future__ import annotations

import contextlib
import enum
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from http import HTTPStatus
from typing import Final

import h11
import msgspec
import trio

from ._logging import get_logger

__all__ = [
    "HANG",
    "RESET",
    "Disconnect",
    "HttpLimits",
    "Request",
    "Response",
    "serve_connection",
]

_RECEIVE_SIZE: Final = 65536
_LINGER_SECONDS: Final = 2.0
_LINGER_BYTES: Final = 1 << 20
_RST_LINGER: Final = struct.pack("ii", 1, 0)
_REASONS: Final = {status.value: status.phrase.encode("ascii") for status in HTTPStatus}


class Disconnect(enum.Enum):
    """Ways for a handler to end a connection without an answer."""

    RESET = "reset"
    HANG = "hang"


RESET: Final = Disconnect.RESET
HANG: Final = Disconnect.HANG


class HttpLimits:
    """Size and time limits for one server.

    Args:
        max_header_bytes: the largest request line plus header block.
        max_body_bytes: the largest request body.
        idle_timeout: seconds an idle keep-alive connection is kept open.
        request_timeout: seconds for a started request to arrive whole.
    """

    __slots__ = ("idle_timeout", "max_body_bytes", "max_header_bytes", "request_timeout")

    def __init__(
        self,
        *,
        max_header_bytes: int = 16384,
        max_body_bytes: int = 64 << 20,
        idle_timeout: float = 75.0,
        request_timeout: float = 30.0,
    ) -> None:
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.idle_timeout = idle_timeout
        self.request_timeout = request_timeout


class Request:
    """One complete request: method and target as sent, lower-cased header names, the body."""

    __slots__ = ("body", "headers", "method", "target")

    def __init__(self, method: bytes, target: bytes, headers: dict[bytes, bytes], body: bytes):
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body


class Response:
    """One answer: a status, a body with its content type, and any extra headers."""

    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self,
        status: int,
        body: bytes = b"",
        *,
        content_type: bytes = b"application/json; charset=utf-8",
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers


Handler = Callable[[Request], Awaitable[Response | Disconnect]]


class _DateHeader:
    """The ``Date`` header value, formatted at most once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def value(self) -> bytes:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._value = formatdate(now, usegmt=True).encode("ascii")
        return self._value


_date = _DateHeader()


def _error(status: int, message: str) -> Response:
    """An error answer after which the connection is closed."""
    body = msgspec.json.encode({"Message": message})
    return Response(status, body, headers=[(b"connection", b"close")])


async def _send(
    stream: trio.SocketStream, conn: h11.Connection, response: Response, name: bytes
) -> None:
    headers = [
        (b"content-type", response.content_type),
        (b"content-length", str(len(response.body)).encode("ascii")),
        (b"date", _date.value()),
        (b"server", name),
    ]
    if response.headers:
        headers.extend(response.headers)
    reason = _REASONS.get(response.status, b"")
    head = conn.send(h11.Response(status_code=response.status, headers=headers, reason=reason))
    body = conn.send(h11.Data(data=response.body)) if response.body else b""
    tail = conn.send(h11.EndOfMessage())
    await stream.send_all(b"".join((head or b"", body or b"", tail or b"")))


def reset(stream: trio.SocketStream) -> None:
    """Arrange for the next close of *stream* to send a TCP RST instead of a FIN."""
    with contextlib.suppress(OSError, trio.ClosedResourceError):
        stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RST_LINGER)


async def _lingering_close(stream: trio.SocketStream) -> None:
    """Close after a must-close answer without resetting it: stop sending, drain, close."""
    with trio.move_on_after(_LINGER_SECONDS):
        try:
            await stream.send_eof()
            drained = 0
            while drained < _LINGER_BYTES:
                data = await stream.receive_some(_RECEIVE_SIZE)
                if not data:
                    break
                drained += len(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass


async def _hang(stream: trio.SocketStream) -> None:
    """Never answer; read (and drop) whatever arrives until the client gives up."""
    try:
        while await stream.receive_some(_RECEIVE_SIZE):
            pass
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass


async def _receive_request(
    stream: trio.SocketStream, conn: h11.Connection, limits: HttpLimits
) -> Request | Response | None:
    """The next request; or an error answer to send before closing; or ``None`` to just close."""
    started = conn.their_state is not h11.IDLE or bool(conn.trailing_data[0])
    scope = trio.CancelScope(
        deadline=trio.current_time() + (limits.request_timeout if started else limits.idle_timeout)
    )
    head: h11.Request | None = None
    headers: dict[bytes, bytes] = {}
    chunks: list[bytes] = []
    size = 0
    with scope:
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                return _error(exc.error_status_hint, f"bad request: {exc}")
            if event is h11.NEED_DATA:
                data = await stream.receive_some(_RECEIVE_SIZE)
                if not started:
                    started = True
                    scope.deadline = trio.current_time() + limits.request_timeout
                conn.receive_data(data)
            elif isinstance(event, h11.Request):
                head = event
                headers = dict(event.headers)  # lower-case names; a repeated one keeps its last
                refusal = _refuse_head(event, limits)
                if refusal is not None:
                    return refusal
                length = headers.get(b"content-length")  # h11 has checked that it is a number
                if length is not None and int(length) > limits.max_body_bytes:
                    return _error(
                        413, f"body of {int(length)} bytes exceeds {limits.max_body_bytes}"
                    )
                if conn.they_are_waiting_for_100_continue:
                    await stream.send_all(
                        conn.send(h11.InformationalResponse(status_code=100, headers=[])) or b""
                    )
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > limits.max_body_bytes:
                    return _error(413, f"body exceeds {limits.max_body_bytes} bytes")
                chunks.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                return Request(head.method, head.target, headers, body)
            else:  # ConnectionClosed, or PAUSED after a client's must-close
                return None
    if head is None and size == 0 and conn.their_state is h11.IDLE and not _has_pending(conn):
        return None  # an idle keep-alive connection timed out: close quietly
    return _error(408, "the request did not arrive in time")


def _refuse_head(event: h11.Request, limits: HttpLimits) -> Response | None:
    """An error answer for a request head we will not serve, or ``None``."""
    if event.http_version not in (b"1.1", b"1.0"):
        return _error(505, f"HTTP/{event.http_version.decode('ascii', 'replace')} unsupported")
    # h11 bounds only a head that arrives in pieces; one that arrives whole is measured here
    size = len(event.target) + sum(len(name) + len(value) + 4 for name, value in event.headers)
    if size > limits.max_header_bytes:
        return _error(431, f"request head exceeds {limits.max_header_bytes} bytes")
    return None


def _has_pending(conn: h11.Connection) -> bool:
    return bool(conn.trailing_data[0])


async def serve_connection(
    stream: trio.SocketStream, handler: Handler, limits: HttpLimits, *, name: str
) -> None:
    """Serve HTTP/1.1 requests on *stream* with *handler* until either side closes.

    *name* is the server's (the ``Server`` header, its log lines' actor, its 500 answers).

    Closes *stream* on return. The client going away at any point is normal and not an error.

    Cancellation: the connection is closed (with a reset if :func:`reset` was called on it).
    """
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_header_bytes)
    try:
        while True:
            request = await _receive_request(stream, conn, limits)
            if request is None:
                return
            if isinstance(request, Response):
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    await _send(stream, conn, request, name.encode())
                    await _lingering_close(stream)
                return
            try:
                outcome = await handler(request)
            except Exception as exc:  # a bug in the handler: answer 500, keep serving others
                get_logger(actor=name).exception("request handler failed")
                outcome = _error(500, f"internal error in {name}: {exc!r}")
            if outcome is RESET:
                reset(stream)
                return
            if outcome is HANG:
                await _hang(stream)
                return
            assert isinstance(outcome, Response)
            await _send(stream, conn, outcome, name.encode())
            if conn.our_state is h11.MUST_CLOSE:
                await _lingering_close(stream)
                return
            conn.start_next_cycle()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return
    except h11.LocalProtocolError:
        return  # the client closed mid-answer or sent something h11 will not answer
    finally:
        with trio.CancelScope(shield=True):
            await stream.aclose()
