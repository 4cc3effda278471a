"""What a conversion returns: ``Converted`` or a typed failure, and the pool's statistics.

Outcomes are return values, not exceptions, because every one of them is an expected result the
node acts on:

==================  ===========================================  ==============================
outcome             meaning                                      the node...
==================  ===========================================  ==============================
``Converted``       reports, with their final ids                spools them, moves the file to
                                                                 ``done/``
``Rejected``        the file is bad (the converter said so, no   moves it to ``error/`` with the
                    converter recognised it, it is too large,    reason
                    or the output was not valid WSJF)
``Crashed``         the worker died converting it, twice, or     moves it to ``error/``
                    broke the protocol (``cause``)
``TimedOut``        it took too long (wall clock or CPU), twice  moves it to ``error/``
``OutOfMemory``     it needed too much memory, twice             moves it to ``error/``
``Unavailable``     the conversion could not run at all (no      leaves it in place and tries
                    fresh worker could be started, the pool      again later: not the file's
                    stopped)                                     fault
==================  ===========================================  ==============================

Every outcome is a frozen msgspec Struct tagged by ``outcome``, so
``msgspec.json.encode(result)`` is the ``<name>.error.json`` sidecar as it stands.
"""

from __future__ import annotations

import uuid
from typing import Literal, TypeAlias

import msgspec

from ._protocol import Cursor

__all__ = [
    "ConversionFailure",
    "ConversionResult",
    "Converted",
    "ConvertedReport",
    "Crashed",
    "OutOfMemory",
    "PoolStatistics",
    "Rejected",
    "TimedOut",
    "Timings",
    "Unavailable",
    "WorkerStatistics",
]


class Timings(msgspec.Struct, frozen=True):
    """Where the time of one conversion went, in seconds (trio's clock in the parent).

    Attributes:
        total: from the call to ``convert`` to its return, retry included.
        queued: waiting for a free worker (both attempts).
        worker: inside the worker, detection and conversion (last attempt).
        finish: decoding, validating and identifying the reports in the parent.
    """

    total: float
    queued: float
    worker: float
    finish: float


class ConvertedReport(msgspec.Struct, frozen=True):
    """One report of a converted file.

    Attributes:
        id: the report's final id (deterministic, or the source's own GUID).
        index: its position in the file.
        wsjf: the report as WSJF bytes, with ``id`` set.
        kept_source_id: the id is the one the source file carried.
        key: for a scheduled converter's report, where in its source it was found.
    """

    id: uuid.UUID
    index: int
    wsjf: bytes
    kept_source_id: bool = False
    key: str | None = None


class Converted(msgspec.Struct, frozen=True, tag="converted", tag_field="outcome"):
    """The file became one or more valid WSJF reports.

    Attributes:
        name: the file's name.
        sha256: hash of the bytes converted (part of every derived id).
        converter: the configured name of the converter used.
        converter_name: the converter's own name (the one in the ids).
        converter_version: its version.
        reports: the reports, in file order.
        detected: the converter was picked by auto-detection.
        attempts: 1, or 2 when the first worker died and a fresh one succeeded.
        timings: where the time went.
        scores: the detection confidences of every converter (of every trust domain), when
            the converter was detected.
        left_processes: the converter left processes running (they were killed with its
            worker, which was replaced).
        cursor: after a scheduled converter's run (:meth:`ConverterPool.poll`), the cursor it
            returned (``Cursor.native``; store it once the reports are durable); ``None`` for a
            file, or when the converter returned none.
    """

    name: str
    sha256: str
    converter: str
    converter_name: str
    converter_version: str
    reports: tuple[ConvertedReport, ...]
    detected: bool
    attempts: int
    timings: Timings
    scores: dict[str, float] | None = None
    left_processes: bool = False
    cursor: Cursor | None = None

    @property
    def ok(self) -> bool:
        """Always true: the file was converted."""
        return True

    @property
    def ids(self) -> tuple[uuid.UUID, ...]:
        """The report ids, in file order."""
        return tuple(report.id for report in self.reports)


