"""A worker slot's life: start processes one after another and serve jobs on each.

The hand-over costs as few trips through trio's scheduler as it can. A slot with nothing to do
waits for its worker's output (which is also how it notices the worker dying), listed as idle. A
caller that finds an idle worker starts the job itself, in its own task, by writing the request
to the worker's pipe, and then waits for the outcome; the slot wakes up once, for the answer.
Callers that find no idle worker queue; a slot that has finished a job starts the next queued
one before it goes idle. One cancel scope covers a slot's waiting until something interrupts it;
a job's wall-clock timeout is that scope's deadline while the job runs.

Every answer is checked before the job takes it (:func:`converters._distrust.answer_violation`):
a violation ends the job like a crash (the process is killed and replaced, the caller gets the
failure), never the pool.

When a process dies or is killed while converting, the caller gets the failure and the child raises
:class:`~converters.WorkerLost`: the domain's supervisor restarts the slot after its backoff delay.
A process is also replaced on purpose, without a crash ("recycled"): to give a retry a fresh
process, after ``max_conversions_per_worker`` files, before its CPU lifetime runs out, after an
out-of-memory answer, and when a converter left processes behind.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, NoReturn

import trio

from supervisors import ChildContext, current_child

from ._distrust import answer_violation
from ._errors import WorkerLost
from ._poolutil import VIOLATION, describe_error, leaves
from ._process import WorkerProcess, describe_exit, open_worker
from ._protocol import Done, FrameError, Hello, Refused, Scores
from ._session import (
    ABORTED,
    DIED,
    GO_ON,
    INTERRUPTED,
    Failure,
    Job,
    Recycle,
    Session,
    Slot,
    Step,
    Unrun,
)

if TYPE_CHECKING:
    from ._domain import WorkerDomain

__all__ = ["serve_slot"]

logger = logging.getLogger("converters.pool")


async def serve_slot(
    domain: WorkerDomain,
    slot: Slot,
    *,
    task_status: trio.TaskStatus[Hello | None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """One worker slot: run processes one after another, serving jobs, until stopped.

    The first start of a built-in slot fails if its process cannot be started (the pool does
    not start). Once the domain runs (and for a plug-in domain from the start, unless its
    converter does not load), a slot is ready at once, and a process that cannot be started is
    tried again with capped backoff inside the slot, for as long as it takes: it is not a crash
    of the slot, so it never uses up the supervisor's restart intensity.
    """
    ctx = current_child()
    pending: Job | None = None
    ready = False
    failure: BaseException | None = None
    failed_starts = 0
    if domain.started:  # a restart, or a slot of a running domain: never fails to start
        task_status.started(None)
        ready = True
    try:
        while not ctx.stop_requested:
            slot.state, slot.pid, slot.conversions = "starting", None, 0
            async with contextlib.AsyncExitStack() as stack:
                try:
                    worker = await stack.enter_async_context(
                        open_worker(domain.settings, domain.setup())
                    )
                    domain.accept(worker)
                except Exception as exc:
                    if not domain.tolerates(exc, ready):
                        raise
                    if not ready:
                        task_status.started(None)
                        ready = True
                    failed_starts += 1
                    stderr = next((e.stderr for e in leaves(exc) if hasattr(e, "stderr")), "")
                    logger.warning(
                        "converter domain %r: a worker cannot start (%s)%s",
                        domain.plan.id,
                        describe_error(exc),
                        f"; its stderr ends: {stderr[-600:]}" if stderr else "",
                    )
                    ctx.report_degraded(f"no worker process can start: {describe_error(exc)}")
                    domain.start_failed(slot, pending, exc)
                    pending = None
                    await _sleep_unless_stopped(ctx, domain.start_delay(failed_starts))
                    continue
                failed_starts = 0
                ctx.report_recovered()
                domain.started_again(slot)
                slot.pid = worker.pid
                slot.worker_pid = worker.worker_pid
                ctx.report_process(worker.pid)  # the tree's statistics show it
                slot.processes += 1
                if not ready:
                    task_status.started(worker.hello)
                    ready = True
                session = Session(
                    slot,
                    worker,
                    ctx,
                    idle=domain.idle,
                    counters=domain.counters,
                    settings=domain.settings,
                )
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(worker.monitor)
                    nursery.start_soon(_interrupt_when, worker.wait_exited, session)
                    nursery.start_soon(_interrupt_when, ctx.wait_stop_requested, session)
                    next_step = await _serve(domain, session, pending)
                    pending = None
                    nursery.cancel_scope.cancel()
            if isinstance(next_step, Recycle):
                pending = next_step.pending
                domain.counters.recycles += 1
            else:
                return
    except BaseException as exc:
        failure = exc
        raise
    finally:
        slot.state, slot.pid = "down", None
        ctx.report_process(None)
        domain.failing.pop(slot.id, None)
        if pending is not None:  # a retry waiting for the fresh process that did not come
            pending.complete(
                Unrun(f"no fresh worker could be started: {describe_error(failure)}")
                if not ctx.stop_requested
                else ABORTED
            )


async def _serve(domain: WorkerDomain, session: Session, pending: Job | None) -> Recycle | None:
    """Serve jobs on one process: ``pending`` first (a job that needs a fresh process), then
    queued jobs, then whatever callers start while it is idle.

    Returns:
        ``None`` to stop, or a :class:`Recycle` to go on with a fresh process.

    Raises:
        WorkerLost: the process died or was killed (while idle or converting).
    """
    try:
        if pending is not None:
            session.start(pending)
        else:
            first = _next(domain, session)
            if not isinstance(first, Step):
                return first
        while True:
            # Failures are dealt with outside the scope: waiting for a killed process must not
            # be cut short by the job's deadline, nor mistaken for it.
            scope = session.scope = trio.CancelScope(deadline=session.deadline)
            if session.watch is not None:
                session.watch.scope = scope
            step: Recycle | Step | Failure | None = INTERRUPTED
            with scope:
                step = await _serve_in_scope(domain, session)
            if step is INTERRUPTED:
                step = _interrupted(session)
            if isinstance(step, Failure):
                await _lost(session, step)
            if not isinstance(step, Step):
                return step
    finally:
        session.delist()
        job = session.job
        if job is not None:  # cancelled while converting: the caller gets Unavailable
            session.job = None
            domain.counters.busy -= 1
            job.complete(ABORTED)


async def _serve_in_scope(
    domain: WorkerDomain, session: Session
) -> Recycle | Step | Failure | None:
    """Wait for answers and deal with them, until the scope is cancelled, the job fails, or
    the process must stop or be replaced."""
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
                return _violation(domain, str(exc))
        job = session.job
        if job is None:  # idle: its output ended, or it wrote without being asked
            session.delist()
            if payload is not None:
                domain.counters.violations += 1
                raise WorkerLost(worker.pid, f"{VIOLATION}: it wrote while idle")
            status = await worker.exit_status()
            if session.ctx.stop_requested:
                return None
            raise WorkerLost(worker.pid, f"{status} while idle")
        if payload is None:
            return DIED
        answer = worker.answer(payload, job.id)
        if isinstance(answer, str):
            return _violation(domain, answer.removeprefix(f"{VIOLATION}: "))
        problem = answer_violation(
            answer,
            detect_only=job.detect_only,
            converter=job.converter,
            poll=job.poll,
            aliases=tuple(domain.infos),
            eligible=domain.aliases_with("on"),
        )
        if problem is not None:
            return _violation(domain, problem)
        _finish(session, answer)
        step = _next(domain, session)
        if not isinstance(step, Step):
            return step


def _violation(domain: WorkerDomain, problem: str) -> Failure:
    domain.counters.violations += 1
    logger.warning("converter domain %r: %s: %s", domain.plan.id, VIOLATION, problem)
    return Failure("crashed", f"{VIOLATION}: {problem}")


def _interrupted(session: Session) -> Recycle | Step | Failure | None:
    """The slot's scope was cancelled: a caller handed this idle worker a retry (recycle), the
    process exited or a stop was requested while idle, the job overran its limits or its
    wall-clock time, or the wake-up was for nothing that ends the job (a caller needs the rest
    of a long request written; a deadline left from a finished job)."""
    job, watch = session.job, session.watch
    if job is None:
        if session.recycle_with is not None:
            pending, session.recycle_with = session.recycle_with, None
            return Recycle(pending)
        if session.interrupted:
            session.delist()
            if session.ctx.stop_requested:
                return None
            status = describe_exit(session.worker.returncode)
            raise WorkerLost(session.worker.pid, f"{status} while idle")
        return GO_ON
    assert watch is not None
    if watch.overrun is not None:
        return Failure(watch.overrun)
    if trio.current_time() < session.deadline:
        return GO_ON
    return Failure("wall")


async def _lost(session: Session, failure: Failure) -> NoReturn:
    """The job in progress failed and took the process with it: the caller gets the failure
    (and retries), the slot raises WorkerLost (and its supervisor restarts it)."""
    job, watch, worker = session.job, session.watch, session.worker
    assert job is not None
    assert watch is not None
    if failure is DIED:
        outcome = await worker.died(watch)
    else:
        outcome = await worker.failed(failure.kind, watch, failure.description)
    session.job = session.watch = None
    session.counters.busy -= 1
    job.complete(outcome)
    session.slot.conversions = worker.jobs_done
    session.counters.worker_crashes += 1
    logger.warning("worker %d: %s (file %r)", worker.pid, outcome.description, job.name)
    raise WorkerLost(worker.pid, outcome.description)


def _finish(session: Session, answer: Done | Refused | Scores) -> None:
    job = session.job
    assert job is not None
    session.job = session.watch = None
    session.deadline = math.inf  # the scope keeps its deadline: idle, it wakes for nothing
    session.counters.busy -= 1
    session.slot.conversions = session.worker.jobs_done
    job.complete(answer)


def _next(domain: WorkerDomain, session: Session) -> Recycle | Step | None:
    """After a job (or on a new process): stop, recycle, start the next queued job, or wait as
    an idle worker."""
    worker = session.worker
    if session.ctx.stop_requested:
        return None
    if _worn_out(domain, worker):
        return Recycle(None)
    if session.interrupted:  # the process exited while it converted
        raise WorkerLost(worker.pid, f"{describe_exit(worker.returncode)} while idle")
    if domain.queue:
        job = domain.queue.popleft()
        domain.counters.waiting -= 1
        if job.fresh and worker.jobs_done > 0:
            job.state = "taken"
            return Recycle(job)
        session.start(job)
        return GO_ON
    session.list_idle()
    return GO_ON


def _worn_out(domain: WorkerDomain, worker: WorkerProcess) -> bool:
    settings = domain.settings
    return (
        worker.tainted
        or worker.jobs_done >= settings.max_conversions_per_worker
        or worker.cpu_total > settings.cpu_lifetime_seconds - settings.cpu_seconds - 1
    )


async def _interrupt_when(event: Callable[[], Awaitable[object]], session: Session) -> None:
    await event()
    session.interrupt()


async def _sleep_unless_stopped(ctx: ChildContext, seconds: float) -> None:
    """Wait *seconds*, or until the slot is asked to stop."""
    async with trio.open_nursery() as nursery:

        async def stop_early() -> None:
            await ctx.wait_stop_requested()
            nursery.cancel_scope.cancel()

        nursery.start_soon(stop_early)
        await trio.sleep(seconds)
        nursery.cancel_scope.cancel()
