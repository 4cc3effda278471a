"""Why a child stopped running: the exit reason, OTP's vocabulary on trio."""

from __future__ import annotations

import enum
import traceback as _traceback
from dataclasses import dataclass

from ._errors import ProcessExited

__all__ = ["ExitKind", "ExitReason", "NormalShutdown"]


class ExitKind(enum.Enum):
    """The class of an exit, which decides whether a transient child is restarted."""

    NORMAL = "normal"
    """The child function returned on its own."""
    SHUTDOWN = "shutdown"
    """The child stopped because its supervisor asked it to, or raised :class:`NormalShutdown`."""
    CRASHED = "crashed"
    """The child raised an exception (or an OS process died with an error code or signal)."""
    KILLED = "killed"
    """The supervisor cancelled the child after its grace period ran out."""


class NormalShutdown(Exception):
    """Raise from a child to stop with a *shutdown* reason: no restart if it is transient.

    This is OTP's ``{shutdown, Term}``: an expected stop that is not a failure, such as a watch
    folder that was removed from the configuration.
    """


@dataclass(frozen=True, slots=True)
class ExitReason:
    """Why one incarnation of a child ended.

    Attributes:
        kind: the class of exit (:class:`ExitKind`).
        description: one human-readable line.
        exception: the exception for a crash (or :class:`NormalShutdown`), else ``None``.
        traceback: the formatted traceback for a crash, else ``None``.
        returncode: for an OS-process child, its exit code or minus the signal number.
    """

    kind: ExitKind
    description: str
    exception: BaseException | None = None
    traceback: str | None = None
    returncode: int | None = None

    @property
    def abnormal(self) -> bool:
        """True for exits that OTP calls abnormal: a transient child is restarted after them."""
        return self.kind in (ExitKind.CRASHED, ExitKind.KILLED)

    @classmethod
    def normal(cls) -> ExitReason:
        """The child returned."""
        return cls(ExitKind.NORMAL, "returned")

    @classmethod
    def shutdown(cls, description: str = "stopped on request") -> ExitReason:
        """The child stopped because it was asked to."""
        return cls(ExitKind.SHUTDOWN, description)

    @classmethod
    def killed(cls, description: str) -> ExitReason:
        """The supervisor cancelled the child."""
        return cls(ExitKind.KILLED, description)

    @classmethod
    def from_exception(cls, exc: BaseException) -> ExitReason:
        """The reason for a child that raised *exc*."""
        if isinstance(exc, NormalShutdown):
            return cls(ExitKind.SHUTDOWN, f"shutdown: {exc}", exception=exc)
        text = "".join(_traceback.format_exception(exc))
        returncode = exc.returncode if isinstance(exc, ProcessExited) else None
        return cls(
            ExitKind.CRASHED,
            f"{type(exc).__name__}: {exc}",
            exception=exc,
            traceback=text,
            returncode=returncode,
        )
