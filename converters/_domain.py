"""One trust domain's workers: ``settings.workers`` slots under a dynamic supervisor of their own.

Each slot is a permanent child of the domain's :class:`~supervisors.DynamicSupervisor` with
backoff. A slot runs one worker process at a time: it starts it (handshake included, and the
``Hello`` checked, :mod:`converters._distrust`) and then serves jobs on it, one at a time, so
callers wait for a free worker of the domain (bounded concurrency, first come first served).
Serving is :mod:`converters._serving`.

Failures stay in their domain. Restart intensity is counted per domain: when the built-in
domain's supervisor gives up, the pool fails (as it did with one worker set); when a plug-in
domain's does, that domain stops, its converters answer :class:`Unavailable`, and it starts
again after ``start_backoff_max`` seconds. Once the pool runs, a process that cannot be started
is tried again with capped backoff inside its slot; a plug-in domain's process that dies while
starting (killed by the sandbox while importing the plug-in, say) is treated so already at the
pool's first start: it never stops the pool.
"""

from __future__ import annotations

import functools
import logging
import random
from collections import deque
from collections.abc import Callable, Iterable

import trio

from supervisors import (
    Backoff,
    ChildSpec,
    ChildStartError,
    DynamicSupervisor,
    EventObserver,
    Restart,
    SupervisorGaveUp,
    Timeout,
)

from ._domains import DomainPlan, builtin_infos, claim_names, plugin_infos
from ._errors import ConverterInvalid, PoolClosed, WorkerStartError
from ._poolutil import describe_error, infrastructure, leaves, sleep_unless
from ._process import WorkerProcess
from ._protocol import ConverterDescription, ConverterInfo, Setup
from ._sandbox import SandboxInfo
from ._serving import serve_slot
from ._session import NOT_STARTED, Counters, Job, Session, Slot, Unrun
from ._settings import PoolSettings

__all__ = ["WorkerDomain", "sandbox_of"]

logger = logging.getLogger("converters.pool")


def sandbox_of(worker: WorkerProcess) -> SandboxInfo:
    """The sandbox a worker reached, as the parent judged it from the worker's ``Locked``
    frame and ``/proc`` (never from anything the worker said after importing a converter)."""
    sandbox = worker.sandbox
    assert sandbox is not None
    return sandbox


