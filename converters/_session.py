"""The pieces a worker slot is made of: jobs, slots, counters, and one process serving jobs.

A :class:`Job` is one attempt at a file (or at detecting its converter), handed to a worker
process of one trust domain. A :class:`Session` is one worker process serving jobs in its slot,
as its domain and the callers see it: a caller that finds it idle starts its job on it directly
(:meth:`Session.start`), without a trip through the slot's task.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import trio

from supervisors import ChildContext

from ._process import JobFailure, WorkerProcess, _Watch
from ._protocol import Done, Refused, Scores
from ._results import WorkerStatistics

if TYPE_CHECKING:
    from ._settings import PoolSettings

__all__ = [
    "ABORTED",
    "DIED",
    "GO_ON",
    "INTERRUPTED",
    "NOT_STARTED",
    "Counters",
    "Failure",
    "Job",
    "Outcome",
    "Recycle",
    "Session",
    "Slot",
    "Step",
    "Unrun",
]


@dataclass(frozen=True, slots=True)
class Unrun:
    """The job could not run (to its end): the pool stopped, or no worker could be started.
    The caller gets :class:`Unavailable`: nothing is known about the file."""

    reason: str


ABORTED = Unrun("the converter pool stopped while converting the file")
NOT_STARTED = Unrun("the converter pool stopped before a worker took the file")
Outcome = Done | Refused | Scores | JobFailure | Unrun


@dataclass(eq=False, slots=True)
class Job:
    """One attempt, from the caller's hand-over to its outcome.

    Attributes:
        converter: the alias asked for (``None``: the worker detects, then converts).
        detect_only: a ``Detect`` (only scores are asked for).
        poll: a scheduled converter's ``Poll`` (its ``Done`` carries keys and a cursor).
        timeout: its wall-clock limit, when not the pool's ``timeout`` (a schedule's own).
        fresh: it must run on a process that has converted nothing before (a retry).
        request: the encoded request frame (emptied once handed to a worker).
    """

    id: int
    name: str
    converter: str | None
    fresh: bool
    queued_at: float
    request: bytes
    detect_only: bool = False
    poll: bool = False
    timeout: float | None = None
    started_at: float = 0.0
    state: Literal["new", "queued", "taken"] = "new"
    outcome: Outcome | None = None
    done: trio.Event = field(default_factory=trio.Event)

    def complete(self, outcome: Outcome) -> None:
        if self.outcome is None:
            self.outcome = outcome
            self.done.set()


@dataclass(eq=False, slots=True)
class Slot:
    id: str
    domain: str
    state: Literal["starting", "idle", "busy", "down"] = "starting"
    pid: int | None = None
    conversions: int = 0
    processes: int = 0
    worker_pid: int | None = None

    def snapshot(self) -> WorkerStatistics:
        return WorkerStatistics(
            self.id,
            self.state,
            self.pid,
            self.conversions,
            self.processes,
            self.domain,
            self.worker_pid if self.pid is not None else None,
        )


@dataclass(slots=True)
class Counters:
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
    violations: int = 0
    waiting: int = 0
    busy: int = 0


@dataclass(frozen=True, slots=True)
class Recycle:
    """Replace the process by a fresh one (which runs ``pending`` first)."""

    pending: Job | None


class Step:
    """How serving goes on (``GO_ON``), or that the slot's scope was cancelled."""


GO_ON = Step()
INTERRUPTED = Step()


@dataclass(frozen=True, slots=True)
class Failure:
    """The job in progress failed; the process must be killed (or is dead) and replaced."""

    kind: Literal["crashed", "wall", "cpu", "rss"]
    description: str | None = None


DIED = Failure("crashed")  # its output ended: how it ended is found out


class Session:
    """One worker process serving jobs in its slot, as its domain and the callers see it.

    Attributes:
        scope: the cancel scope the slot waits in; its deadline is the job's wall-clock limit.
            Cancelling it interrupts the slot; a new scope is opened when serving goes on.
        job, watch: the job in progress and its watch.
        deadline: when the job in progress times out (``inf``: no job).
        listed: it is in the domain's idle list.
        interrupted: the process exited or a stop was requested.
        recycle_with: a retry to run on a fresh process instead of this one.
        task: the slot's task.
    """

    __slots__ = (
        "counters",
        "ctx",
        "deadline",
        "idle",
        "interrupted",
        "job",
        "listed",
        "recycle_with",
        "scope",
        "settings",
        "slot",
        "task",
        "watch",
        "worker",
    )

    def __init__(
        self,
        slot: Slot,
        worker: WorkerProcess,
        ctx: ChildContext,
        *,
        idle: deque[Session],
        counters: Counters,
        settings: PoolSettings,
    ) -> None:
        self.slot = slot
        self.worker = worker
        self.ctx = ctx
        self.idle = idle
        self.counters = counters
        self.settings = settings
        self.scope = trio.CancelScope()
        self.job: Job | None = None
        self.watch: _Watch | None = None
        self.deadline = math.inf
        self.listed = False
        self.interrupted = False
        self.recycle_with: Job | None = None
        self.task = trio.lowlevel.current_task()

    def start(self, job: Job) -> None:
        """Start ``job`` on this worker, from any task: no checkpoint, so it cannot be
        cancelled half-way. The request goes into the pipe now; a long one that does not fit
        wakes the slot to write the rest."""
        self.delist()
        now = trio.current_time()
        job.state, job.started_at = "taken", now
        self.job = job
        self.slot.state = "busy"
        self.counters.busy += 1
        limit = job.timeout if job.timeout is not None else self.settings.timeout
        self.deadline = self.scope.deadline = now + limit
        watch = self.watch = self.worker.begin(job.request, self.scope, job.id)
        job.request = b""  # written, or held by ``watch.unsent`` until it is
        if (watch.unsent is not None or watch.send_failed) and (
            trio.lowlevel.current_task() is not self.task
        ):
            self.scope.cancel()  # wake the slot: it writes the rest, or finds the process dead

    def recycle(self, job: Job) -> None:
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

    def list_idle(self) -> None:
        self.slot.state = "idle"
        self.listed = True
        self.idle.append(self)

    def delist(self) -> None:
        if self.listed:
            self.listed = False
            self.idle.remove(self)
