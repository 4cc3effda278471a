"""The client's HTTP work in a process of its own.

Under a burst of uploads, httpx (building the request, h11, TLS, the socket calls, parsing the
answer) is the largest cost in a node's process: ~1.8 ms of CPU per report on the project's
machine, a third of the node's work per file. :func:`open_process_exchange` moves it to a
helper process (``python -m pywats_actors.client._sender``) and keeps only the classification
of answers here, so the node's own core stays free for watching, converting and spooling, and a
two-core station uses both cores.

What travels: one ``Call`` frame per exchange (route, report id, body) down the process's
standard input, one ``Reply`` (status, the headers that matter, capped body) or ``Failed`` (the
transport error's class and details) back on its standard output (``_wire``). The caller gets an
:class:`~pywats_actors.client._exchange.Answer` or the same :class:`WatsTransportError` the
in-process client raises.

Life of the process:

* it starts with the first call, which waits for it (about 0.3 s); later calls find it running;
* if it dies, every call in flight fails with :class:`WatsConnectionLost` (the server may have
  the report: the uploader retries with the same id, and the server keeps one copy), it is
  started again after a backoff (0.1 s doubling to 10 s, reset after 30 s of good health), and
  calls made while it cannot be started fail at once with :class:`WatsConnectError` (nothing was
  sent), which the uploader treats like a network that is down;
* a call that gets no answer within ``attempt_timeout`` + 10 s (the process enforces the
  attempt deadline itself, so this means it is stuck) fails with a ``WatsTimeout`` and the
  process is replaced;
* the node's stop request does not signal it: in-flight uploads finish or are cancelled by
  their callers (a ``Cancel`` frame stops the exchange there too). When the block closes,
  nothing is in flight any more; the process is killed and reaped. If the parent dies first,
  the process sees its standard input end and exits.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import msgspec
import trio

from supervisors import FrameError, FrameReader, describe_returncode, open_supervised_process

from .._logging import get_logger
from ._errors import (
    WatsConnectError,
    WatsConnectionLost,
    WatsProtocolError,
    WatsTimeout,
    WatsTLSError,
    WatsTransportError,
)
from ._exchange import Answer, Route
from ._settings import WatsClientSettings
from ._wire import (
    Call,
    Cancel,
    Failed,
    Open,
    Ready,
    Reply,
    encode,
    from_process,
    write_frames,
)

__all__ = ["ProcessExchange", "open_process_exchange"]

_START_TIMEOUT = 30.0
_STUCK_AFTER = 10.0
_CLOSE_WAIT = 2.0
_BACKOFF_MIN = 0.1
_BACKOFF_MAX = 10.0
_HEALTHY_AFTER = 30.0
_ERRORS: dict[str, type[WatsTransportError]] = {
    cls.__name__: cls
    for cls in (WatsConnectError, WatsConnectionLost, WatsProtocolError, WatsTransportError)
}


@dataclass(eq=False)
class _Slot:
    """Where the answer to one call lands."""

    sent_at: float
    done: trio.Event = field(default_factory=trio.Event)
    answer: Reply | Failed | None = None


class _Link:
    """One running process: its pending calls and the queue of frames to write."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.pending: dict[int, _Slot] = {}
        self.send, self.outgoing = trio.open_memory_channel[bytes](math.inf)
        self.dead = False
        self.scope = trio.CancelScope()

    def fail_all(self, detail: str, error: str = "WatsConnectionLost") -> None:
        self.dead = True
        for seq, slot in self.pending.items():
            if slot.answer is None:
                slot.answer = Failed(seq, error, detail, phase="attempt")
                slot.done.set()
        self.pending.clear()

    async def watch_for_a_stall(self, stuck_after: float) -> None:
        """Kill the process when a call has had no answer for *stuck_after* seconds (the
        process enforces the attempt deadline itself, so it has stopped working). One timer
        for all calls, instead of a cancel scope per call."""
        while True:
            await trio.sleep(max(0.05, stuck_after / 4))
            now = trio.current_time()
            if any(now - slot.sent_at >= stuck_after for slot in self.pending.values()):
                self.fail_all(
                    f"the upload process gave no answer within {stuck_after:g} s; replaced",
                    error="WatsTimeout",
                )
                self.scope.cancel()
                return


