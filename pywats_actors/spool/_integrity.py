"""The start-up check: SQLite's ``quick_check`` for the file, then a decoding check of every row.

A damaged *file* (bad pages, broken indexes, a truncated database) cannot be repaired here and
raises :class:`SpoolCorrupt` with instructions. A damaged *row* (metadata that does not decode, a
body whose CRC does not match, a value of the wrong type written by hand) is moved to the
``quarantine`` table with the reason, and the spool starts without it.
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

__all__ = ["check_rows", "decode_source", "quick_check"]

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


def check_rows(
    conn: sqlite3.Connection, now: float, *, verify_bodies: bool
) -> tuple[QuarantinedRow, ...]:
    """Decode every row; move the ones that fail to ``quarantine`` in one transaction.

    With *verify_bodies* every body is read and its CRC compared (a sequential pass over the
    file); without it only the body's type and length are checked.
    """
    columns = ", ".join(_COLUMNS)
    data = "body" if verify_bodies else "NULL"
    bad: list[tuple[Sequence[Any], str]] = []
    query = f"SELECT {columns}, typeof(body), length(body), {data} FROM reports"
    for *values, kind, length, body in conn.execute(query):
        problem = row_problem(values, (kind, length, body))
        if problem is not None:
            bad.append((values, problem))
    if not bad:
        return ()
    moved = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for values, problem in bad:
            conn.execute(
                "INSERT INTO quarantine (quarantined_at, reason, report_id, state, source, "
                "record, body) SELECT ?, ?, id, state, source, ?, body FROM reports WHERE seq = ?",
                (now, problem, _record_json(values), values[0]),
            )
            conn.execute("DELETE FROM reports WHERE seq = ?", (values[0],))
            moved.append(
                QuarantinedRow(report_id=str(values[1]), reason=problem, quarantined_at=now)
            )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return tuple(moved)