RejectCause: TypeAlias = Literal[
    "converter", "unrecognised", "invalid_output", "no_reports", "too_large"
]


class Rejected(msgspec.Struct, frozen=True, tag="rejected", tag_field="outcome"):
    """The file is bad; converting it again will not help.

    Attributes:
        name, sha256: the file.
        cause: ``converter`` (it raised), ``unrecognised`` (auto-detection found no converter),
            ``invalid_output`` (the result was not valid WSJF), ``no_reports`` (nothing in it),
            ``too_large`` (the file exceeds ``max_input_mb``, or the converter's answer holds
            more than ``max_reports_per_file`` reports or ``max_values_per_report`` values).
        reason: what is wrong, for an operator.
        where: where in the file (a line, a JSON path), when known.
        detail: a traceback or the list of validation problems, when there is one.
        converter: the configured name of the converter, when one was chosen.
        scores: the detection confidences, when auto-detection ran.
        left_processes: the converter left processes running (they were killed with its
            worker, which was replaced).
    """

    name: str
    sha256: str
    cause: RejectCause
    reason: str
    where: str | None = None
    detail: str | None = None
    converter: str | None = None
    scores: dict[str, float] | None = None
    left_processes: bool = False

    @property
    def ok(self) -> bool:
        """Always false."""
        return False


class Crashed(msgspec.Struct, frozen=True, tag="crashed", tag_field="outcome"):
    """The worker process died while converting the file (on both attempts).

    Attributes:
        name, sha256: the file.
        description: how it died (``killed by SIGSEGV``, ``protocol violation: ...``).
        returncode: its exit status, negative for a signal.
        stderr: the last lines it wrote to standard error.
        converter: the configured converter, when known (not during auto-detection).
        attempts: how many workers it took down (2: retried once on a fresh worker).
        cause: ``died`` (the process ended or was killed by a limit) or
            ``protocol_violation`` (its worker said what the parent did not ask for: an answer
            naming another converter or job, a forged frame, scores for converters it does
            not run...; the parent killed it).
    """

    name: str
    sha256: str
    description: str
    returncode: int | None
    stderr: str
    converter: str | None
    attempts: int
    cause: Literal["died", "protocol_violation"] = "died"

    @property
    def ok(self) -> bool:
        """Always false."""
        return False


class TimedOut(msgspec.Struct, frozen=True, tag="timed_out", tag_field="outcome"):
    """The conversion took too long; the worker's process group was killed (on both attempts).

    Attributes:
        clock: ``wall`` (the per-file timeout) or ``cpu`` (the CPU budget).
        limit: the limit exceeded, in seconds.
    """

    name: str
    sha256: str
    clock: Literal["wall", "cpu"]
    limit: float
    stderr: str
    converter: str | None
    attempts: int

    @property
    def ok(self) -> bool:
        """Always false."""
        return False

    @property
    def setting(self) -> str:
        """The pool setting that is the limit (``timeout`` or ``cpu_seconds``; the node's
        ``[conversion]`` keys of the same names)."""
        return "timeout" if self.clock == "wall" else "cpu_seconds"

    @property
    def description(self) -> str:
        """One line for an operator, naming the setting to raise if such files are expected."""
        what = "wall-clock time" if self.clock == "wall" else "CPU time"
        return f"took more than {self.limit:g} s of {what} (the limit is {self.setting})"


