"""The converter pool: N sandboxed worker processes under a dynamic supervisor.

Each worker slot is a permanent child of a :class:`~supervisors.DynamicSupervisor` with backoff.
A slot's child runs one worker process at a time: it starts it (handshake included) and then takes
jobs from a channel shared by all slots, one at a time, so callers of :meth:`ConverterPool.convert`
wait for a free worker (bounded concurrency, first come first served).

When a process dies or is killed while converting, the caller gets the failure and the child raises
:class:`~converters.WorkerLost`: the supervisor restarts the slot after its backoff delay, and gives
up (failing the pool) only if restarts exceed its intensity. The caller then retries the file once
on a *fresh* process - one that has converted nothing before, so no state left by earlier files
can be the cause - and only the second failure is final.

A process is also replaced on purpose, without a crash ("recycled"): to give a retry a fresh
process, after ``max_conversions_per_worker`` files, before its CPU lifetime runs out, after an
out-of-memory answer, and when a converter left processes behind.
"""

from __future__ import annotations

import functools
import itertools
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Literal

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
)
from ._finish import finish
from ._identity import content_hash
from ._process import JobFailure, WorkerProcess, describe_exit, open_worker
from ._protocol import (
    ConverterInfo,
    ConverterSetup,
    Done,
    Hello,
    LoadFailure,
    Refused,
    Request,
    Setup,
)
from ._results import (
    ConversionResult,
    Converted,
    Crashed,
    OutOfMemory,
    PoolStatistics,
    Rejected,
    TimedOut,
    WorkerStatistics,
)
from ._sandbox import SandboxInfo, probe_sandbox
from ._sdk import SUPPORTED_API_VERSIONS
from ._settings import ConverterConfig, PoolSettings

__all__ = ["DEFAULT_CONVERTERS", "ConverterPool", "open_converter_pool"]

logger = logging.getLogger("converters.pool")

DEFAULT_CONVERTERS: tuple[ConverterConfig, ...] = (ConverterConfig("wsjf"), ConverterConfig("csv"))
"""The converters a pool loads when it is given none: the built-ins."""

_HASH_IN_THREAD = 1 << 20
_MiB = 1 << 20


class _Aborted:
    """The pool stopped before the job finished."""


_ABORTED = _Aborted()
_Outcome = Done | Refused | JobFailure | _Aborted


