"""Events and statistics: everything a supervisor does is observable.

Observers are plain callables that receive each event synchronously, in order, on the
supervisor's task; they must not block. To move events elsewhere, hand them to a channel with
``send_nowait`` (and decide what a full channel means).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ._reasons import ExitReason

__all__ = [
    "ChildExited",
    "ChildRestarting",
    "ChildStarted",
    "ChildState",
    "ChildStatistics",
    "EventObserver",
    "SupervisorEvent",
    "SupervisorGaveUpEvent",
    "SupervisorStatistics",
    "SupervisorStopped",
]


@dataclass(frozen=True, slots=True)
class ChildStarted:
    """An incarnation of a child reported readiness."""

    supervisor: str
    child_id: str
    incarnation: int
    time: float


@dataclass(frozen=True, slots=True)
class ChildExited:
    """An incarnation of a child ended (or failed to start); *reason* says why."""

    supervisor: str
    child_id: str
    incarnation: int
    reason: ExitReason
    time: float
    during_start: bool = False


@dataclass(frozen=True, slots=True)
class ChildRestarting:
    """The supervisor decided to restart a child after *delay* seconds.

    *restarts* counts the restarts of this child so far, this one included.
    """

    supervisor: str
    child_id: str
    restarts: int
    delay: float
    time: float


@dataclass(frozen=True, slots=True)
class SupervisorGaveUpEvent:
    """Restart intensity was exceeded; the supervisor is stopping and will escalate."""

    supervisor: str
    reasons: tuple[tuple[str, ExitReason], ...]
    time: float


@dataclass(frozen=True, slots=True)
class SupervisorStopped:
    """The supervisor has stopped all its children; *why* is one word: ``requested``,
    ``auto_shutdown``, ``gave_up`` or ``start_failed``."""

    supervisor: str
    why: str
    time: float


SupervisorEvent = (
    ChildStarted | ChildExited | ChildRestarting | SupervisorGaveUpEvent | SupervisorStopped
)
EventObserver = Callable[[SupervisorEvent], None]


class ChildState(enum.Enum):
    """Where a child is in its life."""

    STARTING = "starting"
    RUNNING = "running"
    DEGRADED = "degraded"
    """Running, but it said it cannot do its work now (``ChildStatistics.degraded`` says why);
    it waits to recover by itself (:meth:`~supervisors.ChildContext.report_degraded`)."""
    STOPPING = "stopping"
    BACKOFF = "backoff"
    """Exited; waiting for its backoff delay before a restart."""
    EXITED = "exited"
    """Exited and not to be restarted (normal exit of a transient or temporary child)."""
    STOPPED = "stopped"
    """Stopped by its supervisor."""


@dataclass(frozen=True, slots=True)
class ChildStatistics:
    """A snapshot of one child.

    Attributes:
        id: the child's id.
        state: where it is in its life.
        incarnation: how many times it has been started.
        restarts: how many times its supervisor restarted it.
        last_exit: why its last incarnation ended (``None``: it never ended).
        kind: ``"worker"`` or ``"supervisor"`` (from its spec).
        pid: the OS process it runs, while the child runs: from the :class:`trio.Process` it
            passed to ``started()`` (as :func:`~supervisors.process_child` does), else from
            :meth:`~supervisors.ChildContext.report_process`.
        supervisors: the supervisors its running incarnation runs, each with its own children,
            in a tree snapshot (:meth:`~supervisors.Supervisor.tree_statistics`); always empty
            in a flat one.
        degraded: why a :attr:`ChildState.DEGRADED` child cannot do its work now.
    """

    id: str
    state: ChildState
    incarnation: int
    restarts: int
    last_exit: ExitReason | None
    kind: str = "worker"
    pid: int | None = None
    supervisors: tuple[SupervisorStatistics, ...] = ()
    degraded: str | None = None


@dataclass(frozen=True, slots=True)
class SupervisorStatistics:
    """A snapshot of a supervisor and its children, in start order."""

    name: str
    strategy: str
    children: tuple[ChildStatistics, ...]
    restarts_in_period: int
    total_restarts: int
    stopping: bool
    observer_errors: int

    def child(self, child_id: str) -> ChildStatistics:
        """The snapshot of the child *child_id*.

        Raises:
            KeyError: no such child.
        """
        for child in self.children:
            if child.id == child_id:
                return child
        raise KeyError(child_id)

    def find(self, path: str) -> ChildStatistics:
        """The child at *path* in a tree snapshot: child ids from this supervisor down, joined
        by ``/`` (``"conversion/pool/worker-0"``). Where a child runs several supervisors, the
        first that has the next id is taken.

        Raises:
            KeyError: no child at that path.
        """
        first, _, rest = path.partition("/")
        child = self.child(first)
        if not rest:
            return child
        for sub in child.supervisors:
            try:
                return sub.find(rest)
            except KeyError:
                continue
        raise KeyError(path)

    def walk(self) -> Iterator[tuple[str, ChildStatistics]]:
        """Every child of a tree snapshot with its path (as for :meth:`find`), depth first in
        start order."""
        for child in self.children:
            yield child.id, child
            for sub in child.supervisors:
                for path, grandchild in sub.walk():
                    yield f"{child.id}/{path}", grandchild