class OutOfMemory(msgspec.Struct, frozen=True, tag="out_of_memory", tag_field="outcome"):
    """The conversion needed more memory than allowed (on both attempts).

    Attributes:
        limit: ``rss`` (the parent's RSS watch killed the worker) or ``address_space`` (the
            worker's RLIMIT_AS made an allocation fail).
        limit_bytes: the limit, in bytes.
        peak_rss: the largest RSS the parent saw, in bytes (0 if it never looked).
    """

    name: str
    sha256: str
    limit: Literal["rss", "address_space"]
    limit_bytes: int
    peak_rss: int
    stderr: str
    converter: str | None
    attempts: int

    @property
    def ok(self) -> bool:
        """Always false."""
        return False

    @property
    def setting(self) -> str:
        """The pool setting that is the limit: ``memory_mb`` (RSS) or ``address_space_mb``
        (the node sets both from its ``[conversion] memory_mb``)."""
        return "memory_mb" if self.limit == "rss" else "address_space_mb"

    @property
    def description(self) -> str:
        """One line for an operator, naming the setting to raise if such files are expected."""
        what = "resident memory" if self.limit == "rss" else "address space"
        return (
            f"needed more than {self.limit_bytes // (1 << 20)} MiB of {what} "
            f"(the limit is {self.setting})"
        )


class Unavailable(msgspec.Struct, frozen=True, tag="unavailable", tag_field="outcome"):
    """The conversion could not run: says nothing about the file; try it again later.

    Returned when no fresh worker could be started for the retry after a worker died (the
    interpreter cannot be spawned, the system is out of processes or memory), or when the pool
    stopped before or while the file was converted.

    Attributes:
        name, sha256: the file.
        reason: what went wrong, for an operator.
        converter: the configured converter, when one was named.
        attempts: conversions that did run on it before (0 or 1).
    """

    name: str
    sha256: str
    reason: str
    converter: str | None
    attempts: int

    @property
    def ok(self) -> bool:
        """Always false."""
        return False


ConversionFailure: TypeAlias = Rejected | Crashed | TimedOut | OutOfMemory
"""A conversion that ran and failed because of the file (or its converter): it is condemned."""
ConversionResult: TypeAlias = Converted | ConversionFailure | Unavailable


class WorkerStatistics(msgspec.Struct, frozen=True):
    """A snapshot of one worker slot.

    Attributes:
        slot: its id (``worker-0``...).
        state: ``starting``, ``idle``, ``busy`` or ``down`` (waiting to be restarted).
        pid: the current process, if any (with namespaces, the launcher outside them).
        conversions: files converted by the current process.
        processes: processes started for this slot so far (restarts and recycles included).
        domain: its trust domain (``builtin``, or the plug-in's label).
        worker_pid: the process that runs converter code, as this node sees it (inside the
            worker's namespaces, the launcher's child; without them, ``pid``); its memory is
            the conversions' memory.
    """

    slot: str
    state: Literal["starting", "idle", "busy", "down"]
    pid: int | None
    conversions: int
    processes: int
    domain: str = "builtin"
    worker_pid: int | None = None


class PoolStatistics(msgspec.Struct, frozen=True):
    """A snapshot of the pool.

    Attributes:
        workers: the number of worker slots (``settings.workers`` per trust domain).
        ready: workers with a live process.
        busy: workers converting a file.
        waiting: callers waiting for a free worker.
        conversions: files finished (any outcome).
        converted, rejected, crashed, timed_out, out_of_memory: finished files by outcome.
        unavailable: calls that could not convert at all (:class:`Unavailable`).
        retries: files retried on a fresh worker after a worker died.
        worker_crashes: worker processes that died or were killed while converting.
        worker_restarts: restarts by the worker supervisor.
        recycles: worker processes replaced on purpose (fresh retry, age, leftovers).
        sandbox_level: the sandbox level the workers reached.
        slots: each worker, domain by domain.
        violations: protocol violations seen (a worker said what it was not asked).
        domains: the trust domains (``builtin``, then each plug-in's label).
    """

    workers: int
    ready: int
    busy: int
    waiting: int
    conversions: int
    converted: int
    rejected: int
    crashed: int
    timed_out: int
    out_of_memory: int
    retries: int
    worker_crashes: int
    worker_restarts: int
    recycles: int
    sandbox_level: str
    slots: tuple[WorkerStatistics, ...]
    unavailable: int = 0
    violations: int = 0
    domains: tuple[str, ...] = ()
