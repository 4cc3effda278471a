"""The supervisor: starts children in order, restarts them by strategy, stops them in reverse.

Every child runs in a wrapper task with its own cancel scope. The wrapper turns whatever the
child does into an :class:`~supervisors.ExitReason` and a message on the supervisor's control
channel; a child's ``Exception`` never reaches the supervisor's nursery, while ``Cancelled`` and
other ``BaseException``\\ s always propagate. One loop task reads the control channel and makes
every decision (restart, backoff, escalation, shutdown) under one lock, so decisions never
interleave with ``start_child`` or ``terminate_child`` calls from other tasks.
"""

from __future__ import annotations

import random as _random
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Final

import trio

from ._backoff import Backoff
from ._context import ChildContext, _set_current, current_child_or_none
from ._errors import (
    ChildStartError,
    DeadChannel,
    InvalidSpec,
    MaxChildrenReached,
    SupervisorError,
    SupervisorGaveUp,
    UnknownChild,
)
from ._events import (
    ChildExited,
    ChildRestarting,
    ChildStarted,
    ChildState,
    ChildStatistics,
    EventObserver,
    SupervisorEvent,
    SupervisorGaveUpEvent,
    SupervisorStatistics,
    SupervisorStopped,
)
from ._reasons import ExitReason
from ._spec import (
    AutoShutdown,
    BrutalKill,
    ChildSpec,
    Clone,
    Restart,
    ShutdownSpec,
    Strategy,
    Timeout,
)

__all__ = ["DynamicSupervisor", "Supervisor", "TaskContextFactory"]

_End = trio.MemorySendChannel[Any] | trio.MemoryReceiveChannel[Any]

TaskContextFactory = Callable[[ChildContext], AbstractContextManager[object]]
"""Builds a context manager entered in each child's task, around the child function (for
example ``lambda ctx: structlog.contextvars.bound_contextvars(actor=ctx.path)``)."""


class _Child:
    """The supervisor's mutable record of one child."""

    __slots__ = (
        "ctx",
        "exited",
        "failures",
        "incarnation",
        "kill_note",
        "last_exit",
        "pending_restart",
        "restarts",
        "scope",
        "spec",
        "started_at",
        "state",
        "stopping",
        "value",
    )

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.state = ChildState.STOPPED
        self.incarnation = 0
        self.restarts = 0
        self.failures = 0
        self.last_exit: ExitReason | None = None
        self.ctx: ChildContext | None = None
        self.scope: trio.CancelScope | None = None
        self.exited = trio.Event()
        self.exited.set()
        self.started_at = 0.0
        self.stopping = False
        self.kill_note = ""
        self.pending_restart = 0
        self.value: object = None

    @property
    def alive(self) -> bool:
        return not self.exited.is_set()

    def snapshot(self, *, tree: bool) -> ChildStatistics:
        value = self.value
        running = self.alive and self.ctx is not None
        pid = None
        if running and self.ctx is not None:
            pid = self.ctx.pid
            if isinstance(value, trio.Process):
                # not value.returncode: that polls, and a snapshot must never reap a process
                pid = value.pid
        subs = (
            tuple(sub.tree_statistics() for sub in self.ctx.supervisors)
            if tree and running and self.ctx is not None
            else ()
        )
        degraded = self.ctx.degraded if running and self.ctx is not None else None
        state = self.state
        if state is ChildState.RUNNING and degraded is not None:
            state = ChildState.DEGRADED
        return ChildStatistics(
            id=self.spec.id,
            state=state,
            incarnation=self.incarnation,
            restarts=self.restarts,
            last_exit=self.last_exit,
            kind=self.spec.kind,
            pid=pid,
            supervisors=subs,
            degraded=degraded,
        )


@dataclass(frozen=True, slots=True)
class _Exited:
    child: _Child
    incarnation: int
    reason: ExitReason


@dataclass(frozen=True, slots=True)
class _RestartDue:
    children: tuple[_Child, ...]
    token: int


@dataclass(frozen=True, slots=True)
class _StopRequested:
    """Someone asked the supervisor to stop (phase one)."""


