"""Small helpers of the converter pool: describing and classifying errors, waiting, hashing."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Literal

import trio

from ._errors import (
    ConverterApiMismatch,
    ConverterArgumentsError,
    ConverterInvalid,
    ConverterLoadError,
    ConverterNotFound,
    PoolClosed,
    WorkerStartError,
)
from ._identity import content_hash
from ._process import JobFailure
from ._protocol import LoadFailure
from ._results import ConversionResult, Crashed, OutOfMemory, TimedOut
from ._sdk import SUPPORTED_API_VERSIONS
from ._settings import PoolSettings

__all__ = [
    "VIOLATION",
    "describe_error",
    "failure_result",
    "file_hash",
    "infrastructure",
    "leaves",
    "load_error",
    "printable_name",
    "sleep_unless",
    "unwrap_single_error",
]

VIOLATION = "protocol violation"
_HASH_IN_THREAD = 1 << 20
_MiB = 1 << 20


def leaves(error: BaseException) -> Iterable[BaseException]:
    """The exceptions inside ``error`` (itself when it is not a group)."""
    if not isinstance(error, BaseExceptionGroup):
        yield error
        return
    for exc in error.exceptions:
        yield from leaves(exc)


@contextmanager
def unwrap_single_error() -> Iterator[None]:
    """Re-raise an exception group of ``Exception``s as its one root cause.

    The root cause is the only leaf, or the only leaf that is not a :class:`PoolClosed` (callers
    see the pool closing *because* it failed). Anything else, ``Cancelled`` included, propagates
    as it is.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        found = list(leaves(group))
        causes = [e for e in found if not isinstance(e, PoolClosed)] or found
        if len(causes) == 1 and all(isinstance(e, Exception) for e in found):
            raise causes[0] from None
        raise


def infrastructure(error: BaseException) -> bool:
    """Whether a failed start of a worker is the machine's trouble or the worker's (it could
    not be spawned, died or broke the protocol before it was ready), not the configuration's
    (a converter that does not load)."""
    found = list(leaves(error))
    return bool(found) and all(isinstance(e, OSError | WorkerStartError) for e in found)


def describe_error(error: BaseException | None) -> str:
    """One line about why a worker could not be started."""
    if error is None:
        return "its slot stopped"
    found = list(leaves(error))
    error = found[0] if found else error
    first = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


async def sleep_unless(event: trio.Event, seconds: float) -> None:
    """Wait *seconds*, or until *event* is set."""
    with trio.move_on_after(seconds):
        await event.wait()


def load_error(failure: LoadFailure) -> ConverterLoadError:
    """The exception a worker's load failure stands for."""
    if failure.kind == "not_found":
        return ConverterNotFound(failure.ref, failure.message)
    if failure.kind == "api_version":
        return ConverterApiMismatch(failure.ref, failure.declared, SUPPORTED_API_VERSIONS)
    if failure.kind == "arguments":
        return ConverterArgumentsError(failure.ref, failure.path or "$", failure.message)
    return ConverterInvalid(failure.ref, failure.message)


def failure_result(
    failure: JobFailure,
    name: str,
    sha256: str,
    converter: str | None,
    attempts: int,
    settings: PoolSettings,
) -> ConversionResult:
    """What a worker that died (or was killed) on a file means for the file."""
    if failure.kind in ("wall", "cpu"):
        limit = settings.timeout if failure.kind == "wall" else float(settings.cpu_seconds)
        clock: Literal["wall", "cpu"] = "wall" if failure.kind == "wall" else "cpu"
        return TimedOut(name, sha256, clock, limit, failure.stderr, converter, attempts)
    if failure.kind == "rss":
        limit_bytes = settings.memory_mb * _MiB
        return OutOfMemory(
            name, sha256, "rss", limit_bytes, failure.peak_rss, failure.stderr, converter, attempts
        )
    violated = failure.description.startswith(VIOLATION)
    return Crashed(
        name,
        sha256,
        failure.description,
        failure.returncode,
        failure.stderr,
        converter,
        attempts,
        cause="protocol_violation" if violated else "died",
    )


async def file_hash(data: bytes) -> str:
    """:func:`content_hash`, in a thread for large files."""
    if len(data) < _HASH_IN_THREAD:
        return content_hash(data)
    return await trio.to_thread.run_sync(content_hash, data)


def printable_name(name: str) -> str:
    """*name*, with undecodable bytes (surrogate escapes) replaced: frames carry UTF-8."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return name
