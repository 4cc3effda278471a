"""Copy what is still readable from a damaged spool into a new one.

SQLite's own ``.recover`` needs a CLI built with ``SQLITE_ENABLE_DBPAGE_VTAB``, and the Debian
``sqlite3`` 3.40.1 in our images lacks it. ``.dump`` stops at the first bad page. So the spool
brings its own salvage.

The damaged file is opened read-only with ``writable_schema`` on, which makes SQLite accept a
file shorter than its header says (a truncated file is otherwise "malformed" as a whole). Row
numbers are found three ways: a scan of the table, and a scan of each of the two indexes that
hold ``seq``. Each scan goes as far as the damage lets it. Gaps up to the highest number found,
and a stretch beyond it, are probed too. Every row is read by a point lookup from the root,
which reaches leaves that a scan stopped short of. A row is kept only if it passes the same
check as the start-up check, CRC included. The copy keeps each row's state, attempts, times and
answer.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from ._errors import SpoolError
from ._files import fsync_directory
from ._integrity import row_problem
from ._ledger import acknowledge_sent_rows
from ._schema import connect_reader, connect_writer, migrate

__all__ = ["SalvageResult", "salvage_spool"]

_COLUMNS = (
    "seq, id, state, attempts, next_attempt_at, last_error, created_at, updated_at, sent_at, "
    "server_answer, source, body_size, body_crc"
)
_SEQ_QUERIES = (
    "SELECT seq FROM reports NOT INDEXED",
    "SELECT seq FROM reports INDEXED BY reports_state",
    "SELECT seq FROM reports INDEXED BY reports_pending WHERE state = 'pending'",
)


class SalvageResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a salvage copied and what it could not.

    Attributes:
        copied: reports written to the new spool.
        unreadable: row numbers up to the highest one found that SQLite could not read (each
            a lost report, or a gap whose page is lost too).
        invalid: rows that were read but failed the check (damaged bytes); not copied.
        problems: the first few errors met, for the operator.
    """

    copied: int
    unreadable: int
    invalid: int
    problems: tuple[str, ...]


_GIVE_UP_AFTER = 500  # consecutive empty or unreadable row numbers past the highest one found


def _highest(conn: sqlite3.Connection, problems: list[str]) -> int:
    seqs: set[int] = set()
    for query in _SEQ_QUERIES:
        try:
            for (seq,) in conn.execute(query):
                if isinstance(seq, int):
                    seqs.add(seq)
        except sqlite3.Error as exc:
            problems.append(f"{query}: {exc}")
    return max(seqs, default=0)


def _acked_at(entry: tuple[object, ...]) -> float:
    at = entry[2]
    return float(at) if isinstance(at, int | float) else 0.0


def salvage_spool(
    damaged: str | os.PathLike[str],
    new: str | os.PathLike[str],
    *,
    clock: Callable[[], float] = time.time,
) -> SalvageResult:
    """Copy every readable, valid report from the spool file *damaged* into a new spool *new*.

    Run it with the node stopped, after moving the damaged file aside together with its
    ``-wal`` and ``-shm``, if they exist, so that commits still in the WAL are read too. Then
    put the new file where the old one was. The damaged file is only read.

    Raises:
        SpoolError: *new* already exists, or nothing of *damaged* can be read at all.
    """
    src, dst = Path(damaged), Path(new)
    if dst.exists():
        error = SpoolError(f"{dst} already exists; salvage writes a new file")
        error.path = dst
        raise error
    problems: list[str] = []
    try:
        conn = connect_reader(src, busy_timeout=5.0)
        conn.execute("PRAGMA writable_schema = ON")  # read-only: this cannot write anything
    except sqlite3.Error as exc:
        error = SpoolError(f"cannot open {src} at all: {exc}")
        error.path = src
        raise error from exc
    try:
        highest = _highest(conn, problems)
        rows = []
        unreadable = invalid = 0
        query = (
            f"SELECT {_COLUMNS}, typeof(body), length(body), body FROM reports NOT INDEXED "
            "WHERE seq = ?"
        )
        seq = misses = 0
        while seq < highest or misses < _GIVE_UP_AFTER:
            seq += 1
            try:
                row = conn.execute(query, (seq,)).fetchone()
            except sqlite3.Error as exc:
                if seq <= highest:
                    unreadable += 1
                    problems.append(f"row {seq}: {exc}")
                row = None
            if row is None:
                misses += seq > highest
                continue
            misses = 0
            highest = max(highest, seq)
            values, body = row[:13], (row[13], row[14], row[15])
            problem = row_problem(values, body)
            if problem is not None:
                invalid += 1
                problems.append(f"row {seq}: {problem}")
                continue
            rows.append((*values[1:], body[2]))
        ledger: list[tuple[object, ...]] = []
        try:  # a version-1 file has no ledger; a damaged one may have part of it
            for entry in conn.execute("SELECT id, content, acked_at FROM acknowledged"):
                ledger.append(tuple(entry))
        except sqlite3.Error as exc:
            if "no such table" not in str(exc):
                problems.append(f"acknowledged ids: {exc}")
    finally:
        conn.close()
    if not rows and problems:
        error = SpoolError(f"nothing could be salvaged from {src}: {problems[0]}")
        error.path = src
        raise error
    out = connect_writer(dst, busy_timeout=5.0)
    try:
        fsync_directory(dst.parent)
        migrate(out, dst, clock())
        out.execute("BEGIN IMMEDIATE")
        out.executemany(
            "INSERT OR IGNORE INTO reports (id, state, attempts, next_attempt_at, last_error, "
            "created_at, updated_at, sent_at, server_answer, source, body_size, body_crc, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        ledger.sort(key=_acked_at)  # the ledger is trimmed in the order it was written
        out.executemany(
            "INSERT OR IGNORE INTO acknowledged (id, content, acked_at) VALUES (?, ?, ?)", ledger
        )
        acknowledge_sent_rows(out)
        copied = out.execute("SELECT count(*) FROM reports").fetchone()[0]
        out.execute("COMMIT")
    finally:
        out.close()
    return SalvageResult(
        copied=copied, unreadable=unreadable, invalid=invalid, problems=tuple(problems[:20])
    )