_Message = _Exited | _RestartDue | _StopRequested
_CONTINUE: Final = object()


class _StartedRecorder:
    """Passes ``started()`` through to trio and remembers that it was called."""

    __slots__ = ("_inner", "started_called")

    def __init__(self, inner: trio.TaskStatus[object]) -> None:
        self._inner = inner
        self.started_called = False

    def started(self, value: object = None) -> None:
        self._inner.started(value)
        self.started_called = True


def _single(group: BaseExceptionGroup[Exception]) -> Exception:
    leaves: list[Exception] = []

    def walk(g: BaseExceptionGroup[Exception]) -> None:
        for exc in g.exceptions:
            if isinstance(exc, BaseExceptionGroup):
                walk(exc)
            else:
                leaves.append(exc)

    walk(group)
    if len(leaves) == 1:
        return leaves[0]
    return group if isinstance(group, ExceptionGroup) else ExceptionGroup("child failed", leaves)


def _child_args(supervisor: str, spec: ChildSpec, clones: list[_End]) -> list[object]:
    """The arguments for one incarnation: a fresh clone for each :class:`Clone` (collected in
    *clones*, which the caller closes when the incarnation ends).

    Raises:
        DeadChannel: a cloned end is closed, or it sends into a channel nobody can receive
            from; such a child could not do its work, so it must not start.
    """
    args: list[object] = []
    for position, arg in enumerate(spec.args):
        if not isinstance(arg, Clone):
            args.append(arg)
            continue
        end = arg.end
        if isinstance(end, trio.MemorySendChannel) and not end.statistics().open_receive_channels:
            raise DeadChannel(supervisor, spec.id, position, "every receive end is closed")
        try:
            clones.append(end.clone())
        except trio.ClosedResourceError:
            raise DeadChannel(supervisor, spec.id, position, "the end was closed") from None
        args.append(clones[-1])
    return args


