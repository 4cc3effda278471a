"""The ``converters`` error tree.

::

    PywatsError                     (pywats_actors) the product's root; see docs/errors.md
    └── ConverterError              everything raised on purpose by this package
        ├── ConverterLoadError      a configured converter cannot be used (.ref)
        │   ├── ConverterNotFound   no converter by that name, dotted path or file
        │   ├── ConverterApiMismatch it declares an api_version this SDK does not speak
        │   ├── ConverterInvalid    the object does not implement the converter protocol
        │   └── ConverterArgumentsError its arguments do not fit its schema (.path names the field)
        ├── FileRejected            raised *by a converter*: the file is bad (.reason, .where)
        ├── UnknownConverter        convert() named a converter the pool was not given
        ├── PoolClosed              the pool is not running (never started, stopped, gave up)
        ├── WorkerStartError        a worker process did not complete its handshake
        ├── WorkerLost              a worker process died or was killed (a supervisor exit reason)
        └── SandboxUnavailable      Landlock was required but the kernel does not offer it

Conversion *outcomes* are not exceptions: :meth:`ConverterPool.convert` returns ``Converted`` or a
typed failure (``Rejected``, ``Crashed``, ``TimedOut``, ``OutOfMemory``). Exceptions are for
misuse and configuration: a bad converter reference, bad arguments, a closed pool.
"""

from __future__ import annotations

from pywats_actors._errors import PywatsError

__all__ = [
    "ConverterApiMismatch",
    "ConverterArgumentsError",
    "ConverterError",
    "ConverterInvalid",
    "ConverterLoadError",
    "ConverterNotFound",
    "FileRejected",
    "PoolClosed",
    "SandboxUnavailable",
    "UnknownConverter",
    "WorkerLost",
    "WorkerStartError",
]


class ConverterError(PywatsError):
    """Base class of every error raised on purpose by :mod:`converters`."""


class ConverterLoadError(ConverterError):
    """A configured converter cannot be used.

    Attributes:
        ref: the reference as configured (``csv``, ``pkg.mod:Class``, ``path/file.py:Class``).
        message: what is wrong, without the reference.
    """

    def __init__(self, ref: str, message: str) -> None:
        super().__init__(f"converter {ref!r}: {message}")
        self.ref = ref
        self.message = message


class ConverterNotFound(ConverterLoadError):
    """No converter matches the reference: unknown name, module, attribute or file."""


class ConverterApiMismatch(ConverterLoadError):
    """The converter declares an ``api_version`` this SDK does not support.

    Attributes:
        declared: what the converter declares.
        supported: the versions this SDK accepts.
    """

    def __init__(self, ref: str, declared: object, supported: tuple[int, ...]) -> None:
        versions = ", ".join(map(str, supported))
        super().__init__(
            ref, f"declares api_version {declared!r}; this SDK supports api_version {versions}"
        )
        self.declared = declared
        self.supported = supported


class ConverterInvalid(ConverterLoadError):
    """The object found does not implement the converter protocol (a missing method, a bad
    name...)."""


class ConverterArgumentsError(ConverterLoadError):
    """The converter's arguments do not match its ``Arguments`` schema.

    Attributes:
        path: the offending field as a path into the arguments, e.g. ``$.columns.unit``.
        problem: what is wrong there.
    """

    def __init__(self, ref: str, path: str, problem: str) -> None:
        super().__init__(ref, f"bad arguments: {problem} - at {path}")
        self.path = path
        self.problem = problem


class FileRejected(ConverterError):
    """Raised by a converter: this file is bad and no retry will change that.

    The pool turns it into a ``Rejected`` outcome; the node moves the file to ``error/`` with the
    reason and the location in a sidecar.

    Args:
        reason: what is wrong, in words an operator can act on.
        where: where in the file, e.g. ``line 12``, ``$.root.steps[3]``, ``byte 4096``.
    """

    def __init__(self, reason: str, where: str | None = None) -> None:
        super().__init__(reason if where is None else f"{reason} (at {where})")
        self.reason = reason
        self.where = where


class UnknownConverter(ConverterError, LookupError):
    """``convert(converter=...)`` names a converter that the pool was not configured with.

    Attributes:
        name: the name asked for.
        known: the names the pool knows.
    """

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        super().__init__(f"no converter named {name!r}; the pool has {', '.join(known) or 'none'}")
        self.name = name
        self.known = known


class PoolClosed(ConverterError):
    """The converter pool is not running: not started yet, stopped, or its supervisor gave up."""


class WorkerStartError(ConverterError):
    """A worker process did not complete its handshake.

    Attributes:
        stderr: the last lines the process wrote to its standard error.
    """

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message if not stderr else f"{message}; stderr:\n{stderr}")
        self.stderr = stderr


class WorkerLost(ConverterError):
    """A worker process died or was killed; the pool's supervisor restarts it with backoff.

    This is the exit reason a worker child reports to its supervisor, so it shows up in
    supervisor events; callers of ``convert`` see a typed outcome instead.

    Attributes:
        pid: the process id.
        description: why, in one line.
    """

    def __init__(self, pid: int, description: str) -> None:
        super().__init__(f"worker {pid}: {description}")
        self.pid = pid
        self.description = description


class SandboxUnavailable(ConverterError):
    """``landlock = "required"`` but the kernel offers no (usable) Landlock."""
