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

Life of the process: it is a supervised child (:meth:`ProcessExchange.child_spec`), so its
restart policy is its supervisor's: the node runs it under the uplink supervisor, a standalone
client (:func:`open_process_exchange`) under a small supervisor of its own.

* it starts with the first call, which waits for it (about 0.3 s); later calls find it running;
* if it dies, every call in flight fails with :class:`WatsConnectionLost` (the server may have
  the report: the uploader retries with the same id, and the server keeps one copy), the child
  exits as crashed and its supervisor starts it again after :data:`PROCESS_BACKOFF` (0.1 s
  doubling to 10 s, reset after 30 s of good health); calls made while it cannot be started
  fail at once with :class:`WatsConnectError` (nothing was sent), which the uploader treats like
  a network that is down;
* a call that gets no answer within ``attempt_timeout`` + 10 s (the process enforces the
  attempt deadline itself, so this means it is stuck) fails with a ``WatsTimeout`` and the
  process is killed and replaced;
* the stop request does not signal it: the uploader (a later sibling) stops first, so uploads
  in flight finish or are cancelled by their callers (a ``Cancel`` frame stops the exchange
  there too); then the child closes the process's standard input, and it exits. If it does not
  within 2 s, or the child is cancelled, it is killed and reaped. If the parent dies first, the
  process sees its standard input end and exits quietly.
"""

from __future__ import annotations

import contextlib
import math
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import msgspec
import trio

from supervisors import (
    Backoff,
    ChildContext,
    ChildSpec,
    FrameError,
    FrameReader,
    ProcessExited,
    Timeout,
    current_child_or_none,
    describe_returncode,
    open_supervised_process,
    open_supervisor,
)

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

__all__ = ["PROCESS_BACKOFF", "ProcessExchange", "open_process_exchange"]

_START_TIMEOUT = 30.0
_STUCK_AFTER = 10.0
_CLOSE_WAIT = 2.0
PROCESS_BACKOFF = Backoff(min=0.1, max=10.0, reset_after=30.0)
"""Restarts of the upload process: 0.1 s doubling to 10 s (plus up to 20 % jitter), back to
0.1 s after 30 s of good health."""
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
            try:
                link.send.send_nowait(encode(Call(seq, route, body, report_id)))
            except trio.ClosedResourceError:  # its supervisor is stopping it
                link.pending.pop(seq, None)
                raise WatsConnectError(
                    "the upload process is stopping", report_id=report_id
                ) from None
            await slot.done.wait()
        finally:
            if slot.answer is None and not link.dead and seq in link.pending:  # cancelled
                link.pending.pop(seq, None)
                with contextlib.suppress(trio.ClosedResourceError):
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

    def child_spec(self, id: str = "upload-process") -> ChildSpec:
        """The upload process as a supervised child: :meth:`run_process`, restarted with
        :data:`PROCESS_BACKOFF` by the supervisor that runs it."""
        return ChildSpec(
            id, self.run_process, backoff=PROCESS_BACKOFF, shutdown=Timeout(_CLOSE_WAIT + 3)
        )

    async def run_process(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """One upload process, from its start to its end: a supervised child's function.

        Ready at once; the process itself starts with the first call (a client that never
        submits, or a node that starts up, does not pay for it), or at once in a later
        incarnation. On its supervisor's stop request the process's input is closed, and it
        exits when what it was doing is done (the uploader stops first, so nothing is).

        Raises:
            ProcessExited: the process ended by itself; calls in flight failed with
                :class:`WatsConnectionLost`.
            WatsConnectionLost: it could not be started, broke the protocol, or was stuck and
                was killed; calls in flight failed, calls made until the next incarnation is
                ready fail at once with :class:`WatsConnectError` if it could not start.
        """
        ctx = current_child_or_none()
        stopping = trio.Event()
        task_status.started()
        async with trio.open_nursery() as nursery:
            if ctx is not None:
                nursery.start_soon(_set_on_stop, ctx, stopping)
            await _either(self._wanted, stopping)
            crash: Exception | None = None
            if not stopping.is_set():
                crash = await self._run_once(stopping, ctx)
            nursery.cancel_scope.cancel()
        if crash is not None:
            raise crash

    async def _run_once(
        self, stopping: trio.Event, ctx: ChildContext | None = None
    ) -> Exception | None:
        """Start one process and serve calls through it until it ends; why it ended, if it
        was not asked to. Its pid is reported to the supervised child *ctx* (statistics)."""
        self._set(None, None)
        self.starts += 1
        command = [sys.executable, "-m", "pywats_actors.client._sender"]
        link: _Link | None = None
        problem: str | None = None
        code: int | None = None
        try:
            async with open_supervised_process(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, term_signal=None
            ) as process:
                link = _Link(process.pid)
                if ctx is not None:
                    ctx.report_process(process.pid)
                try:
                    problem = await self._serve(process, link, stopping)
                finally:
                    if ctx is not None:
                        ctx.report_process(None)
                if problem is None and not link.scope.cancelled_caught:
                    with trio.move_on_after(_CLOSE_WAIT):
                        code = await process.wait()
        except OSError as exc:  # could not even spawn it
            problem = str(exc)
        if link is None or self._link is not link:  # it never became ready
            self._set(None, f"the upload process could not be started: {problem or 'it exited'}")
        elif self._link is link:
            self._set(None, None)
        if link is not None and link.scope.cancelled_caught:
            detail = "the upload process was stuck and was killed"
        elif problem is not None:
            detail = f"the upload process failed: {problem}"
        else:
            how = "did not exit and was killed" if code is None else describe_returncode(code)
            detail = f"the upload process {how}"
        if link is not None:
            link.fail_all(detail)
        if stopping.is_set() and problem is None and code is not None:
            self._log.debug("upload process stopped", pid=link.pid if link else None)
            return None
        if code is not None and code != 0:
            assert link is not None
            return ProcessExited(link.pid, code)
        return WatsConnectionLost(detail)

    async def _serve(self, process: trio.Process, link: _Link, stopping: trio.Event) -> str | None:
        """Handshake, then pass frames both ways until the process's output ends; once
        *stopping* is set, close its input (it then ends).

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
                    nursery.start_soon(_write_until_stopped, stdin, link, stopping)
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


