"""Child specs and supervisor flags: what to run, when to restart it, how to stop it."""

from __future__ import annotations

import enum
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal, final

import trio

from ._backoff import Backoff
from ._errors import InvalidSpec

__all__ = [
    "BRUTAL_KILL",
    "INFINITY",
    "AutoShutdown",
    "BrutalKill",
    "ChildSpec",
    "Clone",
    "Infinity",
    "Restart",
    "ShutdownSpec",
    "Strategy",
    "Timeout",
]


class Restart(enum.Enum):
    """When a child that exited is started again (OTP restart types)."""

    PERMANENT = "permanent"
    """Always restarted."""
    TRANSIENT = "transient"
    """Restarted only after an abnormal exit (a crash, or being killed)."""
    TEMPORARY = "temporary"
    """Never restarted, not even when a sibling's failure terminated it."""


class Strategy(enum.Enum):
    """Which children a static supervisor restarts when one of them must be restarted."""

    ONE_FOR_ONE = "one_for_one"
    """Only the child that exited."""
    ONE_FOR_ALL = "one_for_all"
    """All children: the others are stopped (reverse order), then all start again in order."""
    REST_FOR_ONE = "rest_for_one"
    """The child and every child started after it."""


class AutoShutdown(enum.Enum):
    """Whether the exit of *significant* children ends the supervisor (OTP 24+)."""

    NEVER = "never"
    ANY_SIGNIFICANT = "any_significant"
    ALL_SIGNIFICANT = "all_significant"


@final
@dataclass(frozen=True, slots=True)
class Timeout:
    """Shutdown spec: ask the child to stop, wait *seconds*, then cancel it."""

    seconds: float

    def __post_init__(self) -> None:
        if not (self.seconds >= 0 and math.isfinite(self.seconds)):
            raise InvalidSpec(f"shutdown timeout must be a finite number >= 0, got {self.seconds}")


@final
class BrutalKill:
    """Shutdown spec: cancel the child at once (SIGKILL for an OS process)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "BRUTAL_KILL"


@final
class Infinity:
    """Shutdown spec: ask the child to stop and wait for as long as it takes.

    The default for sub-supervisors, which stop their own children in order. Dangerous for a
    worker: the whole tree's shutdown then depends on that worker's cleanup returning.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "INFINITY"


BRUTAL_KILL: Final = BrutalKill()
INFINITY: Final = Infinity()

ShutdownSpec = Timeout | BrutalKill | Infinity

_DEFAULT_WORKER_SHUTDOWN: Final = Timeout(5.0)


@final
@dataclass(frozen=True, slots=True)
class Clone:
    """A channel end owned by the supervisor; each incarnation of the child gets a fresh clone.

    Put ``Clone(end)`` in a child's ``args``. The supervisor passes ``end.clone()`` to every
    incarnation and closes that clone when the incarnation exits, so a crashed consumer never
    breaks its producers (they keep sending into the buffer) and its restarted incarnation picks
    up the items that were waiting. The supervisor owns *end* from then on: it closes the
    original once no child left holds it (the last of them stopped in the final shutdown, or
    removed with ``terminate_child``), which is how a pipeline drains during a two-phase stop.
    Several children may share one end (several producers of one channel).

    Give a sub-supervisor's children clones of a clone: a supervisor that is restarted by its
    parent gets a fresh ``Clone`` from the parent each time, while the parent keeps the
    original for the life of the tree.
    """

    end: trio.MemorySendChannel[Any] | trio.MemoryReceiveChannel[Any]


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """How to run one child.

    Args:
        id: unique within its supervisor.
        fn: ``async def fn(*args, task_status)``; it must call ``task_status.started(value=None)``
            once ready. Children start in order, each only after the previous one is ready.
        args: positional arguments; a :class:`Clone` is replaced by a fresh channel clone for
            each incarnation.
        restart: when to restart it (:class:`Restart`).
        shutdown: how to stop it: :class:`Timeout`, :data:`BRUTAL_KILL` or :data:`INFINITY`.
            ``None`` means 5 s for a worker and infinity for a supervisor.
        significant: with the supervisor's ``auto_shutdown``, its own exit can end the
            supervisor. Only transient or temporary children can be significant.
        backoff: an optional delay before each restart (:class:`Backoff`).
        kind: ``"worker"`` or ``"supervisor"``; only changes the default shutdown.

    Raises:
        InvalidSpec: the combination breaks OTP's rules.
    """

    id: str
    fn: Callable[..., Awaitable[object]]
    args: tuple[object, ...] = ()
    restart: Restart = Restart.PERMANENT
    shutdown: ShutdownSpec | None = None
    significant: bool = False
    backoff: Backoff | None = None
    kind: Literal["worker", "supervisor"] = "worker"
    clones: tuple[Clone, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.id:
            raise InvalidSpec("a child spec needs a non-empty id")
        if self.significant and self.restart is Restart.PERMANENT:
            raise InvalidSpec(
                f"child {self.id!r}: a significant child must be transient or temporary"
            )
        object.__setattr__(
            self, "clones", tuple(arg for arg in self.args if isinstance(arg, Clone))
        )

    @property
    def effective_shutdown(self) -> ShutdownSpec:
        """The shutdown spec with the default for its kind filled in."""
        if self.shutdown is not None:
            return self.shutdown
        return INFINITY if self.kind == "supervisor" else _DEFAULT_WORKER_SHUTDOWN