class WorkerDomain:
    """The workers of one trust domain and the jobs waiting for them.

    Attributes:
        plan: its converters.
        infos: its converters by alias, in configuration order, as the parent knows them
            (built-ins: from their classes at once; a plug-in: from its first worker).
        sandbox: the sandbox its first worker reached.
        down: why no worker of the domain can start (``None``: one can, or it has not tried).
        started: its first start is over (slots never fail to start from now on).
    """

    def __init__(
        self,
        plan: DomainPlan,
        settings: Callable[[], PoolSettings],
        *,
        counters: Counters,
        names: dict[str, tuple[str, str]],
        observers: Iterable[EventObserver],
        on_down: Callable[[WorkerDomain], None],
        make_setup: Callable[[DomainPlan], Setup],
    ) -> None:
        self.plan = plan
        self._settings = settings
        self.counters = counters
        self._names = names
        self._observers = tuple(observers)
        self._on_down = on_down
        self._make_setup = make_setup
        prefix = "" if plan.trusted else f"{plan.id}."
        self.slots = [Slot(f"{prefix}worker-{i}", plan.id) for i in range(settings().workers)]
        self.infos: dict[str, ConverterInfo] = {}
        self.descriptions: dict[str, ConverterDescription] = {}  # a plug-in's, cleaned
        self.sandbox: SandboxInfo | None = None
        self.supervisor: DynamicSupervisor | None = None
        self.idle: deque[Session] = deque()  # waiting for a job, longest-waiting first
        self.queue: deque[Job] = deque()  # waiting for a worker, first come first served
        self.started = False
        self.stopping = False
        self.failing: dict[str, str] = {}  # slot id -> why its last start failed
        self.down: str | None = None
        self._stop_requested = trio.Event()

    @property
    def settings(self) -> PoolSettings:
        """The pool's settings (read each time: a test may change them while it runs)."""
        return self._settings()

    def reset(self) -> None:
        """Prepare a run (the pool may run again after it returned); the built-in domain
        learns its converters from their classes now.

        Raises:
            ConverterLoadError: a built-in reference that does not load.
        """
        self.infos = {}
        if self.plan.trusted:
            self.infos = claim_names(builtin_infos(self.plan), self.plan.id, self._names)
        self.sandbox = None
        self.started = self.stopping = False
        self.failing.clear()
        self.down = None
        self._stop_requested = trio.Event()

    @property
    def expected(self) -> tuple[str, ...]:
        """The aliases known before its first worker reported (configured names)."""
        return tuple(c.name for c in self.plan.configs if c.name is not None)

    @property
    def complete(self) -> bool:
        """Every converter of the domain is known by its alias."""
        return len(self.infos) == len(self.plan.configs)

    def aliases_with(self, detection: str) -> tuple[str, ...]:
        """Its known aliases whose configuration has this part in auto-detection, in
        configuration order (``"on"``: those detection may choose; ``"hint"``: disabled
        built-ins that only explain a refusal)."""
        return tuple(
            alias
            for alias, config in zip(self.infos, self.plan.configs, strict=False)
            if config.detection == detection
        )

    def serves(self, alias: str) -> bool:
        """Whether ``alias`` is (or, before its first worker reported, may be) one of its."""
        return alias in self.infos or (not self.complete and alias in self.expected)

    # ---------------------------------------------------------------------------- running

    async def run(self, *, task_status: trio.TaskStatus[Exception | None]) -> None:
        """Run the domain's supervisor and start its slots; ``started`` with the first start's
        error (``None``: it started), then supervise until :meth:`stop`.

        Raises:
            SupervisorGaveUp: the built-in domain's workers crashed more often than the
                restart intensity allows (a plug-in domain waits and starts again instead).
        """
        first = True
        while True:
            supervisor = self._new_supervisor()
            try:
                async with trio.open_nursery() as nursery:
                    await nursery.start(supervisor.run)
                    error = await self._start_slots(supervisor)
                    if first:
                        first = False
                        self.started = error is None
                        task_status.started(error)
                    await supervisor.wait_stopped()
                return
            except BaseException as exc:
                gave_up = [e for e in leaves(exc) if isinstance(e, SupervisorGaveUp)]
                if self.plan.trusted or self.stopping or not gave_up:
                    raise
                reason = f"its workers crashed too often: {describe_error(gave_up[0])}"
                self._went_down(reason)
                logger.warning(
                    "converter domain %r stopped (%s); it starts again in %g s",
                    self.plan.id,
                    reason,
                    self.settings.start_backoff_max,
                )
                await sleep_unless(self._stop_requested, self.settings.start_backoff_max)
                if self._stop_requested.is_set():
                    return
            finally:
                self.supervisor = None
                self.idle.clear()
                while self.queue:
                    job = self.queue.popleft()
                    self.counters.waiting -= 1
                    job.complete(NOT_STARTED if self.stopping else Unrun(self.down or ""))
                for slot in self.slots:
                    slot.state, slot.pid = "down", None

    async def stop(self, grace: float | None = None) -> None:
        """Stop its workers (each finishes its file within ``stop_grace``)."""
        self.stopping = True
        self._stop_requested.set()
        supervisor = self.supervisor
        if supervisor is not None:
            await supervisor.stop(grace)

    def _new_supervisor(self) -> DynamicSupervisor:
        settings = self.settings
        supervisor = DynamicSupervisor(
            name="converter-pool" if self.plan.trusted else f"converter-pool.{self.plan.id}",
            max_children=settings.workers,
            intensity=settings.restart_intensity,
            period=settings.restart_period,
            observers=self._observers,
        )
        self.supervisor = supervisor
        return supervisor

    async def _start_slots(self, supervisor: DynamicSupervisor) -> Exception | None:
        """Start every slot at once; the first start failure (unwrapped) is returned."""
        settings = self.settings
        backoff = Backoff(min=settings.backoff_min, max=settings.backoff_max)
        failures: list[Exception] = []

        async def start(slot: Slot) -> None:
            spec = ChildSpec(
                slot.id,
                functools.partial(serve_slot, self, slot),
                restart=Restart.PERMANENT,
                shutdown=Timeout(settings.stop_grace),
                backoff=backoff,
            )
            try:
                await supervisor.start_child(spec)
            except ChildStartError as exc:
                cause = exc.cause
                failures.append(cause if isinstance(cause, Exception) else exc)
            except RuntimeError:  # stopping already
                failures.append(PoolClosed("the converter pool stopped while starting"))

        async with trio.open_nursery() as nursery:
            for slot in self.slots:
                nursery.start_soon(start, slot)
        return failures[0] if failures else None

    # ------------------------------------------------------------- what slots call back

    def setup(self) -> Setup:
        """The ``Setup`` of a new worker of this domain."""
        return self._make_setup(self.plan)

    def accept(self, worker: WorkerProcess) -> None:
        """Check a new worker's ``Hello``; the domain's first one sets its converters (a plug-in
        domain's) and its sandbox.

        Raises:
            ConverterLoadError: a converter failed to load, or its name is another domain's.
            WorkerStartError: the ``Hello`` is not what the worker was asked for (a protocol
                violation); the worker is not used.
        """
        from ._catalog import cleaned
        from ._distrust import hello_violation
        from ._poolutil import load_error

        hello = worker.hello
        assert hello is not None
        known = list(self.infos.values()) if self.complete else None
        problem = hello_violation(hello, self.plan.setups(), known)
        if problem is not None:
            self.counters.violations += 1
            raise WorkerStartError(
                f"worker {worker.pid} protocol violation: {problem}", worker.stderr()
            )
        if hello.failures:
            raise load_error(hello.failures[0])
        if not self.complete:
            self.infos = {info.alias: info for info in plugin_infos(hello.converters)}
            self.descriptions = {
                d.alias: cleaned(d) for d in hello.descriptions if d.alias in self.infos
            }
            if self.started:  # at the pool's first start, the pool claims in domain order
                self.claim()
        if self.sandbox is None:
            self.sandbox = sandbox_of(worker)

    def claim(self) -> None:
        """Claim the domain's converter names and aliases (:func:`claim_names`).

        Raises:
            ConverterInvalid: one is another domain's; the domain forgets its converters.
        """
        try:
            claim_names(list(self.infos.values()), self.plan.id, self._names)
        except ConverterInvalid:
            if not self.plan.trusted:
                self.infos = {}
            raise

    def start_failed(self, slot: Slot, pending: Job | None, error: BaseException) -> None:
        """A process could not be started for *slot*. A retry that waited for it, and, once
        no slot of the domain can start one, every queued job, are answered
        :class:`Unavailable`; the pool is told the domain is down."""
        slot.state, slot.pid = "down", None
        why = describe_error(error)
        reason = f"no worker of converter domain {self.plan.id!r} can start: {why}"
        self.failing[slot.id] = reason
        if pending is not None:
            pending.complete(Unrun(f"no fresh worker could be started: {describe_error(error)}"))
        if len(self.failing) >= len(self.slots):
            self._went_down(reason)

    def started_again(self, slot: Slot) -> None:
        """*slot* has a process (after failed starts, or a restart of its child)."""
        self.failing.pop(slot.id, None)
        if self.down is not None:
            self.down = None
            self._on_down(self)

    def _went_down(self, reason: str) -> None:
        while self.queue:  # nobody will take them soon: the callers try again later
            job = self.queue.popleft()
            self.counters.waiting -= 1
            job.complete(Unrun(reason))
        if self.down is None:
            self.down = reason
            self._on_down(self)

    def start_delay(self, failed_starts: int) -> float:
        """Seconds before the next try after *failed_starts* failed starts in a row."""
        settings = self.settings
        backoff = Backoff(min=settings.backoff_min, max=settings.start_backoff_max)
        return backoff.delay(failed_starts - 1, random.random())

    def tolerates(self, error: BaseException, ready: bool) -> bool:
        """Whether a failed process start is waited out in the slot (else the slot fails):
        the machine's trouble once the domain runs, and, for a plug-in domain, any death or
        violation while starting, even at the pool's first start."""
        return infrastructure(error) and (ready or not self.plan.trusted)

    # ---------------------------------------------------------------------------- callers

    async def attempt(self, job: Job) -> Job:
        """Run one attempt; the job's outcome is what came of it (:class:`Unrun` when the
        domain stopped or no worker could take it)."""
        await trio.lowlevel.checkpoint_if_cancelled()  # a cancelled caller hands nothing over
        if self.supervisor is None or self.stopping:
            job.complete(NOT_STARTED if self.stopping else Unrun(self.down or "not running"))
            return job
        if self.down is not None:  # every slot is waiting to try starting a process again
            job.complete(Unrun(self.down))
            return job
        self._dispatch(job)
        try:
            await job.done.wait()
        except BaseException:
            if job.state == "queued":  # still waiting for a worker: withdraw it
                self.queue.remove(job)
                self.counters.waiting -= 1
                job.state = "new"
            raise
        return job

    def _dispatch(self, job: Job) -> None:
        """Start ``job`` on an idle worker, or queue it for the next one that is free."""
        idle = self.idle
        if idle and not self.queue:
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
        self.queue.append(job)
        self.counters.waiting += 1