@dataclass(eq=False, slots=True)
class _Job:
    id: int
    data: bytes
    name: str
    converter: str | None
    fresh: bool
    queued_at: float
    started_at: float = 0.0
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
        self._jobs_send: trio.MemorySendChannel[_Job] | None = None
        self._jobs_receive: trio.MemoryReceiveChannel[_Job] | None = None
        self._running = False

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
        if settings.landlock == "required" and not probe_sandbox("required").landlocked:
            raise SandboxUnavailable(
                'landlock = "required" but this kernel offers no Landlock; use "auto" to run '
                "with rlimits and process isolation only"
            )
        supervisor = DynamicSupervisor(
            name="converter-pool",
            max_children=settings.workers,
            intensity=settings.restart_intensity,
            period=settings.restart_period,
            observers=self._observers,
        )
        self._supervisor = supervisor
        send, receive = trio.open_memory_channel[_Job](0)
        try:
            # The channels close synchronously (no checkpoint while an error propagates), and
            # only after the supervisor has stopped: then waiting callers get PoolClosed.
            with _unwrap_single_error(), send, receive:
                async with trio.open_nursery() as nursery:
                    self._jobs_send, self._jobs_receive = send, receive
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
            self._jobs_send = self._jobs_receive = None
            for slot in self._slots:
                slot.state, slot.pid = "down", None

    async def stop(self, grace: float | None = None) -> None:
        """Stop the workers and wait until they have stopped.

        Workers finish the file they are converting (phase one, up to ``stop_grace`` each);
        after ``grace`` seconds whatever still runs is killed. Callers still waiting for a worker
        get :class:`PoolClosed`.
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
            name: the file's name (converters may look at its extension).
            converter: the configured name of the converter to use; ``None`` picks the converter
                whose ``detect()`` is most confident (at least 0.5).

        Returns:
            :class:`Converted`, or a typed failure: :class:`Rejected` (the file is bad),
            :class:`Crashed`, :class:`TimedOut`, :class:`OutOfMemory` (a worker died on it twice:
            the first failure is retried once on a fresh worker).

        Raises:
            UnknownConverter: ``converter`` is not one of the pool's converters.
            PoolClosed: the pool is not running, or stopped before the file was converted.

        Cancellation: safe at any point. A file already handed to a worker is converted to the
        end (within its timeout) and the result dropped.
        """
        if not self._running:
            raise PoolClosed("the converter pool is not running")
        if converter is not None and converter not in self._infos:
            raise UnknownConverter(converter, tuple(self._infos))
        started = trio.current_time()
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
        if _retryable(job.outcome):
            self._counters.retries += 1
            first = job
            job = await self._attempt(data, name, converter, fresh=True)
            attempts = 2
            queued = (first.started_at - first.queued_at) + (job.started_at - job.queued_at)
        else:
            queued = job.started_at - job.queued_at
        outcome = job.outcome
        assert outcome is not None
        assert not isinstance(outcome, _Aborted)
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

    def _accept_hello(self, hello: Hello) -> None:
        """Check what a new worker loaded; the first one sets the pool's converters and sandbox.

        Raises:
            ConverterLoadError: a converter failed to load, or two share a name (the worker
                reports both as load failures).
        """
        if hello.failures:
            raise _load_error(hello.failures[0])
        if not self._infos:
            self._infos = {info.alias: info for info in hello.converters}
            self._sandbox = SandboxInfo(hello.sandbox_level, hello.landlock_abi, hello.sandbox_note)

    # ---------------------------------------------------------------------------- worker child

    async def _worker_child(
        self, slot: _Slot, *, task_status: trio.TaskStatus[Hello] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """One worker slot: run processes one after another, serving jobs, until stopped."""
        ctx = current_child()
        assert self._jobs_receive is not None
        pending: _Job | None = None
        ready = False
        try:
            with self._jobs_receive.clone() as jobs:
                while not ctx.stop_requested:
                    slot.state, slot.pid, slot.conversions = "starting", None, 0
                    async with open_worker(self.settings, self._setup()) as worker:
                        assert worker.hello is not None
                        self._accept_hello(worker.hello)
                        slot.pid = worker.pid
                        slot.processes += 1
                        if not ready:
                            task_status.started(worker.hello)
                            ready = True
                        idle = _Idle()
                        async with trio.open_nursery() as nursery:
                            nursery.start_soon(worker.monitor)
                            nursery.start_soon(_interrupt_when, worker.wait_exited, idle)
                            nursery.start_soon(_interrupt_when, ctx.wait_stop_requested, idle)
                            next_step = await self._serve(worker, jobs, ctx, slot, pending, idle)
                            pending = None
                            nursery.cancel_scope.cancel()
                    if isinstance(next_step, _Recycle):
                        pending = next_step.pending
                        self._counters.recycles += 1
                    else:
                        return
        finally:
            slot.state, slot.pid = "down", None
            if pending is not None:
                pending.complete(
                    JobFailure("crashed", "no fresh worker could be started", None, "", 0)
                    if not ctx.stop_requested
                    else _ABORTED
                )

    async def _serve(
        self,
        worker: WorkerProcess,
        jobs: trio.MemoryReceiveChannel[_Job],
        ctx: ChildContext,
        slot: _Slot,
        pending: _Job | None,
        idle: _Idle,
    ) -> _Recycle | None:
        """Serve jobs on one process.

        Returns:
            ``None`` to stop, or a :class:`_Recycle` to go on with a fresh process.

        Raises:
            WorkerLost: the process died or was killed (while idle or converting).
        """
        while True:
            job = pending
            pending = None
            if job is None:
                if ctx.stop_requested:
                    return None
                if self._worn_out(worker):
                    return _Recycle(None)
                slot.state = "idle"
                job = await _next_job(jobs, idle)
                if job is None:
                    if _stop_requested(ctx):  # (a call: mypy must not narrow across the await)
                        return None
                    raise WorkerLost(worker.pid, f"{describe_exit(worker.returncode)} while idle")
            if job.fresh and worker.jobs_done > 0:
                return _Recycle(job)
            slot.state = "busy"
            job.started_at = trio.current_time()
            self._counters.busy += 1
            outcome: _Outcome = _ABORTED  # what the caller gets if we are cancelled
            try:
                outcome = await worker.run(
                    Request(job=job.id, converter=job.converter, name=job.name, data=job.data)
                )
            finally:
                self._counters.busy -= 1
                job.complete(outcome)
            slot.conversions = worker.jobs_done
            if isinstance(outcome, JobFailure):
                self._counters.worker_crashes += 1
                logger.warning("worker %d: %s (file %r)", worker.pid, outcome.description, job.name)
                raise WorkerLost(worker.pid, outcome.description)
            if worker.tainted:
                return _Recycle(None)

    def _worn_out(self, worker: WorkerProcess) -> bool:
        settings = self.settings
        return (
            worker.tainted
            or worker.jobs_done >= settings.max_conversions_per_worker
            or worker.cpu_total > settings.cpu_lifetime_seconds - settings.cpu_seconds - 1
        )

    # ------------------------------------------------------------------------------ callers

    async def _attempt(self, data: bytes, name: str, converter: str | None, *, fresh: bool) -> _Job:
        send = self._jobs_send
        if send is None or not self._running:
            raise PoolClosed("the converter pool is not running")
        job = _Job(next(self._job_ids), data, name, converter, fresh, trio.current_time())
        self._counters.waiting += 1
        try:
            await send.send(job)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise PoolClosed("the converter pool stopped") from None
        finally:
            self._counters.waiting -= 1
        await job.done.wait()
        if isinstance(job.outcome, _Aborted):
            raise PoolClosed("the converter pool stopped while converting the file")
        return job

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
        else:
            c.out_of_memory += 1


@dataclass(eq=False, slots=True)
class _Idle:
    """Lets the process-exit and stop-request watchers interrupt a worker waiting for a job."""

    scope: trio.CancelScope | None = None
    interrupted: bool = False

    def interrupt(self) -> None:
        self.interrupted = True
        if self.scope is not None:
            self.scope.cancel()


async def _interrupt_when(event: Callable[[], Awaitable[object]], idle: _Idle) -> None:
    await event()
    idle.interrupt()


async def _next_job(jobs: trio.MemoryReceiveChannel[_Job], idle: _Idle) -> _Job | None:
    """The next job; ``None`` when the process exits or a stop is requested first."""
    if idle.interrupted:  # no checkpoint between this test and the scope: no lost wake-up
        return None
    job: _Job | None = None
    with trio.CancelScope() as scope:
        idle.scope = scope
        try:
            job = await jobs.receive()
        except trio.EndOfChannel:
            job = None
        finally:
            idle.scope = None
    return job


def _stop_requested(ctx: ChildContext) -> bool:
    return ctx.stop_requested


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
        settings, converters=converters, station_namespace=station_namespace, observers=observers
    )
    with _unwrap_single_error():
        async with trio.open_nursery() as nursery:
            await nursery.start(pool.run)
            try:
                yield pool
            finally:
                with trio.CancelScope(shield=True):
                    await pool.stop(pool.settings.stop_grace * 2 + 5)
