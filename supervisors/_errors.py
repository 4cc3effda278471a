"""The ``supervisors`` error tree.

::

    SupervisorError                 base of every error this package raises on purpose
    ├── InvalidSpec (ValueError)    a child spec or supervisor option breaks OTP's rules
    ├── ChildStartError             a child failed before it called ``task_status.started()``
    ├── DeadChannel                 a child's channel end is closed: it could not do its work
    ├── SupervisorGaveUp            restart intensity exceeded: the supervisor stopped itself
    ├── MaxChildrenReached          a dynamic supervisor is full
    ├── UnknownChild (KeyError)     no child with that id
    └── ProcessExited               an OS-process child ended with a non-zero code or a signal

Errors carry the context needed to act on them as attributes (child id, supervisor name, the
recent exit reasons), not only in their message.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._reasons import ExitReason

__all__ = [
    "ChildStartError",
    "DeadChannel",
    "InvalidSpec",
    "MaxChildrenReached",
    "ProcessExited",
    "SupervisorError",
    "SupervisorGaveUp",
    "UnknownChild",
]


class SupervisorError(Exception):
    """Base class of every error raised on purpose by :mod:`supervisors`."""


class InvalidSpec(SupervisorError, ValueError):
    """A child spec, backoff or supervisor option is inconsistent (for example a permanent child
    marked significant). Raised when the spec is built, never at run time."""


class ChildStartError(SupervisorError):
    """A child raised, or returned, before it reported readiness with ``task_status.started()``.

    Raised from the supervisor's start (initial start of a static supervisor, or
    ``start_child``). The original exception is the ``__cause__`` and :attr:`cause`.
    """

    def __init__(self, supervisor: str, child_id: str, cause: BaseException | None) -> None:
        self.supervisor = supervisor
        self.child_id = child_id
        self.cause = cause
        what = f"{type(cause).__name__}: {cause}" if cause is not None else "no error"
        super().__init__(f"child {child_id!r} of {supervisor!r} failed to start ({what})")


class DeadChannel(SupervisorError):
    """A child was to be started with a channel end (:class:`~supervisors.Clone`) that is
    dead: the end itself was closed, or it sends into a channel whose receive ends are all
    closed. A child that could not do its work is never reported as running: its start fails
    with this error as the cause, which counts like any other failed start (restart intensity,
    escalation).

    Attributes:
        supervisor: the supervisor's name.
        child_id: the child's id.
        position: the index of the argument in the child spec's ``args``.
        why: what is dead about it.
    """

    def __init__(self, supervisor: str, child_id: str, position: int, why: str) -> None:
        self.supervisor = supervisor
        self.child_id = child_id
        self.position = position
        self.why = why
        super().__init__(
            f"child {child_id!r} of {supervisor!r}: the channel end in args[{position}] is dead "
            f"({why})"
        )


class SupervisorGaveUp(SupervisorError):
    """More restarts than the intensity allows happened within the period.

    The supervisor has stopped all of its children (in reverse start order) before raising this.
    Its parent treats it as an abnormal exit of the supervisor child, which is how failures
    escalate up the tree, as in OTP.

    Attributes:
        supervisor: the name of the supervisor that gave up.
        reasons: the exit reasons inside the intensity period that led to giving up, oldest first.
    """

    def __init__(self, supervisor: str, reasons: Sequence[tuple[str, ExitReason]]) -> None:
        self.supervisor = supervisor
        self.reasons = tuple(reasons)
        recent = "; ".join(f"{cid}: {reason.description}" for cid, reason in self.reasons[-5:])
        super().__init__(
            f"supervisor {supervisor!r} gave up after {len(self.reasons)} exits "
            f"within its restart period ({recent})"
        )


class MaxChildrenReached(SupervisorError):
    """A dynamic supervisor refused a new child because it already runs ``max_children``."""

    def __init__(self, supervisor: str, max_children: int) -> None:
        self.supervisor = supervisor
        self.max_children = max_children
        super().__init__(f"supervisor {supervisor!r} already runs {max_children} children")


class UnknownChild(SupervisorError, KeyError):
    """No child with this id exists in the supervisor."""

    def __init__(self, supervisor: str, child_id: str) -> None:
        self.supervisor = supervisor
        self.child_id = child_id
        super().__init__(f"supervisor {supervisor!r} has no child {child_id!r}")

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return str(self.args[0])


class ProcessExited(SupervisorError):
    """An OS-process child ended on its own with a non-zero exit code or by a signal.

    Attributes:
        pid: the process id it had.
        returncode: the exit code, or minus the signal number (``subprocess`` convention).
    """

    def __init__(self, pid: int, returncode: int) -> None:
        self.pid = pid
        self.returncode = returncode
        super().__init__(f"process {pid} {describe_returncode(returncode)}")

    @property
    def signal(self) -> int | None:
        """The number of the signal that ended the process, or ``None`` for a plain exit."""
        return -self.returncode if self.returncode < 0 else None


def describe_returncode(returncode: int) -> str:
    """``"exited with code 3"`` or ``"was killed by SIGSEGV"``."""
    if returncode >= 0:
        return f"exited with code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    return f"was killed by {name}"
