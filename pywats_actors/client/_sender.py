"""The upload process: ``python -m pywats_actors.client._sender``, started by ``_process``.

It reads frames from its standard input (``Open``, then ``Call`` and ``Cancel``), does each
exchange with httpx (:class:`~pywats_actors.client._exchange.HttpExchange`, the same code the
in-process client runs), and writes one ``Reply`` or ``Failed`` per call to its standard output.
Calls run concurrently; the connection pool bounds how many are on the wire.

Its life belongs to the parent: it ignores SIGTERM and SIGINT (so a stop request to the node
does not cut uploads that are draining) and ends when its standard input closes, which also
happens when the parent dies; calls still in flight then are abandoned (their callers are gone,
and a report whose answer nobody heard is sent again with the same id). A parent that died
(even by ``kill -9``, in the middle of a frame, or before the answers could be written back)
ends it quietly, with status 0.

Its standard error is the node's log stream, so it writes only JSON log lines there, in the
node's JSON format: an unexpected error in a call (answered as a lost connection, which the
uploader retries with the same report id), a bad frame from a living parent, Python warnings
and unraisable exceptions. Never a plain-text traceback.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import warnings
from types import TracebackType
from typing import Any, TextIO

import msgspec
import trio

from supervisors import FrameError, FrameReader

from .._failpoints import failpoint
from .._logging import configure_logging, get_logger
from ._answers import ANSWER_HEADERS
from ._client import open_http_exchange
from ._errors import WatsTimeout, WatsTLSError, WatsTransportError
from ._exchange import Exchange
from ._wire import (
    Call,
    Cancel,
    Failed,
    Open,
    Ready,
    Reply,
    encode,
    from_parent,
    write_frames,
)

__all__ = ["main"]

_CALL_LIMIT = 1 << 30  # a frame carries one report; the spool bounds what a report can be


_PARENT_GONE = (trio.BrokenResourceError, trio.ClosedResourceError, BrokenPipeError)
"""What writing the answers back raises once the parent has closed its end (it died)."""

_log = get_logger(actor="uplink/http-process")


def main() -> int:
    """Serve until standard input ends.

    The exit status is 0 (the input ended, or the parent died), 2 on a protocol error from a
    living parent, 1 on anything else unexpected (logged as one JSON line).
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()
    configure_logging(fmt="json", level="info")
    _only_json_on_stderr()
    status = 0
    try:
        trio.run(_serve)
    except* _PARENT_GONE:
        pass  # the parent is gone, and with it whoever wanted the answers
    except* (FrameError, msgspec.DecodeError) as group:
        if os.getppid() == parent:  # else it died in the middle of a frame
            _log.error("bad frame from the node", error=str(group.exceptions[0]))
            status = 2
    except* Exception as group:
        _log.error("upload process failed", exc_info=group)
        status = 1
    return status


def _only_json_on_stderr() -> None:
    """Route what Python itself would print to standard error through the JSON log."""

    def show_warning(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        _log.warning(
            "python warning",
            category=category.__name__,
            warning=str(message),
            where=f"{filename}:{lineno}",
        )

    def unraisable(info: Any) -> None:
        _log.error(
            "unraisable exception",
            error=repr(info.exc_value),
            where=repr(info.object),
        )

    def uncaught(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        _log.error("upload process failed", exc_info=(kind, value, tb))

    warnings.showwarning = show_warning
    sys.unraisablehook = unraisable
    sys.excepthook = uncaught


async def _serve() -> None:
    frames = FrameReader(trio.lowlevel.FdStream(os.dup(0)), _CALL_LIMIT)
    out = trio.lowlevel.FdStream(os.dup(1))
    first = await frames.receive()
    if first is None:
        return
    opened = from_parent.decode(first)
    if not isinstance(opened, Open):
        raise FrameError(f"the first frame must be 'open', not {type(opened).__name__}")
    send, outgoing = trio.open_memory_channel[bytes](math.inf)
    calls: dict[int, trio.CancelScope] = {}
    async with open_http_exchange(opened.settings) as exchange, trio.open_nursery() as nursery:
        nursery.start_soon(write_frames, out, outgoing)
        send.send_nowait(encode(Ready(pid=os.getpid())))
        while (payload := await frames.receive()) is not None:
            message = from_parent.decode(payload)
            if isinstance(message, Call):
                scope = trio.CancelScope()
                calls[message.seq] = scope
                nursery.start_soon(_call, exchange, message, scope, calls, send)
            elif isinstance(message, Cancel):
                cancelled = calls.get(message.seq)
                if cancelled is not None:
                    cancelled.cancel()
        nursery.cancel_scope.cancel()


async def _call(
    exchange: Exchange,
    call: Call,
    scope: trio.CancelScope,
    calls: dict[int, trio.CancelScope],
    send: trio.MemorySendChannel[bytes],
) -> None:
    try:
        with scope:
            try:
                answer = await exchange(call.route, call.body, call.report_id)
                failpoint("sender.answered")
            except WatsTransportError as exc:
                send.send_nowait(encode(_failed(call.seq, exc)))
            except Exception as exc:
                _log.error("upload call failed", report_id=call.report_id, exc_info=True)
                detail = f"the upload process failed: {exc!r}"
                send.send_nowait(encode(Failed(call.seq, "WatsConnectionLost", detail)))
            else:
                headers = {
                    name: value
                    for name in ANSWER_HEADERS
                    if (value := answer.headers.get(name)) is not None
                }
                reply = Reply(call.seq, answer.status, headers, answer.body, answer.truncated)
                send.send_nowait(encode(reply))
    finally:
        calls.pop(call.seq, None)


def _failed(seq: int, exc: WatsTransportError) -> Failed:
    return Failed(
        seq,
        type(exc).__name__,
        exc.detail,
        phase=exc.phase if isinstance(exc, WatsTimeout) else None,
        certificate_invalid=isinstance(exc, WatsTLSError) and exc.certificate_invalid,
    )


if __name__ == "__main__":
    sys.exit(main())