class ProcessExchange:
    """An :class:`~pywats_actors.client._exchange.Exchange` done by the upload process.

    Get one from :func:`open_process_exchange`.
    """

    def __init__(self, settings: WatsClientSettings) -> None:
        self._settings = settings
        self._stuck_after = settings.attempt_timeout + _STUCK_AFTER
        self._reply_limit = settings.max_answer_bytes + (1 << 20)
        self._link: _Link | None = None
        self._start_failure: str | None = None
        self._changed = trio.Event()
        self._wanted = trio.Event()
        self._seq = 0
        self._closed = False
        self.starts = 0
        self._log = get_logger(actor="uplink/http-process")

    @property
    def pid(self) -> int | None:
        """The process's id while it runs and is ready, else ``None``."""
        link = self._link
        return link.pid if link is not None and not link.dead else None

    async def __call__(self, route: Route, body: bytes | None, report_id: str | None) -> Answer:
        """Do one exchange in the upload process; see the module's docstring for failures."""
        link = await self._ready_link(report_id)
        self._seq += 1
        seq = self._seq
        slot = _Slot(trio.current_time())
        link.pending[seq] = slot
        try:
            link.send.send_nowait(encode(Call(seq, route, body, report_id)))
            await slot.done.wait()
        finally:
            if slot.answer is None and not link.dead:  # the caller was cancelled
                link.pending.pop(seq, None)
                link.send.send_nowait(encode(Cancel(seq)))
        answer = slot.answer
        assert answer is not None
        if isinstance(answer, Reply):
            return Answer(answer.status, answer.headers, answer.body, answer.truncated)
        raise _error(answer, report_id)

    async def _ready_link(self, report_id: str | None) -> _Link:
        self._wanted.set()
        while True:
            link = self._link
            if link is not None and not link.dead:
                return link
            if self._closed:
                raise WatsConnectError("the client is closed", report_id=report_id)
            if self._start_failure is not None:
                raise WatsConnectError(self._start_failure, report_id=report_id)
            await self._changed.wait()

    def _set(self, link: _Link | None, failure: str | None) -> None:
        self._link, self._start_failure = link, failure
        self._changed.set()
        self._changed = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep a process running until cancelled, restarting it with backoff when it dies.

        The first process starts with the first call, so a client that never submits (or a
        node that starts up) does not pay for it.
        """
        task_status.started()
        await self._wanted.wait()
        delay = _BACKOFF_MIN
        while True:
            started = trio.current_time()
            detail = await self._run_once()
            if trio.current_time() - started >= _HEALTHY_AFTER:
                delay = _BACKOFF_MIN
            self._log.warning("upload process ended; starting another", reason=detail, delay=delay)
            await trio.sleep(delay)
            delay = min(_BACKOFF_MAX, delay * 2)
            self._set(None, None)

    async def _run_once(self) -> str:
        """Start one process, serve calls through it until it ends; returns why it ended."""
        self.starts += 1
        command = [sys.executable, "-m", "pywats_actors.client._sender"]
        link: _Link | None = None
        problem: str | None = None
        try:
            async with open_supervised_process(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, term_signal=None
            ) as process:
                link = _Link(process.pid)
                problem = await self._serve(process, link)
                if problem is None and not link.scope.cancelled_caught:
                    with trio.move_on_after(_CLOSE_WAIT):
                        await process.wait()
        except OSError as exc:  # could not even spawn it
            problem = str(exc)
        if link is None or self._link is not link:  # it never became ready
            self._set(None, f"the upload process could not be started: {problem or 'it exited'}")
        if link is not None and link.scope.cancelled_caught:
            detail = "the upload process was stuck and was killed"
        elif problem is not None:
            detail = f"the upload process failed: {problem}"
        else:
            code = process.returncode
            how = "did not exit and was killed" if code is None else describe_returncode(code)
            detail = f"the upload process {how}"
        if link is not None:
            link.fail_all(detail)
        return detail

    async def _serve(self, process: trio.Process, link: _Link) -> str | None:
        """Handshake, then pass frames both ways until the process's output ends.

        Returns what went wrong, or ``None`` when the process simply ended.
        """
        assert process.stdin is not None
        assert process.stdout is not None
        stdin = process.stdin
        frames = FrameReader(process.stdout, self._reply_limit)
        problem: str | None = None
        try:
            with link.scope:
                await stdin.send_all(encode(Open(self._settings)))
                with trio.fail_after(_START_TIMEOUT):
                    first = await frames.receive()
                if first is None or not isinstance(from_process.decode(first), Ready):
                    raise FrameError("it did not say it was ready")
                self._set(link, None)
                self._log.debug("upload process ready", pid=process.pid)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(write_frames, stdin, link.outgoing)
                    nursery.start_soon(link.watch_for_a_stall, self._stuck_after)
                    await _read_answers(frames, link)
                    nursery.cancel_scope.cancel()
        except* (
            OSError,
            FrameError,
            msgspec.DecodeError,
            trio.TooSlowError,
            trio.BrokenResourceError,
        ) as group:
            problem = "; ".join(str(exc) or type(exc).__name__ for exc in group.exceptions)
        return problem

    async def aclose(self) -> None:
        """Refuse new calls (the process itself ends with the block that started it)."""
        self._closed = True
        self._set(None, None)


async def _read_answers(frames: FrameReader, link: _Link) -> None:
    """Hand each answer to its caller until the process closes its output."""
    while (payload := await frames.receive()) is not None:
        message = from_process.decode(payload)
        if isinstance(message, Ready):
            raise FrameError("it said it was ready twice")
        slot = link.pending.pop(message.seq, None)
        if slot is not None:  # else the caller gave up on it
            slot.answer = message
            slot.done.set()


def _error(failed: Failed, report_id: str | None) -> WatsTransportError:
    if failed.error == "WatsTimeout":
        return WatsTimeout(failed.detail, phase=failed.phase or "read", report_id=report_id)
    if failed.error == "WatsTLSError":
        return WatsTLSError(
            failed.detail, certificate_invalid=failed.certificate_invalid, report_id=report_id
        )
    cls = _ERRORS.get(failed.error, WatsConnectionLost)
    return cls(failed.detail, report_id=report_id)


@asynccontextmanager
async def open_process_exchange(settings: WatsClientSettings) -> AsyncIterator[ProcessExchange]:
    """Yield the exchange that uses the upload process (started by its first call)."""
    exchange = ProcessExchange(settings)
    async with trio.open_nursery() as nursery:
        await nursery.start(exchange.run)
        try:
            yield exchange
        finally:
            await exchange.aclose()
            nursery.cancel_scope.cancel()
