"""The checks: SQLite's ``quick_check`` for the file, and a decoding check of one row.

A damaged *file* (bad pages, broken indexes, a truncated database) cannot be repaired here and
raises :class:`SpoolCorrupt` with instructions; the spool runs ``quick_check`` in the background
after it opens. A damaged *row* (metadata that does not decode, a body whose CRC does not match, a
value of the wrong type written by hand) is found when it is claimed for upload, moved to the
``quarantine`` table with the reason, and never uploaded.
"""

from __future__ import annotations

import json
import math
import sqlite3
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from ._errors import SpoolCorrupt
from ._types import QuarantinedRow, ReportState, SourceInfo, canonical_report_id

__all__ = [
    "decode_source",
    "find_problems",
    "quarantine_row",
    "quick_check",
    "row_problem",
    "row_query",
]

_STATES = frozenset(state.value for state in ReportState)
_source_decoder = msgspec.json.Decoder(SourceInfo)

# The columns of `reports`, in the order the row check reads them.
_COLUMNS = (
    "seq",
    "id",
    "state",
    "attempts",
    "next_attempt_at",
    "last_error",
    "created_at",
    "updated_at",
    "sent_at",
    "server_answer",
    "source",
    "body_size",
    "body_crc",
)


def decode_source(text: str | bytes) -> SourceInfo:
    """Decode a row's ``source`` column.

    Raises:
        msgspec.DecodeError: it is not a valid :class:`SourceInfo`.
    """
    return _source_decoder.decode(text)


def quick_check(conn: sqlite3.Connection, path: Path) -> None:
    """Run ``PRAGMA quick_check`` (every page and record, without the slower index cross-check).

    Raises:
        SpoolCorrupt: SQLite found damage.
    """
    rows = conn.execute("PRAGMA quick_check(20)").fetchall()
    problems = [str(row[0]) for row in rows]
    if problems != ["ok"]:
        raise SpoolCorrupt(path, problems)


def _is_time(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def row_problem(row: Sequence[Any], body: tuple[str, int | None, bytes | None]) -> str | None:
    """What is wrong with one ``reports`` row, or ``None``.

    Args:
        row: the columns of ``_COLUMNS``, in that order.
        body: ``(typeof(body), length(body), body or None)``; the bytes only when they are to
            be checked against the CRC.
    """
    (_, rid, state, attempts, next_at, last_error, created, updated, sent_at, answer) = row[:10]
    source, body_size, body_crc = row[10:13]
    if not isinstance(rid, str):
        return f"id is {type(rid).__name__}, not text"
    try:
        if canonical_report_id(rid) != rid:
            return f"id {rid!r} is not in canonical GUID form"
    except ValueError:
        return f"id {rid!r} is not a GUID"
    if state not in _STATES:
        return f"unknown state {state!r}"
    if not isinstance(attempts, int) or attempts < 0:
        return f"attempts is {attempts!r}"
    times = (("next_attempt_at", next_at), ("created_at", created), ("updated_at", updated))
    for name, value in times:
        if not _is_time(value):
            return f"{name} is {value!r}, not a time"
    if state == ReportState.SENT.value and not _is_time(sent_at):
        return f"sent report has sent_at {sent_at!r}"
    for name, value in (("last_error", last_error), ("server_answer", answer)):
        if value is not None and not isinstance(value, str):
            return f"{name} is {type(value).__name__}, not text"
    if not isinstance(source, str | bytes):
        return f"source is {type(source).__name__}, not JSON text"
    try:
        decode_source(source)
    except msgspec.DecodeError as exc:
        return f"source does not decode: {exc}"
    if not isinstance(body_size, int) or body_size < 0 or not isinstance(body_crc, int):
        return f"body_size {body_size!r} / body_crc {body_crc!r} are not sizes"
    kind, length, data = body
    if kind == "null":
        return None if state == ReportState.SENT.value else f"a {state} report has no body"
    if kind != "blob":
        return f"body is {kind}, not a BLOB"
    if length != body_size:
        return f"body has {length} bytes, the row says {body_size}"
    if data is not None and zlib.crc32(data) != body_crc:
        return "body CRC does not match: the bytes were changed or damaged"
    return None


def _record_json(row: Sequence[Any]) -> str:
    def plain(value: object) -> object:
        if isinstance(value, bytes):
            return value.decode("utf-8", errors="replace")
        if isinstance(value, float) and not math.isfinite(value):
            return repr(value)
        return value

    return json.dumps({name: plain(value) for name, value in zip(_COLUMNS, row, strict=True)})


def row_query(where: str, *, with_body: bool) -> str:
    """A ``SELECT`` of the columns :func:`row_problem` checks, then ``typeof(body)``,
    ``length(body)`` and the body itself (or ``NULL`` without *with_body*)."""
    data = "body" if with_body else "NULL"
    return f"SELECT {', '.join(_COLUMNS)}, typeof(body), length(body), {data} FROM reports {where}"


def find_problems(conn: sqlite3.Connection, *, verify_bodies: bool) -> list[tuple[str, str]]:
    """Decode every row (a pass over the whole table, for ``spool check`` and tests); return
    ``(report id, problem)`` for each row that fails. Nothing is changed."""
    found = []
    for *values, kind, length, body in conn.execute(row_query("", with_body=verify_bodies)):
        problem = row_problem(values, (kind, length, body))
        if problem is not None:
            found.append((str(values[1]), problem))
    return found


def quarantine_row(
    conn: sqlite3.Connection, values: Sequence[Any], problem: str, now: float
) -> QuarantinedRow:
    """Move one row (its columns as read by :func:`row_query`) to ``quarantine`` with the
    reason, in a transaction of its own (the connection must not be in one)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "INSERT INTO quarantine (quarantined_at, reason, report_id, state, source, "
            "record, body) SELECT ?, ?, id, state, source, ?, body FROM reports WHERE seq = ?",
            (now, problem, _record_json(values), values[0]),
        )
        conn.execute("DELETE FROM reports WHERE seq = ?", (values[0],))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return QuarantinedRow(report_id=str(values[1]), reason=problem, quarantined_at=now)
