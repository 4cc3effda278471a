"""Checking a converter's output in the worker: every report must be valid WSJF.

Validation runs in the worker process, next to the converter, so it costs the node's main
process nothing and runs in parallel across workers. The parent still decodes each report
(typed, so hostile bytes cannot confuse it) to give it its final id; a converter that bypassed
this check could at worst get a report refused by the server, which the spool keeps as
rejected.
"""

from __future__ import annotations

import uuid

import msgspec

from pywats_actors.report import ReportDecodeError, decode_report, validate

__all__ = ["DETAIL_PROBLEMS", "check_reports"]

DETAIL_PROBLEMS = 50

# The parent gives every report its final id (a nil id means "give me one"), so the id the
# converter wrote is not what gets validated.
_PLACEHOLDER_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")


def check_reports(reports: list[bytes]) -> tuple[str, str | None, str | None] | None:
    """``None`` when every report is valid WSJF, else ``(reason, where, detail)``."""
    for index, raw in enumerate(reports):
        label = f"report {index}" if len(reports) > 1 else "the report"
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
