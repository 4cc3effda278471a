"""The converter pool: N sandboxed worker processes under a dynamic supervisor.

Each worker slot is a permanent child of a :class:`~supervisors.DynamicSupervisor` with backoff.
A slot's child runs one worker process at a time: it starts it (handshake included) and then
serves jobs on it, one at a time, so callers of :meth:`ConverterPool.convert` wait for a free
worker (bounded concurrency, first come first served).

The hand-over costs as few trips through trio's scheduler as it can. A slot with nothing to do
waits for its worker's output (which is also how it notices the worker dying), listed as idle. A
caller that finds an idle worker starts the job itself, in its own task, by writing the request
to the worker's pipe, and then waits for the outcome; the slot wakes up once, for the answer.
Callers that find no idle worker queue; a slot that has finished a job starts the next queued
one before it goes idle. One cancel scope covers a slot's waiting until something interrupts it;
a job's wall-clock timeout is that scope's deadline while the job runs.

When a process dies or is killed while converting, the caller gets the failure and the child raises
:class:`~converters.WorkerLost`: the supervisor restarts the slot after its backoff delay, and gives
up (failing the pool) only if restarts exceed its intensity. The caller then retries the file once
on a *fresh* process - one that has converted nothing before, so no state left by earlier files
can be the cause - and only the second failure is final. A retry for which no fresh process can
be started, and a file the pool stopped before or while converting, get
:class:`~converters.Unavailable`: nothing is known against the file, and the caller tries later.

A process is also replaced on purpose, without a crash ("recycled"): to give a retry a fresh
process, after ``max_conversions_per_worker`` files, before its CPU lifetime runs out, after an
out-of-memory answer, and when a converter left processes behind.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import math
import random
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Literal, NoReturn

import msgspec
import trio

from supervisors import (
    Backoff,
    ChildContext,
    ChildSpec,
    ChildStartError,
    DynamicSupervisor,
    EventObserver,
    Restart,
    Timeout,
    current_child,
)

from ._discovery import absolute_ref
from ._errors import (
    ConverterApiMismatch,
    ConverterArgumentsError,
    ConverterInvalid,
    ConverterLoadError,
    ConverterNotFound,
    PoolClosed,
    SandboxUnavailable,
    UnknownConverter,
    WorkerLost,
    WorkerStartError,
)
from ._finish import finish
from ._identity import content_hash
from ._process import JobFailure, WorkerProcess, _Watch, describe_exit, open_worker
from ._protocol import (
    ConverterInfo,
    ConverterSetup,
    Done,
    FrameError,
    Hello,
    LoadFailure,
    Refused,
    Request,
    Setup,
    encode_frame,
)
from ._results import (
    ConversionResult,
    Converted,
    Crashed,
    OutOfMemory,
    PoolStatistics,
    Rejected,
    TimedOut,
    Unavailable,
    WorkerStatistics,
)
from ._sandbox import SandboxInfo, required_but_unavailable
from ._sdk import SUPPORTED_API_VERSIONS
from ._settings import ConverterConfig, PoolSettings

__all__ = ["DEFAULT_CONVERTERS", "ConverterPool", "open_converter_pool"]

logger = logging.getLogger("converters.pool")

DEFAULT_CONVERTERS: tuple[ConverterConfig, ...] = (ConverterConfig("wsjf"), ConverterConfig("csv"))
"""The converters a pool loads when it is given none: the built-ins."""

_HASH_IN_THREAD = 1 << 20
_MiB = 1 << 20


@dataclass(frozen=True, slots=True)
class _Unrun:
    """The job could not run (to its end): the pool stopped, or no worker could be started.
    The caller gets :class:`Unavailable`: nothing is known about the file."""

    reason: str


_ABORTED = _Unrun("the converter pool stopped while converting the file")
_NOT_STARTED = _Unrun("the converter pool stopped before a worker took the file")
_Outcome = Done | Refused | JobFailure | _Unrun


@dataclass(eq=False, slots=True)
class _Job:
    id: int
    name: str
    converter: str | None
    fresh: bool
    queued_at: float
    request: bytes  # the Request frame, encoded by the caller (whose error it is if it fails)
    started_at: float = 0.0
    state: Literal["new", "queued", "taken"] = "new"
    outcome: _Outcome | None = None
    done: trio.Event = field(default_factory=trio.Event)

    def complete(self, outcome: _Outcome) -> None:
        if self.outcome is None:
            self.outcome = outcome
            self.done.set()


@dataclass(eq=False, slots=True)
class _Slot:
    id: str
    state: Literal["starting", "idle", "busy", "down"] = "starting"
    pid: int | None = None
    conversions: int = 0
    processes: int = 0

    def snapshot(self) -> WorkerStatistics:
        return WorkerStatistics(self.id, self.state, self.pid, self.conversions, self.processes)


@dataclass(slots=True)
class _Counters:
    conversions: int = 0
    converted: int = 0
    rejected: int = 0
    crashed: int = 0
    timed_out: int = 0
    out_of_memory: int = 0
    retries: int = 0
    worker_crashes: int = 0
    recycles: int = 0
    unavailable: int = 0
    waiting: int = 0
    busy: int = 0


@dataclass(frozen=True, slots=True)
class _Recycle:
    pending: _Job | None


class ConverterPool:
    """Sandboxed converter workers and the API the node converts files with.

    Args:
        settings: pool size and limits (:class:`PoolSettings`).
        converters: what to load, in detection-tie order; a string is a reference with no
            arguments. Default: the built-ins (``wsjf``, ``csv``).
        station_namespace: the station's namespace UUID for deterministic report ids.
        observers: receive every supervisor event of the worker supervisor.
        on_workers: called with the reason when no worker process can be started any more (every
            slot's last start failed: conversions then answer :class:`Unavailable` at once),
            and with ``None`` when one has started again. Without it, both are logged.

    Run it with ``async with open_converter_pool(...)``, or as a supervised child with
    ``ChildSpec("pool", pool.run, kind="supervisor")``; ``run`` may be called again after it
    returned.
    """

    def __init__(
        self,
        settings: PoolSettings | None = None,
        *,
        converters: Sequence[ConverterConfig | str] | None = None,
        station_namespace: uuid.UUID,
        observers: Iterable[EventObserver] = (),
        on_workers: Callable[[str | None], object] | None = None,
    ) -> None:
        self.settings = settings if settings is not None else PoolSettings()
        chosen = DEFAULT_CONVERTERS if converters is None else converters
        configs = (ConverterConfig(item) if isinstance(item, str) else item for item in chosen)
        self._configs = tuple(
            msgspec.structs.replace(config, ref=absolute_ref(config.ref)) for config in configs
        )
        self.station_namespace = station_namespace
        self._observers = tuple(observers)
        self._slots = [_Slot(f"worker-{i}") for i in range(self.settings.workers)]
        self._counters = _Counters()
        self._job_ids = itertools.count(1)
        self._infos: dict[str, ConverterInfo] = {}
        self._sandbox: SandboxInfo | None = None
        self._supervisor: DynamicSupervisor | None = None
        self._idle: deque[_Session] = deque()  # waiting for a job, longest-waiting first
        self._queue: deque[_Job] = deque()  # waiting for a worker, first come first served
        self._running = False
        self._on_workers = on_workers
        self._failing: dict[str, str] = {}  # slot id -> why its last start failed
        self._workers_down = False  # every slot failed its last start

    # ------------------------------------------------------------------------------------ API

    @property
    def running(self) -> bool:
        """True between ready and stopped."""
        return self._running

    @property
    def sandbox(self) -> SandboxInfo:
        """The sandbox the workers reached (known once the pool has started).

        Raises:
            PoolClosed: the pool never started.
        """
        if self._sandbox is None:
            raise PoolClosed("the pool has not started; its sandbox level is not known yet")
        return self._sandbox

    @property
    def sandbox_level(self) -> str:
        """``landlock-abi<N>+rlimits`` or ``rlimits-only`` (see :attr:`sandbox`)."""
        return self.sandbox.level

    @property
    def converters(self) -> tuple[ConverterInfo, ...]:
        """The loaded converters, in configuration order (known once the pool has started)."""
        return tuple(self._infos.values())

    async def run(
        self, *, task_status: trio.TaskStatus[ConverterPool] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Start the workers, report ready, and supervise them until :meth:`stop`.

        Raises:
            ConverterLoadError: a configured converter cannot be loaded (not found, bad
                api_version, bad arguments...); raised before ready.
            SandboxUnavailable: ``landlock = "required"`` on a kernel without Landlock.
            WorkerStartError: the first worker process failed to start.
            SupervisorGaveUp: workers crashed more often than the restart intensity allows.
            RuntimeError: the pool is already running.

        Cancellation: every worker process tree is killed and reaped.
        """
        if self._supervisor is not None:
            raise RuntimeError("the converter pool is already running")
        settings = self.settings
        refused = required_but_unavailable(settings)
        if refused is not None:
            raise SandboxUnavailable(refused)
        supervisor = DynamicSupervisor(
            name="converter-pool",
            max_children=settings.workers,
            intensity=settings.restart_intensity,
            period=settings.restart_period,
            observers=self._observers,
        )
        self._supervisor = supervisor
        try:
            # Callers still queued when the supervisor has stopped get Unavailable; the queue is
            # emptied synchronously (no checkpoint while an error propagates).
            with _unwrap_single_error():
                async with trio.open_nursery() as nursery:
                    await nursery.start(supervisor.run)
                    error = await self._start_workers(supervisor)
                    if error is not None:
                        await supervisor.stop()
                        raise error
                    self._running = True
                    task_status.started(self)
                    await supervisor.wait_stopped()
        finally:
            self._running = False
            self._supervisor = None
            self._idle.clear()
            while self._queue:
                job = self._queue.popleft()
                self._counters.waiting -= 1
                job.complete(_NOT_STARTED)
            for slot in self._slots:
                slot.state, slot.pid = "down", None

    async def stop(self, grace: float | None = None) -> None:
        """Stop the workers and wait until they have stopped.

        Workers finish the file they are converting (phase one, up to ``stop_grace`` each);
        after ``grace`` seconds whatever still runs is killed. Callers still waiting for a worker
        get :class:`Unavailable`.
        """
        supervisor = self._supervisor
        if supervisor is not None:
            self._running = False
            await supervisor.stop(grace)

    async def convert(
        self, data: bytes, name: str, converter: str | None = None
    ) -> ConversionResult:
        """Convert one file in a sandboxed worker.

        Args:
            data: the file's content.
            name: the file's name (converters may look at its extension). A name that is not
                valid Unicode (bytes a file system allowed, kept by Python as surrogates)
                reaches the converter with those bytes replaced by U+FFFD.
            converter: the configured name of the converter to use; ``None`` picks the converter
                whose ``detect()`` is most confident (at least 0.5).

        Returns:
            :class:`Converted`, or a typed failure: :class:`Rejected` (the file is bad),
            :class:`Crashed`, :class:`TimedOut`, :class:`OutOfMemory` (a worker died on it twice:
            the first failure is retried once on a fresh worker), or :class:`Unavailable` (the
            conversion could not run: the pool stopped before or while converting it, or no
            fresh worker could be started for the retry).

        Raises:
            UnknownConverter: ``converter`` is not one of the pool's converters.
            PoolClosed: the pool is not running.

        Cancellation: safe at any point. A file already handed to a worker is converted to the
        end (within its timeout) and the result dropped.
        """
        if not self._running:
            raise PoolClosed("the converter pool is not running")
        if converter is not None and converter not in self._infos:
            raise UnknownConverter(converter, tuple(self._infos))
        started = trio.current_time()
        name = _printable_name(name)
        sha256 = await _hash(data)
        if len(data) > self.settings.max_input:
            result: ConversionResult = Rejected(
                name,
                sha256,
                "too_large",
                f"the file is {len(data) / _MiB:.1f} MiB; the limit is "
                f"{self.settings.max_input_mb} MiB (max_input_mb)",
                converter=converter,
            )
            self._count(result)
            return result
        job = await self._attempt(data, name, converter, fresh=False)
        attempts = 1
        queued = job.started_at - job.queued_at
        if _retryable(job.outcome):
            # The worker died on it: once more, on a process that has converted nothing before.
            # Only a second death condemns the file; a retry that cannot run says nothing.
            self._counters.retries += 1
            job = await self._attempt(data, name, converter, fresh=True)
            attempts = 2
            queued += job.started_at - job.queued_at
        outcome = job.outcome
        assert outcome is not None
        if isinstance(outcome, _Unrun):
            result = Unavailable(name, sha256, outcome.reason, converter, attempts - 1)
        else:
            result = await self._result(outcome, name, sha256, converter, attempts, started, queued)
        self._count(result)
        return result

    def statistics(self) -> PoolStatistics:
        """A frozen snapshot of the pool and its workers."""
        c = self._counters
        supervisor = self._supervisor
        restarts = supervisor.statistics().total_restarts if supervisor is not None else 0
        slots = tuple(slot.snapshot() for slot in self._slots)
        return PoolStatistics(
            workers=self.settings.workers,
            ready=sum(1 for s in slots if s.state in ("idle", "busy")),
            busy=c.busy,
            waiting=c.waiting,
            conversions=c.conversions,
            converted=c.converted,
            rejected=c.rejected,
            crashed=c.crashed,
            timed_out=c.timed_out,
            out_of_memory=c.out_of_memory,
            retries=c.retries,
            worker_crashes=c.worker_crashes,
            worker_restarts=restarts,
            recycles=c.recycles,
            sandbox_level=self._sandbox.level if self._sandbox is not None else "unknown",
            slots=slots,
            unavailable=c.unavailable,
        )

    # ----------------------------------------------------------------------- starting workers

    async def _start_workers(self, supervisor: DynamicSupervisor) -> Exception | None:
        """Start every slot at once (each spawns and handshakes its own process); the first
        start failure (unwrapped) is returned."""
        settings = self.settings
        backoff = Backoff(min=settings.backoff_min, max=settings.backoff_max)
        failures: list[Exception] = []

        async def start(slot: _Slot) -> None:
            spec = ChildSpec(
                slot.id,
                functools.partial(self._worker_child, slot),
                restart=Restart.PERMANENT,
                shutdown=Timeout(settings.stop_grace),
                backoff=backoff,
            )
            try:
                await supervisor.start_child(spec)
            except ChildStartError as exc:
                cause = exc.cause
                failures.append(cause if isinstance(cause, Exception) else exc)

        async with trio.open_nursery() as nursery:
            for slot in self._slots:
                nursery.start_soon(start, slot)
        return failures[0] if failures else None

    def _setup(self) -> Setup:
        settings = self.settings
        return Setup(
            converters=[ConverterSetup(c.ref, c.name, dict(c.args)) for c in self._configs],
            python_path=list(settings.python_path),
            read_paths=list(settings.read_paths),
            temp_dir="",
            landlock=settings.landlock,
            detect_head=settings.detect_head_kb * 1024,
            cpu_seconds=settings.cpu_seconds,
            max_request=settings.max_input + (1 << 16),
        )

    def _accept_hello(self, hello: Hello, sandbox: SandboxInfo) -> None:
        """Check what a new worker loaded; the first one sets the pool's converters and sandbox.

        Raises:
            ConverterLoadError: a converter failed to load, or two share a name (the worker
                reports both as load failures).
        """
        if hello.failures:
            raise _load_error(hello.failures[0])
        if not self._infos:
            self._infos = {info.alias: info for info in hello.converters}
            self._sandbox = sandbox

    # ---------------------------------------------------------------------------- worker child

    async def _worker_child(
        self,
        slot: _Slot,
        *,
        task_status: trio.TaskStatus[Hello | None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """One worker slot: run processes one after another, serving jobs, until stopped.

        The pool's first start of a slot fails if its process cannot be started (the pool
        does not start). Once the pool runs, a slot is ready at once, and a process that
        cannot be started (``fork`` refused, the interpreter gone, memory) is tried again
        with capped backoff inside the slot, for as long as it takes: it is not a crash of
        the slot, so it never uses up the supervisor's restart intensity.
        """
        ctx = current_child()
        pending: _Job | None = None
        ready = False
        failure: BaseException | None = None
        failed_starts = 0
        if self._running:  # a restart, or a slot of a running pool: never fails to start
            task_status.started(None)
            ready = True
        try:
            while not ctx.stop_requested:
                slot.state, slot.pid, slot.conversions = "starting", None, 0
                async with contextlib.AsyncExitStack() as stack:
                    try:
                        worker = await stack.enter_async_context(
                            open_worker(self.settings, self._setup())
                        )
                        assert worker.hello is not None
                        assert worker.sandbox is not None
                        self._accept_hello(worker.hello, worker.sandbox)
                    except Exception as exc:
                        if not ready or not _infrastructure(exc):
                            raise
                        failed_starts += 1
                        ctx.report_degraded(f"no worker process can start: {_describe(exc)}")
                        self._start_failed(slot, pending, exc)
                        pending = None
                        await _sleep_unless_stopped(ctx, self._start_delay(failed_starts))
                        continue
                    failed_starts = 0
                    ctx.report_recovered()
                    self._started_again(slot)
                    slot.pid = worker.pid
                    ctx.report_process(worker.pid)  # the tree's statistics show it
                    slot.processes += 1
                    if not ready:
                        task_status.started(worker.hello)
                        ready = True
                    session = _Session(self, slot, worker, ctx)
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(worker.monitor)
                        nursery.start_soon(_interrupt_when, worker.wait_exited, session)
                        nursery.start_soon(_interrupt_when, ctx.wait_stop_requested, session)
                        next_step = await self._serve(session, pending)
                        pending = None
                        nursery.cancel_scope.cancel()
                if isinstance(next_step, _Recycle):
                    pending = next_step.pending
                    self._counters.recycles += 1
                else:
                    return
        except BaseException as exc:
            failure = exc
            raise
        finally:
            slot.state, slot.pid = "down", None
            ctx.report_process(None)
            self._failing.pop(slot.id, None)
            if pending is not None:  # a retry waiting for the fresh process that did not come
                pending.complete(
                    _Unrun(f"no fresh worker could be started: {_describe(failure)}")
                    if not ctx.stop_requested
                    else _ABORTED
                )

    def _start_delay(self, failed_starts: int) -> float:
        """Seconds before the next try after *failed_starts* failed starts in a row."""
        settings = self.settings
        backoff = Backoff(min=settings.backoff_min, max=settings.start_backoff_max)
        return backoff.delay(failed_starts - 1, random.random())

    def _start_failed(self, slot: _Slot, pending: _Job | None, error: Exception) -> None:
        """A process could not be started for *slot*. A retry that waited for it, and, once
        no slot can start one, every queued job, are answered :class:`Unavailable`; the
        first time no slot can, ``on_workers`` is told (or a warning logged)."""
        slot.state, slot.pid = "down", None
        reason = f"no converter worker can start: {_describe(error)}"
        self._failing[slot.id] = reason
        if pending is not None:
            pending.complete(_Unrun(f"no fresh worker could be started: {_describe(error)}"))
        if len(self._failing) < len(self._slots):
            return
        while self._queue:  # nobody will take them soon: the callers try again later
            job = self._queue.popleft()
            self._counters.waiting -= 1
            job.complete(_Unrun(reason))
        if not self._workers_down:
            self._workers_down = True
            if self._on_workers is not None:
                self._on_workers(reason)
            else:
                logger.warning("%s; conversions wait until one can", reason)

    def _started_again(self, slot: _Slot) -> None:
        """*slot* has a process (after failed starts, or a restart of its child)."""
        self._failing.pop(slot.id, None)
        if self._workers_down:
            self._workers_down = False
            if self._on_workers is not None:
                self._on_workers(None)
            else:
                logger.info("a converter worker started again")

    async def _serve(self, session: _Session, pending: _Job | None) -> _Recycle | None:
        """Serve jobs on one process: ``pending`` first (a job that needs a fresh process),
        then queued jobs, then whatever callers start while it is idle.

        Returns:
            ``None`` to stop, or a :class:`_Recycle` to go on with a fresh process.

        Raises:
            WorkerLost: the process died or was killed (while idle or converting).
        """
        try:
            if pending is not None:
                session.start(pending)
            else:
                first = self._next(session)
                if not isinstance(first, _Step):
                    return first
            while True:
                # Failures are dealt with outside the scope: waiting for a killed process must
                # not be cut short by the job's deadline, nor mistaken for it.
                scope = session.scope = trio.CancelScope(deadline=session.deadline)
                if session.watch is not None:
                    session.watch.scope = scope
                step: _Recycle | _Step | _Failure | None = _INTERRUPTED
                with scope:
                    step = await self._serve_in_scope(session)
                if step is _INTERRUPTED:
                    step = self._interrupted(session)
                if isinstance(step, _Failure):
                    await self._lost(session, step)
                if not isinstance(step, _Step):
                    return step
        finally:
            session.delist()
            job = session.job
            if job is not None:  # cancelled while converting: the caller gets Unavailable
                session.job = None
                self._counters.busy -= 1
                job.complete(_ABORTED)

    async def _serve_in_scope(self, session: _Session) -> _Recycle | _Step | _Failure | None:
        """Wait for answers and deal with them, until the scope is cancelled, the job fails,
        or the process must stop or be replaced."""
        worker = session.worker
        while True:
            watch = session.watch
            payload: bytes | None = None
            if watch is not None and watch.unsent is not None:
                await worker.send_rest(watch)
            if watch is None or not watch.send_failed:
                try:
                    payload = await worker.receive()
                except FrameError as exc:
                    return _Failure("crashed", f"protocol violation: {exc}")
            job = session.job
            if job is None:  # idle: its output ended, or it wrote without being asked
                session.delist()
                if payload is not None:
                    raise WorkerLost(worker.pid, "protocol violation: it wrote while idle")
                status = await worker.exit_status()
                if session.ctx.stop_requested:
                    return None
                raise WorkerLost(worker.pid, f"{status} while idle")
            if payload is None:
                return _DIED
            answer = worker.answer(payload, job.id)
            if isinstance(answer, str):
                return _Failure("crashed", answer)
            self._finish(session, answer)
            step = self._next(session)
            if not isinstance(step, _Step):
                return step

    def _interrupted(self, session: _Session) -> _Recycle | _Step | _Failure | None:
        """The slot's scope was cancelled: a caller handed this idle worker a retry (recycle),
        the process exited or a stop was requested while idle, the job overran its limits or
        its wall-clock time, or the wake-up was for nothing that ends the job (a caller needs
        the rest of a long request written; a deadline left from a finished job)."""
        job, watch = session.job, session.watch
        if job is None:
            if session.recycle_with is not None:
                pending, session.recycle_with = session.recycle_with, None
                return _Recycle(pending)
            if session.interrupted:
                session.delist()
                if session.ctx.stop_requested:
                    return None
                status = describe_exit(session.worker.returncode)
                raise WorkerLost(session.worker.pid, f"{status} while idle")
            return _GO_ON
        assert watch is not None
        if watch.overrun is not None:
            return _Failure(watch.overrun)
        if trio.current_time() < session.deadline:
            return _GO_ON
        return _Failure("wall")

    async def _lost(self, session: _Session, failure: _Failure) -> NoReturn:
        """The job in progress failed and took the process with it: the caller gets the
        failure (and retries), the slot raises WorkerLost (and its supervisor restarts it)."""
        job, watch, worker = session.job, session.watch, session.worker
        assert job is not None
        assert watch is not None
        if failure is _DIED:
            outcome = await worker.died(watch)
        else:
            outcome = await worker.failed(failure.kind, watch, failure.description)
        session.job = session.watch = None
        self._counters.busy -= 1
        job.complete(outcome)
        session.slot.conversions = worker.jobs_done
        self._counters.worker_crashes += 1
        logger.warning("worker %d: %s (file %r)", worker.pid, outcome.description, job.name)
        raise WorkerLost(worker.pid, outcome.description)

    def _finish(self, session: _Session, answer: Done | Refused) -> None:
        job = session.job
        assert job is not None
        session.job = session.watch = None
        session.deadline = math.inf  # the scope keeps its deadline: idle, it wakes for nothing
        self._counters.busy -= 1
        session.slot.conversions = session.worker.jobs_done
        job.complete(answer)

    def _next(self, session: _Session) -> _Recycle | _Step | None:
        """After a job (or on a new process): stop, recycle, start the next queued job, or wait
        as an idle worker."""
        worker = session.worker
        if session.ctx.stop_requested:
            return None
        if self._worn_out(worker):
            return _Recycle(None)
        if session.interrupted:  # the process exited while it converted
            raise WorkerLost(worker.pid, f"{describe_exit(worker.returncode)} while idle")
        if self._queue:
            job = self._queue.popleft()
            self._counters.waiting -= 1
            if job.fresh and worker.jobs_done > 0:
                job.state = "taken"
                return _Recycle(job)
            session.start(job)
            return _GO_ON
        session.slot.state = "idle"
        session.listed = True
        self._idle.append(session)
        return _GO_ON

    def _worn_out(self, worker: WorkerProcess) -> bool:
        settings = self.settings
        return (
            worker.tainted
            or worker.jobs_done >= settings.max_conversions_per_worker
            or worker.cpu_total > settings.cpu_lifetime_seconds - settings.cpu_seconds - 1
        )

    # ------------------------------------------------------------------------------ callers

    async def _attempt(self, data: bytes, name: str, converter: str | None, *, fresh: bool) -> _Job:
        """Run one attempt; the job's outcome is what came of it (:class:`_Unrun` when the pool
        stopped or no worker could take it)."""
        job_id = next(self._job_ids)
        request = encode_frame(Request(job=job_id, converter=converter, name=name, data=data))
        job = _Job(job_id, name, converter, fresh, trio.current_time(), request)
        await trio.lowlevel.checkpoint_if_cancelled()  # a cancelled caller hands nothing over
        if not self._running:
            job.complete(_NOT_STARTED)
            return job
        if self._workers_down:  # every slot is waiting to try starting a process again
            reason = next(iter(self._failing.values()), "no converter worker can start")
            job.complete(_Unrun(reason))
            return job
        self._dispatch(job)
        try:
            await job.done.wait()
        except BaseException:
            if job.state == "queued":  # still waiting for a worker: withdraw it
                self._queue.remove(job)
                self._counters.waiting -= 1
                job.state = "new"
            raise
        return job

    def _dispatch(self, job: _Job) -> None:
        """Start ``job`` on an idle worker, or queue it for the next one that is free."""
        idle = self._idle
        if idle and not self._queue:
            if not job.fresh:
                idle[0].start(job)  # the worker idle the longest
                return
            for session in idle:  # a retry runs on a process that has converted nothing
                if session.worker.jobs_done == 0:
                    session.start(job)
                    return
            idle[0].recycle(job)
            return
        job.state = "queued"
        self._queue.append(job)
        self._counters.waiting += 1

    async def _result(
        self,
        outcome: Done | Refused | JobFailure,
        name: str,
        sha256: str,
        converter: str | None,
        attempts: int,
        started: float,
        queued: float,
    ) -> ConversionResult:
        if isinstance(outcome, JobFailure):
            return _failure(outcome, name, sha256, converter, attempts, self.settings)
        if isinstance(outcome, Refused):
            if outcome.kind == "out_of_memory":
                limit = self.settings.address_space_mb * _MiB
                return OutOfMemory(
                    name, sha256, "address_space", limit, 0, "", outcome.converter, attempts
                )
            cause = "converter" if outcome.kind == "rejected" else outcome.kind
            return Rejected(
                name,
                sha256,
                cause,
                outcome.reason,
                where=outcome.where,
                detail=outcome.detail,
                converter=outcome.converter,
                scores=outcome.scores,
            )
        info = self._infos[outcome.converter]
        return await finish(
            outcome,
            info,
            name=name,
            sha256=sha256,
            namespace=self.station_namespace,
            detected=converter is None,
            attempts=attempts,
            started=started,
            queued=queued,
        )

    def _count(self, result: ConversionResult) -> None:
        c = self._counters
        c.conversions += 1
        if isinstance(result, Converted):
            c.converted += 1
        elif isinstance(result, Rejected):
            c.rejected += 1
        elif isinstance(result, Crashed):
            c.crashed += 1
        elif isinstance(result, TimedOut):
            c.timed_out += 1
        elif isinstance(result, OutOfMemory):
            c.out_of_memory += 1
        else:
            c.unavailable += 1


class _Step:
    """How serving goes on (``_GO_ON``), or that the slot's scope was cancelled."""


_GO_ON = _Step()
_INTERRUPTED = _Step()


@dataclass(frozen=True, slots=True)
class _Failure:
    """The job in progress failed; the process must be killed (or is dead) and replaced."""

    kind: Literal["crashed", "wall", "cpu", "rss"]
    description: str | None = None


_DIED = _Failure("crashed")  # its output ended: how it ended is found out


class _Session:
    """One worker process serving jobs in its slot, as the pool and its callers see it.

    Attributes:
        scope: the cancel scope the slot waits in; its deadline is the job's wall-clock limit.
            Cancelling it interrupts the slot (see ``ConverterPool._interrupted``); a new scope
            is opened when serving goes on.
        job, watch: the job in progress and its watch.
        deadline: when the job in progress times out (``inf``: no job).
        listed: it is in the pool's idle list.
        interrupted: the process exited or a stop was requested.
        recycle_with: a retry to run on a fresh process instead of this one.
        task: the slot's task.
    """

    __slots__ = (
        "ctx",
        "deadline",
        "interrupted",
        "job",
        "listed",
        "pool",
        "recycle_with",
        "scope",
        "slot",
        "task",
        "watch",
        "worker",
    )

    def __init__(
        self, pool: ConverterPool, slot: _Slot, worker: WorkerProcess, ctx: ChildContext
    ) -> None:
        self.pool = pool
        self.slot = slot
        self.worker = worker
        self.ctx = ctx
        self.scope = trio.CancelScope()
        self.job: _Job | None = None
        self.watch: _Watch | None = None
        self.deadline = math.inf
        self.listed = False
        self.interrupted = False
        self.recycle_with: _Job | None = None
        self.task = trio.lowlevel.current_task()

    def start(self, job: _Job) -> None:
        """Start ``job`` on this worker, from any task: no checkpoint, so it cannot be
        cancelled half-way. The request goes into the pipe now; a long one that does not fit
        wakes the slot to write the rest."""
        self.delist()
        now = trio.current_time()
        job.state, job.started_at = "taken", now
        self.job = job
        self.slot.state = "busy"
        self.pool._counters.busy += 1
        self.deadline = self.scope.deadline = now + self.pool.settings.timeout
        watch = self.watch = self.worker.begin(job.request, self.scope)
        job.request = b""  # written, or held by ``watch.unsent`` until it is
        if (watch.unsent is not None or watch.send_failed) and (
            trio.lowlevel.current_task() is not self.task
        ):
            self.scope.cancel()  # wake the slot: it writes the rest, or finds the process dead

    def recycle(self, job: _Job) -> None:
        """Have this idle worker replaced by a fresh process that runs ``job`` first."""
        self.delist()
        job.state = "taken"
        self.recycle_with = job
        self.scope.cancel()

    def interrupt(self) -> None:
        """The process exited, or a stop was requested: an idle worker stops waiting."""
        self.interrupted = True
        if self.listed:
            self.delist()
            self.scope.cancel()

    def delist(self) -> None:
        if self.listed:
            self.listed = False
            self.pool._idle.remove(self)


async def _interrupt_when(event: Callable[[], Awaitable[object]], session: _Session) -> None:
    await event()
    session.interrupt()


def _retryable(outcome: _Outcome | None) -> bool:
    return isinstance(outcome, JobFailure) or (
        isinstance(outcome, Refused) and outcome.kind == "out_of_memory"
    )


def _failure(
    failure: JobFailure,
    name: str,
    sha256: str,
    converter: str | None,
    attempts: int,
    settings: PoolSettings,
) -> ConversionResult:
    if failure.kind in ("wall", "cpu"):
        limit = settings.timeout if failure.kind == "wall" else float(settings.cpu_seconds)
        clock: Literal["wall", "cpu"] = "wall" if failure.kind == "wall" else "cpu"
        return TimedOut(name, sha256, clock, limit, failure.stderr, converter, attempts)
    if failure.kind == "rss":
        limit_bytes = settings.memory_mb * _MiB
        return OutOfMemory(
            name, sha256, "rss", limit_bytes, failure.peak_rss, failure.stderr, converter, attempts
        )
    return Crashed(
        name, sha256, failure.description, failure.returncode, failure.stderr, converter, attempts
    )


def _load_error(failure: LoadFailure) -> ConverterLoadError:
    if failure.kind == "not_found":
        return ConverterNotFound(failure.ref, failure.message)
    if failure.kind == "api_version":
        return ConverterApiMismatch(failure.ref, failure.declared, SUPPORTED_API_VERSIONS)
    if failure.kind == "arguments":
        return ConverterArgumentsError(failure.ref, failure.path or "$", failure.message)
    return ConverterInvalid(failure.ref, failure.message)


async def _hash(data: bytes) -> str:
    if len(data) < _HASH_IN_THREAD:
        return content_hash(data)
    return await trio.to_thread.run_sync(content_hash, data)


@contextmanager
def _unwrap_single_error() -> Iterator[None]:
    """Re-raise an exception group of ``Exception``s as its one root cause.

    The root cause is the only leaf, or the only leaf that is not a :class:`PoolClosed` (callers
    see the pool closing *because* it failed). Anything else, ``Cancelled`` included, propagates
    as it is.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        leaves = list(_leaves(group))
        causes = [e for e in leaves if not isinstance(e, PoolClosed)] or leaves
        if len(causes) == 1 and all(isinstance(e, Exception) for e in leaves):
            raise causes[0] from None
        raise


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterable[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc


@asynccontextmanager
async def open_converter_pool(
    settings: PoolSettings | None = None,
    *,
    converters: Sequence[ConverterConfig | str] | None = None,
    station_namespace: uuid.UUID,
    observers: Iterable[EventObserver] = (),
    on_workers: Callable[[str | None], object] | None = None,
) -> AsyncIterator[ConverterPool]:
    """Run a :class:`ConverterPool` for the length of an ``async with`` block.

    The block is entered once every worker is ready. Leaving it stops the workers (each finishes
    its file within ``stop_grace``); every process is killed and reaped by the time it returns.

    Raises:
        ConverterLoadError: a configured converter cannot be loaded (on entry).
        WorkerStartError: the first worker failed to start (on entry).
        SupervisorGaveUp: workers crashed faster than the restart intensity allows (the block is
            cancelled).
    """
    pool = ConverterPool(
        settings,
        converters=converters,
        station_namespace=station_namespace,
        observers=observers,
        on_workers=on_workers,
    )
    with _unwrap_single_error():
        async with trio.open_nursery() as nursery:
            await nursery.start(pool.run)
            try:
                yield pool
            finally:
                with trio.CancelScope(shield=True):
                    await pool.stop(pool.settings.stop_grace * 2 + 5)


def _infrastructure(error: BaseException) -> bool:
    """Whether a failed start of a worker is the machine's trouble (the process could not be
    spawned or did not complete its handshake), not the configuration's (a converter that does
    not load)."""
    leaves = list(_leaves(error)) if isinstance(error, BaseExceptionGroup) else [error]
    return bool(leaves) and all(isinstance(e, OSError | WorkerStartError) for e in leaves)


async def _sleep_unless_stopped(ctx: ChildContext, seconds: float) -> None:
    """Wait *seconds*, or until the slot is asked to stop."""
    async with trio.open_nursery() as nursery:

        async def stop_early() -> None:
            await ctx.wait_stop_requested()
            nursery.cancel_scope.cancel()

        nursery.start_soon(stop_early)
        await trio.sleep(seconds)
        nursery.cancel_scope.cancel()


def _describe(error: BaseException | None) -> str:
    """One line about why a worker could not be started."""
    if error is None:
        return "its slot stopped"
    if isinstance(error, BaseExceptionGroup):
        leaves = list(_leaves(error))
        error = leaves[0] if leaves else error
    first = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def _printable_name(name: str) -> str:
    """*name*, with undecodable bytes (surrogate escapes) replaced: frames carry UTF-8."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return name
