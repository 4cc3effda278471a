"""Checking a converter's output in the worker: every report must be valid WSJF.

Validation runs in the worker process, next to the converter, so it costs the node's main
process nothing and runs in parallel across workers. The parent still decodes each report
(typed, so hostile bytes cannot confuse it) to give it its final id; a converter that bypassed
this check could at worst get a report refused by the server, which the spool keeps as
rejected.

A built-in converter that validates every report it returns anyway (the CSV converter, whose
messages name the rows; the WSJF pass-through, which must decode and validate the file to know
whether it can pass it on) says so: :func:`validated` runs the same check on a report object,
:func:`checked` declares that bytes it returns already passed it. Inside a worker's conversion the
worker remembers those very objects and does not decode and validate them a second time. Every
other output (and every plug-in's) is checked here.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import TypeVar

import msgspec

from pywats_actors.report import Report, ReportDecodeError, ReportInvalid, decode_report, validate

__all__ = [
    "DETAIL_PROBLEMS",
    "check_report",
    "check_reports",
    "checked",
    "noting_validated",
    "validated",
]

DETAIL_PROBLEMS = 50

# The parent gives every report its final id (a nil id means "give me one"), so the id the
# converter wrote is not what gets validated.
_PLACEHOLDER_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")

R = TypeVar("R", bound=Report)

_noted: list[object] | None = None


def validated(report: R) -> R:
    """Validate ``report`` as the worker's check would (its id aside) and return it.

    Inside a worker's conversion (:func:`noting_validated`) the object is remembered, so the
    worker does not validate it again when the converter returns it.

    Raises:
        ReportInvalid: with every problem found.
    """
    problems = validate(msgspec.structs.replace(report, id=_PLACEHOLDER_ID))
    if problems:
        raise ReportInvalid(problems)
    checked(report)
    return report


def checked(output: bytes | Report) -> None:
    """Declare that ``output``, this very object, passed the worker's check already: it is a
    report object that validates, or WSJF bytes that decode to one (their id aside). For built-in
    converters that have just done exactly that; outside a worker's conversion it does nothing."""
    if _noted is not None:
        _noted.append(output)


@contextmanager
def noting_validated() -> Iterator[list[object]]:
    """Collect the outputs :func:`validated` and :func:`checked` are told about while the block
    runs (the worker wraps one ``convert()`` call). The list holds them, so their identities
    stay theirs."""
    global _noted
    previous, _noted = _noted, []
    try:
        yield _noted
    finally:
        _noted = previous


def check_reports(
    reports: list[bytes], skip: Collection[int] = ()
) -> tuple[str, str | None, str | None] | None:
    """``None`` when every report is valid WSJF, else ``(reason, where, detail)``.

    ``skip``: indexes of reports encoded from objects their converter validated itself.
    """
    for index, raw in enumerate(reports):
        if index in skip:
            continue
        problem = check_report(raw, f"report {index}" if len(reports) > 1 else "the report")
        if problem is not None:
            return problem
    return None


def check_report(raw: bytes, label: str) -> tuple[str, str | None, str | None] | None:
    """``None`` when ``raw`` is valid WSJF, else ``(reason, where, detail)``; the reason
    starts with ``label`` (``report 3``, ``the report``)."""
    try:
        report = decode_report(raw)
    except ReportDecodeError as exc:
        return f"{label} is not valid WSJF: {exc.message}", exc.path, None
    problems = validate(msgspec.structs.replace(report, id=_PLACEHOLDER_ID))
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        detail = "\n".join(f"{p.path}: {p.message}" for p in problems[:DETAIL_PROBLEMS])
        return f"{label} is not valid WSJF: {first.message}{more}", first.path, detail
    return None
