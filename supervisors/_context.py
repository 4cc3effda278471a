"""What a running child can ask about itself: ``current_child()``."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, final

import trio

if TYPE_CHECKING:
    from ._supervisor import Supervisor

__all__ = ["ChildContext", "current_child", "current_child_or_none"]


@final
class ChildContext:
    """The identity of one incarnation of a child, and its stop request.

    A child reads it with :func:`current_child`. The supervisor sets :attr:`stop_requested` in
    phase one of a stop; a child that can drain or clean up watches it with
    :meth:`wait_stop_requested` and returns. Once the grace period of its shutdown spec is over,
    the child is cancelled whatever it does.
    """

    __slots__ = (
        "_degraded",
        "_pid",
        "_stop",
        "_supervisors",
        "id",
        "incarnation",
        "supervisor",
    )

    def __init__(self, supervisor: str, child_id: str, incarnation: int) -> None:
        self.supervisor = supervisor
        self.id = child_id
        self.incarnation = incarnation
        self._stop = trio.Event()
        self._supervisors: list[Supervisor] = []
        self._pid: int | None = None
        self._degraded: str | None = None

    @property
    def degraded(self) -> str | None:
        """Why this incarnation cannot do its work now, as reported with
        :meth:`report_degraded` (``None``: it can)."""
        return self._degraded

    def report_degraded(self, reason: str) -> None:
        """Say that this incarnation is alive but cannot do its work now, and why (its folder
        is gone, its peer does not answer), while it waits to recover by itself. Statistics
        show it as :attr:`~supervisors.ChildState.DEGRADED` with the reason, never as running.
        A child that cannot recover by waiting should fail instead, so its supervisor acts."""
        self._degraded = reason

    def report_recovered(self) -> None:
        """Undo :meth:`report_degraded`: the incarnation does its work again."""
        self._degraded = None

    @property
    def pid(self) -> int | None:
        """The OS process this incarnation runs now, as reported with :meth:`report_process`."""
        return self._pid

    def report_process(self, pid: int | None) -> None:
        """Record the OS process this incarnation runs now (``None``: none any more), so that
        statistics show its pid. For a child that runs its processes itself (one after
        another, like a worker slot that replaces its process); a child that passes its
        ``trio.Process`` to ``started()`` needs no call."""
        self._pid = pid

    @property
    def supervisors(self) -> tuple[Supervisor, ...]:
        """The supervisors running inside this incarnation (in the child's own task or in tasks
        it started), in the order they started; each registers itself for the length of its
        ``run``. A tree snapshot descends through them."""
        return tuple(self._supervisors)

    @property
    def path(self) -> str:
        """``supervisor/child``, unique in a tree whose supervisors have unique names."""
        return f"{self.supervisor}/{self.id}"

    @property
    def stop_requested(self) -> bool:
        """True once the supervisor asked this incarnation to stop."""
        return self._stop.is_set()

    async def wait_stop_requested(self) -> None:
        """Block until the supervisor asks this incarnation to stop.

        Cancellation: this is a plain checkpoint; cancelling it has no side effect.
        """
        await self._stop.wait()

    def request_stop(self) -> None:
        """Ask the child to stop (what the supervisor does in phase one)."""
        self._stop.set()

    def __repr__(self) -> str:
        return f"<ChildContext {self.path} #{self.incarnation}>"


_current: ContextVar[ChildContext | None] = ContextVar("supervisors_current_child", default=None)


def current_child() -> ChildContext:
    """The context of the supervised child this task belongs to.

    Tasks a child starts inherit it.

    Raises:
        RuntimeError: the calling task is not running under a supervisor.
    """
    ctx = _current.get()
    if ctx is None:
        raise RuntimeError("current_child() called outside a supervised child")
    return ctx


def current_child_or_none() -> ChildContext | None:
    """Like :func:`current_child` but ``None`` outside a supervised child."""
    return _current.get()


def _set_current(ctx: ChildContext) -> None:
    _current.set(ctx)
