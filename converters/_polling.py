"""One run of a scheduled converter: a ``Poll`` in a worker of its trust domain, and the ids of
the reports it found.

A scheduled converter runs in the same sandboxed workers as a file converter, under the same
limits (CPU, memory, answer size, reports per answer), except the wall-clock limit, which the
schedule may set. A worker that dies on a run is retried once on a fresh process, as a file is.

Report identity. A report found by a poll has no file bytes to hash; it comes with a *key* that
names where in the source it was found (a file's name, size and time; a row id). Its id is::

    report_id(station_namespace, converter name, sha256(f"{scope}\\n{key}"), n)

where ``scope`` is the schedule's id and ``n`` counts the reports of that key in the answer
(from 0). The same schedule finding the same key again (a run repeated because its cursor was
not stored before a crash) gives the same ids, which the spool and the server deduplicate.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Callable

import msgspec
import trio

from pywats_actors.report import ReportDecodeError, decode_report, encode_report

from ._domain import WorkerDomain
from ._finish import _too_large, _with_id
from ._identity import report_id
from ._poolutil import failure_result
from ._process import JobFailure
from ._protocol import ConverterInfo, Cursor, Done, Poll, Refused, encode_frame
from ._results import (
    ConversionResult,
    Converted,
    ConvertedReport,
    OutOfMemory,
    RejectCause,
    Rejected,
    Timings,
    Unavailable,
)
from ._session import Job, Unrun
from ._settings import PoolSettings

__all__ = ["poll_in", "scoped_hash"]

_MiB = 1 << 20


def scoped_hash(scope: str, key: str) -> str:
    """The hash that stands in for a file's content hash in a polled report's id."""
    return hashlib.sha256(f"{scope}\n{key}".encode("utf-8", "surrogatepass")).hexdigest()


async def poll_in(
    domain: WorkerDomain,
    info: ConverterInfo,
    *,
    job_id: Callable[[], int],
    source: str,
    cursor: bytes | str | None,
    scope: str,
    namespace: uuid.UUID,
    settings: PoolSettings,
    wall_limit: float | None,
    counters_retry: Callable[[], object],
) -> ConversionResult:
    """Run ``info``'s converter once on ``source`` from ``cursor`` in ``domain``.

    Args:
        job_id: a callable giving the next job number (the pool's, shared with conversions).
        scope: the schedule's id (part of every report id).
        wall_limit: the run's wall-clock limit (``None``: the pool's ``timeout``).
        counters_retry: a callable counting a retry.

    Returns:
        :class:`Converted` (``cursor`` set; reports may be none), or the failure, as for a file.
    """
    name = f"schedule {scope}"
    label = hashlib.sha256(f"{scope}\n{source}".encode("utf-8", "surrogatepass")).hexdigest()
    started = trio.current_time()
    limits = (
        settings if wall_limit is None else msgspec.structs.replace(settings, timeout=wall_limit)
    )
    attempts = 0
    job: Job | None = None
    for fresh in (False, True):
        attempts += 1
        number = job_id()
        frame = encode_frame(
            Poll(job=number, converter=info.alias, source=source, cursor=Cursor.of(cursor))
        )
        job = Job(number, name, info.alias, fresh, trio.current_time(), frame)
        job.poll = True
        job.timeout = wall_limit
        await domain.attempt(job)
        outcome = job.outcome
        retry = isinstance(outcome, JobFailure) or (
            isinstance(outcome, Refused) and outcome.kind == "out_of_memory"
        )
        if not retry or fresh:
            break
        counters_retry()
    assert job is not None
    outcome = job.outcome
    if isinstance(outcome, Unrun) or outcome is None:
        reason = outcome.reason if outcome is not None else "no outcome"
        return Unavailable(name, label, reason, info.alias, attempts - 1)
    if isinstance(outcome, JobFailure):
        return failure_result(outcome, name, label, info.alias, attempts, limits)
    if isinstance(outcome, Refused):
        if outcome.kind == "out_of_memory":
            limit = settings.address_space_mb * _MiB
            return OutOfMemory(name, label, "address_space", limit, 0, "", info.alias, attempts)
        cause: RejectCause = "converter"
        if outcome.kind in ("invalid_output", "no_reports"):
            cause = "invalid_output" if outcome.kind == "invalid_output" else "no_reports"
        return Rejected(
            name,
            label,
            cause,
            outcome.reason,
            where=outcome.where,
            detail=outcome.detail,
            converter=info.alias,
            left_processes=outcome.children_left,
        )
    assert isinstance(outcome, Done)
    finished = await _finish_poll(outcome, info, name, label, scope, namespace, settings, started)
    return (
        msgspec.structs.replace(finished, attempts=attempts)
        if isinstance(finished, Converted)
        else finished
    )


async def _finish_poll(
    done: Done,
    info: ConverterInfo,
    name: str,
    label: str,
    scope: str,
    namespace: uuid.UUID,
    settings: PoolSettings,
    started: float,
) -> Converted | Rejected:
    finish_start = trio.current_time()
    too_large = _too_large(done.reports, settings)
    if too_large is not None:
        return Rejected(name, label, "too_large", too_large, converter=done.converter)
    keys = done.keys or []
    if sum(len(raw) for raw in done.reports) >= 256 * 1024:
        outcome = await trio.to_thread.run_sync(
            _identify, done.reports, keys, info, scope, namespace
        )
    else:
        outcome = _identify(done.reports, keys, info, scope, namespace)
    if isinstance(outcome, str):
        return Rejected(name, label, "invalid_output", outcome, converter=done.converter)
    now = trio.current_time()
    return Converted(
        name=name,
        sha256=label,
        converter=done.converter,
        converter_name=info.name,
        converter_version=info.version,
        reports=tuple(outcome),
        detected=False,
        attempts=1,
        timings=Timings(
            total=now - started, queued=0.0, worker=done.seconds, finish=now - finish_start
        ),
        left_processes=done.children_left,
        cursor=done.cursor,
    )


def _identify(
    reports: list[bytes],
    keys: list[str],
    info: ConverterInfo,
    scope: str,
    namespace: uuid.UUID,
) -> list[ConvertedReport] | str:
    """Each report decoded (typed: nothing of the converter runs) with its id from its key;
    or why one is not valid WSJF."""
    seen: Counter[str] = Counter()
    out: list[ConvertedReport] = []
    for index, (raw, key) in enumerate(zip(reports, keys, strict=True)):
        label = f"report {index}" if len(reports) > 1 else "the report"
        new_id = report_id(namespace, info.name, scoped_hash(scope, key), seen[key])
        seen[key] += 1
        wsjf = _with_id(raw, new_id)
        try:
            report = decode_report(wsjf if wsjf is not None else raw)
        except ReportDecodeError as exc:
            return f"{label} is not valid WSJF: {exc.message}"
        if wsjf is None or report.id != new_id:
            wsjf = encode_report(msgspec.structs.replace(report, id=new_id))
        out.append(ConvertedReport(new_id, index, wsjf, key=key))
    return out