async def _set_on_stop(ctx: ChildContext, stopping: trio.Event) -> None:
    await ctx.wait_stop_requested()
    stopping.set()


async def _either(first: trio.Event, second: trio.Event) -> None:
    """Wait until one of two events is set."""
    async with trio.open_nursery() as nursery:

        async def wait(event: trio.Event) -> None:
            await event.wait()
            nursery.cancel_scope.cancel()

        nursery.start_soon(wait, first)
        nursery.start_soon(wait, second)


async def _write_until_stopped(
    stdin: trio.abc.SendStream, link: _Link, stopping: trio.Event
) -> None:
    """Write the calls' frames; on the stop request, close the process's input (its signal to
    end), after the frames already queued."""
    async with trio.open_nursery() as nursery:

        async def close_on_stop() -> None:
            await stopping.wait()
            link.send.close()

        nursery.start_soon(close_on_stop)
        await write_frames(stdin, link.outgoing)
        nursery.cancel_scope.cancel()
    await stdin.aclose()


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
async def open_process_exchange(
    settings: WatsClientSettings, *, supervise: bool = True
) -> AsyncIterator[ProcessExchange]:
    """Yield the exchange that uses the upload process (started by its first call).

    With *supervise* (standalone use) a small supervisor of its own runs the process child
    (:data:`PROCESS_BACKOFF`; at that pace it never reaches the intensity of 20 restarts in
    60 s, so it never gives up). Without it, the caller must run
    :meth:`ProcessExchange.child_spec` in its own supervision tree (the node does, under the
    uplink supervisor), or calls wait for a process forever.
    """
    exchange = ProcessExchange(settings)
    if not supervise:
        try:
            yield exchange
        finally:
            await exchange.aclose()
        return
    async with open_supervisor(
        [exchange.child_spec()],
        name="upload-process",
        intensity=20,
        period=60,
        stop_grace=_CLOSE_WAIT + 3,
    ):
        try:
            yield exchange
        finally:
            await exchange.aclose()
