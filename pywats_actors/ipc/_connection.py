"""One IPC connection: read messages, hold the client to its limits, answer in order.

Every limit only ever hurts the connection that meets it: a message over the size limit, a
byte that is not msgpack, a message that does not arrive whole within ``read_timeout``, a
silence longer than ``idle_timeout`` or a client that does not read its answers within
``request_timeout`` closes this connection (with an error message first where one can be
sent). Requests beyond the token bucket are answered ``RATE_LIMITED``; after ``burst`` such
answers in a row the connection is closed.
"""

from __future__ import annotations

from typing import Any

import trio

from .._logging import get_logger
from ._errors import FrameInvalid, FrameTooLarge, IpcCallError
from ._framing import Framer
from ._methods import METHODS, IpcContext, Reply
from ._protocol import (
    ErrorCode,
    Notification,
    Request,
    Response,
    decode_message,
    encode_response,
    error_value,
    single_map,
)

__all__ = ["Connection", "TokenBucket"]

_CHUNK = 65536


class TokenBucket:
    """*rate* tokens a second, at most *burst* saved up."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._last = trio.current_time()

    def take(self) -> bool:
        """Take one token if there is one."""
        now = trio.current_time()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class Connection:
    """Serves one client on *stream*."""

    def __init__(self, ctx: IpcContext, stream: trio.abc.Stream) -> None:
        self.ctx = ctx
        self.stream = stream
        settings = ctx.settings
        self.framer = Framer(settings.max_message_kb * 1024)
        self.bucket = TokenBucket(settings.rate_per_second, settings.burst)
        self.authenticated = False
        self.refused_in_a_row = 0

    async def serve(self) -> None:
        """Until the client leaves, breaks a limit or fails the handshake."""
        settings = self.ctx.settings
        deadline: float | None = None  # when the message being received must be whole
        while True:
            if self.framer.pending:
                if deadline is None:
                    deadline = trio.current_time() + settings.read_timeout
                timeout = deadline - trio.current_time()
            else:
                deadline = None
                timeout = settings.idle_timeout
            data: bytes | bytearray = b""
            with trio.move_on_after(max(timeout, 0)):
                data = await self.stream.receive_some(_CHUNK)
                if not data:
                    return  # the client closed
            if not data:
                what = "a message incomplete" if self.framer.pending else "no message"
                self.ctx.counters.closed_for_limits += 1
                await self._send(None, error_value(ErrorCode.TIMEOUT, f"closed: {what} in time"))
                return
            try:
                messages = self.framer.feed(data)
            except FrameTooLarge as exc:
                await self._close_with(ErrorCode.TOO_LARGE, f"closed: {exc}")
                return
            except FrameInvalid as exc:
                await self._close_with(ErrorCode.PARSE_ERROR, f"closed: {exc}")
                return
            for message in messages:
                if not await self._handle(message):
                    return

    async def _close_with(self, code: ErrorCode, message: str) -> None:
        self.ctx.counters.closed_for_limits += 1
        await self._send(None, error_value(code, message))

    async def _handle(self, data: bytes) -> bool:
        """Answer one message; False closes the connection."""
        try:
            message = decode_message(data)
        except IpcCallError as exc:
            self.ctx.counters.errors += 1
            return await self._send(None, exc.value()) and self.authenticated
        if not self.bucket.take():
            self.ctx.counters.rate_limited += 1
            self.refused_in_a_row += 1
            msgid = message.msgid if isinstance(message, Request) else None
            error = error_value(
                ErrorCode.RATE_LIMITED,
                f"more than {self.ctx.settings.rate_per_second:g} requests a second",
            )
            if self.refused_in_a_row >= self.ctx.settings.burst:
                self.ctx.counters.closed_for_limits += 1
                await self._send(msgid, error_value(ErrorCode.RATE_LIMITED, "closed: flooding"))
                return False
            return await self._send(msgid, error)
        self.refused_in_a_row = 0
        if isinstance(message, Response):
            self.ctx.counters.errors += 1
            error = error_value(ErrorCode.INVALID_REQUEST, "clients send requests, not responses")
            return await self._send(message.msgid, error) and self.authenticated
        if isinstance(message, Notification):
            if not self.authenticated:
                error = error_value(ErrorCode.HANDSHAKE_REQUIRED, "the first call must be hello")
                await self._send(None, error)
                return False
            return True  # no notification is defined for clients: ignored, as the spec says
        return await self._request(message)

    async def _request(self, request: Request) -> bool:
        counters = self.ctx.counters
        counters.requests += 1
        if not self.authenticated and request.method != "hello":
            counters.errors += 1
            error = error_value(ErrorCode.HANDSHAKE_REQUIRED, "the first call must be hello")
            await self._send(request.msgid, error)
            return False
        method = METHODS.get(request.method)
        result: Any = None
        after = None
        try:
            if method is None:
                raise IpcCallError(
                    ErrorCode.METHOD_NOT_FOUND,
                    f"no method {request.method[:100]!r}",
                    {"methods": sorted(METHODS)},
                )
            params = single_map(request.params)
            with trio.fail_after(self.ctx.settings.request_timeout):
                result = await method(self.ctx, params)
            if isinstance(result, Reply):
                result, after = result.result, result.after
        except IpcCallError as exc:
            counters.errors += 1
            sent = await self._send(request.msgid, exc.value())
            return sent and self.authenticated
        except trio.TooSlowError:
            counters.errors += 1
            error = error_value(ErrorCode.TIMEOUT, f"{request.method} took too long")
            return await self._send(request.msgid, error)
        except Exception as exc:
            counters.errors += 1
            get_logger().exception("ipc method failed", method=request.method)
            error = error_value(ErrorCode.INTERNAL, f"{request.method} failed: {exc!r}"[:500])
            return await self._send(request.msgid, error) and self.authenticated
        if request.method == "hello":
            self.authenticated = True
        sent = await self._send(request.msgid, None, result)
        if after is not None:
            after()
        return sent

    async def _send(self, msgid: int | None, error: list[Any] | None, result: Any = None) -> bool:
        """Send one response; False if the client did not take it in time (or is gone)."""
        data = encode_response(msgid, error, result)
        with trio.move_on_after(self.ctx.settings.request_timeout):
            try:
                await self.stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return False
            return True
        self.ctx.counters.closed_for_limits += 1
        return False
