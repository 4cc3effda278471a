"""Events and statistics: everything a supervisor does is observable.

Observers are plain callables that receive each event synchronously, in order, on the
supervisor's task; they must not block. To move events elsewhere, hand them to a channel with
``send_nowait`` (and decide what a full channel means).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
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
    STOPPING = "stopping"
    BACKOFF = "backoff"
    """Exited; waiting for its backoff delay before a restart."""
    EXITED = "exited"
    """Exited and not to be restarted (normal exit of a transient or temporary child)."""
    STOPPED = "stopped"
    """Stopped by its supervisor."""


@dataclass(frozen=True, slots=True)
class ChildStatistics:
    """A snapshot of one child."""

    id: str
    state: ChildState
    incarnation: int
    restarts: int
    last_exit: ExitReason | None


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