class Supervisor:
    """An OTP supervisor on trio.

    Args:
        children: child specs, started in this order and stopped in reverse.
        name: used in events, errors and :func:`~supervisors.current_child` paths.
        strategy: which children restart together (:class:`Strategy`).
        intensity: the most restarts allowed within *period* seconds; one more and the
            supervisor stops all children and raises :class:`SupervisorGaveUp` (escalation).
        period: the window for *intensity*, in seconds of trio's clock.
        auto_shutdown: whether significant children ending stops the supervisor.
        observers: callables that receive every :data:`SupervisorEvent`.
        random: the source of jitter for backoff, returning floats in ``[0, 1)``.
        task_context: entered around every child in the child's own task (log binding).

    Raises:
        InvalidSpec: duplicate ids, bad intensity or period, or significant children without
            auto-shutdown.

    Run it with ``await nursery.start(supervisor.run)`` or :func:`~supervisors.open_supervisor`;
    as the child of another supervisor use :meth:`as_child`.
    """

    _concurrent_shutdown = False

    def __init__(
        self,
        children: Sequence[ChildSpec] = (),
        *,
        name: str = "supervisor",
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        intensity: int = 3,
        period: float = 5.0,
        auto_shutdown: AutoShutdown = AutoShutdown.NEVER,
        observers: Iterable[EventObserver] = (),
        random: Callable[[], float] = _random.random,
        task_context: TaskContextFactory | None = None,
    ) -> None:
        if intensity < 0:
            raise InvalidSpec(f"supervisor {name!r}: intensity must be >= 0, got {intensity}")
        if not period > 0:
            raise InvalidSpec(f"supervisor {name!r}: period must be positive, got {period}")
        ids = [spec.id for spec in children]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise InvalidSpec(f"supervisor {name!r}: duplicate child ids {duplicates}")
        for spec in children:
            self._check_significant(spec, name, auto_shutdown)
        self.name = name
        self.strategy = strategy
        self.intensity = intensity
        self.period = period
        self.auto_shutdown = auto_shutdown
        self._specs = tuple(children)
        self._observers = tuple(observers)
        self._random = random
        self._task_context = task_context
        self._children: dict[str, _Child] = {}
        self._restart_log: deque[tuple[float, str, ExitReason]] = deque()
        self._token = 0
        self._total_restarts = 0
        self._observer_errors = 0
        self.last_observer_error: Exception | None = None
        self._running = False
        self._stopping = False
        self._stop_pending = False
        self._done = trio.Event()
        self._lock = trio.Lock()
        self._nursery: trio.Nursery | None = None
        self._control: trio.MemorySendChannel[_Message] | None = None
        # Channel originals handed over through Clone, by identity: owned until this run ends.
        self._owned: dict[int, _End] = {}

    @staticmethod
    def _check_significant(spec: ChildSpec, name: str, auto_shutdown: AutoShutdown) -> None:
        if spec.significant and auto_shutdown is AutoShutdown.NEVER:
            raise InvalidSpec(
                f"supervisor {name!r}: child {spec.id!r} is significant but auto_shutdown is NEVER"
            )

    # ----------------------------------------------------------------------------------- API

    def as_child(
        self,
        *,
        restart: Restart = Restart.PERMANENT,
        shutdown: ShutdownSpec | None = None,
        significant: bool = False,
        backoff: Backoff | None = None,
    ) -> ChildSpec:
        """A child spec that runs this supervisor under another one (its id is the name).

        When the parent restarts it, it starts again from its specs: children added at run
        time are lost, as in OTP. Its default shutdown is infinity: it stops its own children
        in order, each within its own grace period.
        """
        return ChildSpec(
            id=self.name,
            fn=self.run,
            restart=restart,
            shutdown=shutdown,
            significant=significant,
            backoff=backoff,
            kind="supervisor",
        )

    async def run(
        self, *, task_status: trio.TaskStatus[Supervisor] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Start the children in order, report ready, then supervise until stopped.

        Returns after a requested stop or an auto-shutdown, once every child has stopped.

        Raises:
            ChildStartError: a child failed to start; the ones already started were stopped.
            SupervisorGaveUp: restart intensity was exceeded; all children were stopped.
            RuntimeError: the supervisor is already running.

        Cancellation: cancelling ``run`` cancels every child at once (phase two of a stop);
        OS-process children are still killed and reaped. For an orderly stop use :meth:`stop`.
        """
        if self._running:
            raise RuntimeError(f"supervisor {self.name!r} is already running")
        self._reset()
        send, receive = trio.open_memory_channel[_Message](float("inf"))
        outcome: SupervisorError | None = None
        parent: ChildContext | None = None
        try:
            async with send, receive, trio.open_nursery() as nursery:
                self._nursery = nursery
                self._control = send
                if self._stop_pending:
                    send.send_nowait(_StopRequested())
                parent = current_child_or_none()
                if parent is not None:
                    parent._supervisors.append(self)  # the parent's tree snapshot shows us
                    nursery.start_soon(self._follow_parent, parent)
                outcome = await self._start_initial()
                if outcome is None:
                    task_status.started(self)
                    outcome = await self._loop(receive)
                nursery.cancel_scope.cancel(reason=f"supervisor {self.name!r} finished")
        finally:
            if parent is not None and self in parent._supervisors:
                parent._supervisors.remove(self)
            self._running = False
            self._nursery = None
            self._control = None
            self._done.set()
        if outcome is not None:
            raise outcome

    def request_stop(self) -> None:
        """Begin an orderly stop (phase one) and return at once.

        Children are stopped in reverse start order, each by its shutdown spec; a child that
        is a supervisor stops its own children the same way.
        """
        self._stop_pending = True
        if self._control is not None:
            self._control.send_nowait(_StopRequested())

    async def stop(self, grace: float | None = None) -> None:
        """Stop the whole tree in two phases and wait until it has stopped.

        Phase one is :meth:`request_stop`: children may drain and return. If *grace* seconds
        pass before phase one ends, phase two cancels everything still running (OS-process
        children are killed and reaped). ``None`` waits for phase one however long it takes.

        Cancellation: if this call is cancelled, the stop continues in the background.
        """
        if not self._running:
            return
        self.request_stop()
        if grace is not None:
            with trio.move_on_after(grace):
                await self._done.wait()
            if not self._done.is_set() and self._nursery is not None:
                self._nursery.cancel_scope.cancel(
                    reason=f"supervisor {self.name!r} did not stop within {grace} s"
                )
        await self._done.wait()

    async def wait_stopped(self) -> None:
        """Block until :meth:`run` has returned or raised."""
        await self._done.wait()

    async def start_child(self, spec: ChildSpec) -> object:
        """Add a child at run time, start it, and return the value it passed to ``started()``.

        Raises:
            InvalidSpec: a child with this id exists, or the spec needs auto-shutdown.
            ChildStartError: the child failed before it was ready; it is not kept.
            MaxChildrenReached: a dynamic supervisor is full.
            RuntimeError: the supervisor is not running or is stopping.
        """
        self._check_significant(spec, self.name, self.auto_shutdown)
        async with self._lock:
            if not self._running or self._stopping:
                raise RuntimeError(f"supervisor {self.name!r} is not running")
            if spec.id in self._children:
                raise InvalidSpec(f"supervisor {self.name!r} already has a child {spec.id!r}")
            self._check_capacity()
            child = _Child(spec)
            self._children[spec.id] = child
            self._own(spec)
        # The start runs outside the lock, so several children can start at once (a pool of
        # worker processes). The child is registered already: it counts against capacity, and
        # a shutdown that begins meanwhile stops it like any other child.
        error = await self._start(child)
        if error is not None:
            async with self._lock:
                if self._children.get(spec.id) is child:
                    del self._children[spec.id]
            raise error
        return child.value

    async def terminate_child(self, child_id: str) -> None:
        """Stop a child by its shutdown spec and forget it.

        Channel originals it was given through :class:`~supervisors.Clone` stay open: the
        supervisor owns them until it stops, so a child started later with the same end works.

        Raises:
            UnknownChild: no child has this id.
        """
        async with self._lock:
            child = self._children.get(child_id)
            if child is None:
                raise UnknownChild(self.name, child_id)
            await self._terminate(child)
            del self._children[child_id]

    async def restart_child(self, child_id: str) -> object:
        """Stop a child by its shutdown spec (if it runs) and start it again in its place.

        The child keeps its position in the start order, and its restart does not count
        against the intensity (it was asked for, as with OTP's ``restart_child``). Returns the
        value the new incarnation passed to ``started()``.

        Raises:
            UnknownChild: no child has this id.
            ChildStartError: the new incarnation failed to start; the child stays stopped.
            RuntimeError: the supervisor is not running or is stopping.
        """
        async with self._lock:
            if not self._running or self._stopping:
                raise RuntimeError(f"supervisor {self.name!r} is not running")
            child = self._children.get(child_id)
            if child is None:
                raise UnknownChild(self.name, child_id)
            await self._terminate(child)
            error = await self._start(child)
            if error is not None:
                raise error
            return child.value

    def which_children(self) -> tuple[str, ...]:
        """The ids of the current children, in start order."""
        return tuple(self._children)

    def statistics(self) -> SupervisorStatistics:
        """A frozen snapshot of the supervisor and each child (this level only)."""
        return self._statistics(tree=False)

    def tree_statistics(self) -> SupervisorStatistics:
        """A frozen snapshot of the whole tree below this supervisor, in one call.

        Like :meth:`statistics`, and each running child also carries the snapshots of the
        supervisors it runs (sub-supervisors, dynamic supervisors started inside a child, a
        worker pool's supervisor), each with its own children, down to the leaves; a child
        running an OS process carries its pid. Taken synchronously, so no part of the tree
        changes while it is taken.
        """
        return self._statistics(tree=True)

    def _statistics(self, *, tree: bool) -> SupervisorStatistics:
        self._prune(trio.current_time())
        return SupervisorStatistics(
            name=self.name,
            strategy=self.strategy.value,
            children=tuple(child.snapshot(tree=tree) for child in self._children.values()),
            restarts_in_period=len(self._restart_log),
            total_restarts=self._total_restarts,
            stopping=self._stopping,
            observer_errors=self._observer_errors,
        )

    # ---------------------------------------------------------------------- hooks for subclasses

    def _check_capacity(self) -> None:
        """Raise if another child would exceed a limit (none for a static supervisor)."""

    def _forget_after_exit(self, child: _Child) -> bool:
        """Whether a child that will not be restarted leaves the child list (OTP: temporary)."""
        return child.spec.restart is Restart.TEMPORARY

    # ----------------------------------------------------------------------------- internals

    def _reset(self) -> None:
        self._running = True
        self._stopping = False
        self._done = trio.Event()
        self._children = {spec.id: _Child(spec) for spec in self._specs}
        self._restart_log.clear()
        self._owned = {}
        for spec in self._specs:
            self._own(spec)

    def _own(self, spec: ChildSpec) -> None:
        for clone in spec.clones:
            self._owned[id(clone.end)] = clone.end

    def _emit(self, event: SupervisorEvent) -> None:
        for observer in self._observers:
            try:
                observer(event)
            except Exception as exc:  # an observer must never take the supervisor down
                self._observer_errors += 1
                self.last_observer_error = exc

    async def _follow_parent(self, parent: ChildContext) -> None:
        await parent.wait_stop_requested()
        self.request_stop()

    async def _start_initial(self) -> SupervisorError | None:
        async with self._lock:
            for child in list(self._children.values()):
                error = await self._start(child)
                if error is not None:
                    await self._shutdown("start_failed")
                    return error
        return None

    async def _loop(self, receive: trio.MemoryReceiveChannel[_Message]) -> SupervisorError | None:
        async for message in receive:
            async with self._lock:
                result = await self._handle(message)
            if result is not _CONTINUE:
                return result if isinstance(result, SupervisorError) else None
        return None  # pragma: no cover - we hold a send end, so the channel never ends

    async def _handle(self, message: _Message) -> object:
        if isinstance(message, _StopRequested):
            if not self._stopping:
                await self._shutdown("requested")
            return None
        if self._stopping:
            return _CONTINUE
        if isinstance(message, _RestartDue):
            due = [c for c in message.children if c.pending_restart == message.token]
            if due:
                await self._start_group(due)
            return _CONTINUE
        return await self._handle_exit(message)

    async def _handle_exit(self, message: _Exited) -> object:
        child, reason = message.child, message.reason
        if (
            child.incarnation != message.incarnation
            or child.stopping
            or self._children.get(child.spec.id) is not child
        ):
            return _CONTINUE
        spec = child.spec
        now = trio.current_time()

        if spec.significant and self._significant_exit_counts(spec.restart, reason):
            child.state = ChildState.EXITED
            if self._auto_shutdown_due():
                await self._shutdown("auto_shutdown")
                return None

        restart = spec.restart is Restart.PERMANENT or (
            spec.restart is Restart.TRANSIENT and reason.abnormal
        )
        if not restart:
            if self._forget_after_exit(child):
                del self._children[spec.id]
            return _CONTINUE

        self._restart_log.append((now, spec.id, reason))
        self._prune(now)
        if len(self._restart_log) > self.intensity:
            reasons = tuple((cid, r) for _, cid, r in self._restart_log)
            self._emit(SupervisorGaveUpEvent(self.name, reasons, now))
            await self._shutdown("gave_up")
            return SupervisorGaveUp(self.name, reasons)

        delay = 0.0
        if spec.backoff is not None:
            if now - child.started_at >= spec.backoff.stable_after:
                child.failures = 0
            delay = spec.backoff.delay(child.failures, self._random())
            child.failures += 1

        group = self._restart_group(child)
        for other in reversed(group):
            if other is not child:
                await self._terminate(other)
        for other in group:
            if other is not child and other.spec.restart is Restart.TEMPORARY:
                del self._children[other.spec.id]
        group = [c for c in group if self._children.get(c.spec.id) is c]
        self._schedule(group, delay)
        return _CONTINUE

    @staticmethod
    def _significant_exit_counts(restart: Restart, reason: ExitReason) -> bool:
        return restart is Restart.TEMPORARY or not reason.abnormal

    def _auto_shutdown_due(self) -> bool:
        significant = [c for c in self._children.values() if c.spec.significant]
        ended = [c for c in significant if c.state is ChildState.EXITED]
        if self.auto_shutdown is AutoShutdown.ANY_SIGNIFICANT:
            return bool(ended)
        if self.auto_shutdown is AutoShutdown.ALL_SIGNIFICANT:
            return len(ended) == len(significant)
        return False

    def _restart_group(self, child: _Child) -> list[_Child]:
        children = list(self._children.values())
        if self.strategy is Strategy.ONE_FOR_ALL:
            return children
        if self.strategy is Strategy.REST_FOR_ONE:
            return children[children.index(child) :]
        return [child]

    def _schedule(self, group: list[_Child], delay: float) -> None:
        now = trio.current_time()
        self._token += 1
        for c in group:
            c.restarts += 1
            c.pending_restart = self._token
            c.state = ChildState.BACKOFF
            self._emit(ChildRestarting(self.name, c.spec.id, c.restarts, delay, now))
        self._total_restarts += 1
        due = _RestartDue(tuple(group), self._token)
        if delay <= 0:
            assert self._control is not None
            self._control.send_nowait(due)
        else:
            assert self._nursery is not None
            self._nursery.start_soon(self._restart_later, delay, due)

    async def _restart_later(self, delay: float, due: _RestartDue) -> None:
        await trio.sleep(delay)
        if self._control is not None:
            self._control.send_nowait(due)

    async def _start_group(self, group: Sequence[_Child]) -> None:
        for child in group:
            error = await self._start(child)
            if error is not None:
                # Handled like any exit: counts against intensity and applies the strategy,
                # which also covers the members of the group not started yet.
                assert self._control is not None
                assert child.last_exit is not None
                self._control.send_nowait(_Exited(child, child.incarnation, child.last_exit))
                return

    def _prune(self, now: float) -> None:
        while self._restart_log and self._restart_log[0][0] <= now - self.period:
            self._restart_log.popleft()

    async def _start(self, child: _Child) -> ChildStartError | None:
        assert self._nursery is not None
        child.incarnation += 1
        child.pending_restart = 0
        child.stopping = False
        child.kill_note = ""
        child.state = ChildState.STARTING
        child.exited = trio.Event()
        ctx = ChildContext(self.name, child.spec.id, child.incarnation)
        child.ctx = ctx
        # The scope exists before the task runs, so a stop can always cancel a starting child.
        scope = child.scope = trio.CancelScope()
        try:
            child.value = await self._nursery.start(self._child_task, child, ctx, scope)
        except ChildStartError as error:
            reason = ExitReason.from_exception(error.cause or error)
            child.state = ChildState.EXITED
            child.last_exit = reason
            child.exited.set()
            self._emit(
                ChildExited(
                    self.name, child.spec.id, ctx.incarnation, reason, trio.current_time(), True
                )
            )
            return error
        now = trio.current_time()
        child.started_at = now
        if child.alive:
            child.state = ChildState.RUNNING
        self._emit(ChildStarted(self.name, child.spec.id, ctx.incarnation, now))
        return None

    async def _child_task(
        self,
        child: _Child,
        ctx: ChildContext,
        scope: trio.CancelScope,
        *,
        task_status: trio.TaskStatus[object],
    ) -> None:
        _set_current(ctx)
        spec = child.spec
        clones: list[_End] = []
        status = _StartedRecorder(task_status)
        failure: Exception | None = None
        task_context = self._task_context(ctx) if self._task_context is not None else nullcontext()
        try:
            with scope, task_context:
                try:
                    args = _child_args(self.name, spec, clones)
                    await spec.fn(*args, task_status=status)
                except* Exception as group:
                    failure = _single(group)
        finally:
            for end in clones:
                end.close()
            if not status.started_called:
                child.exited.set()

        if not status.started_called:
            cause: BaseException = failure or RuntimeError(
                "returned without calling task_status.started()"
                if not scope.cancelled_caught
                else "cancelled before it was ready"
            )
            raise ChildStartError(self.name, spec.id, cause) from cause

        if failure is not None:
            reason = ExitReason.from_exception(failure)
        elif scope.cancelled_caught:
            reason = ExitReason.killed(child.kill_note or "cancelled by its supervisor")
        elif ctx.stop_requested:
            reason = ExitReason.shutdown()
        else:
            reason = ExitReason.normal()
        child.state = ChildState.STOPPED if child.stopping else ChildState.EXITED
        child.last_exit = reason
        child.exited.set()
        self._emit(ChildExited(self.name, spec.id, ctx.incarnation, reason, trio.current_time()))
        if self._control is not None:
            self._control.send_nowait(_Exited(child, ctx.incarnation, reason))

    async def _terminate(self, child: _Child) -> None:
        """Stop one child by its shutdown spec and wait until it has exited."""
        if not child.alive:
            child.pending_restart = 0  # a restart waiting for its backoff delay is called off
            if child.state is ChildState.BACKOFF:
                child.state = ChildState.STOPPED
            return
        child.stopping = True
        child.state = ChildState.STOPPING
        assert child.ctx is not None
        assert child.scope is not None
        shutdown = child.spec.effective_shutdown
        if isinstance(shutdown, BrutalKill):
            child.kill_note = "killed at once (brutal_kill)"
            child.scope.cancel(reason=f"{child.ctx.path}: brutal_kill")
        else:
            child.ctx.request_stop()
            if isinstance(shutdown, Timeout):
                with trio.move_on_after(shutdown.seconds):
                    await child.exited.wait()
                if child.alive:
                    child.kill_note = f"did not stop within its {shutdown.seconds} s grace period"
                    child.scope.cancel(reason=f"{child.ctx.path}: grace period over")
        await child.exited.wait()

    async def _shutdown(self, why: str) -> None:
        self._stopping = True
        children = list(self._children.values())
        if self._concurrent_shutdown:
            async with trio.open_nursery() as nursery:
                for child in children:
                    nursery.start_soon(self._terminate, child)
            self._close_originals(())
        else:
            # Ends that no child holds any more (their children were removed or forgotten)
            # close first; then, as the children stop in reverse order (producers first), each
            # end closes once the last child holding it has stopped, so consumers still running
            # see EndOfChannel and drain.
            self._close_originals(children)
            for index in range(len(children) - 1, -1, -1):
                await self._terminate(children[index])
                self._close_originals(children[:index])
        self._emit(SupervisorStopped(self.name, why, trio.current_time()))

    def _close_originals(self, still_running: Iterable[_Child]) -> None:
        """Close the owned channel originals that no child in *still_running* holds."""
        in_use = {id(clone.end) for other in still_running for clone in other.spec.clones}
        for key in [key for key in self._owned if key not in in_use]:
            self._owned.pop(key).close()


class DynamicSupervisor(Supervisor):
    """A one-for-one supervisor for children added at run time (OTP's simple_one_for_one,
    Elixir's DynamicSupervisor).

    Children start with :meth:`start_child` and stop with :meth:`terminate_child`; at shutdown
    they stop concurrently. A child that will not be restarted is forgotten when it exits.

    Args:
        max_children: refuse :meth:`start_child` beyond this many children (``None``: no limit).
        **options: as for :class:`Supervisor` (strategy is always one-for-one).
    """

    _concurrent_shutdown = True

    def __init__(
        self,
        *,
        name: str = "dynamic",
        max_children: int | None = None,
        intensity: int = 3,
        period: float = 5.0,
        auto_shutdown: AutoShutdown = AutoShutdown.NEVER,
        observers: Iterable[EventObserver] = (),
        random: Callable[[], float] = _random.random,
        task_context: TaskContextFactory | None = None,
    ) -> None:
        if max_children is not None and max_children < 0:
            raise InvalidSpec(f"supervisor {name!r}: max_children must be >= 0")
        super().__init__(
            (),
            name=name,
            strategy=Strategy.ONE_FOR_ONE,
            intensity=intensity,
            period=period,
            auto_shutdown=auto_shutdown,
            observers=observers,
            random=random,
            task_context=task_context,
        )
        self.max_children = max_children

    def _check_capacity(self) -> None:
        if self.max_children is not None and len(self._children) >= self.max_children:
            raise MaxChildrenReached(self.name, self.max_children)

    def _forget_after_exit(self, child: _Child) -> bool:
        return True
