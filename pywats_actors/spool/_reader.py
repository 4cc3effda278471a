"""Read-only access to a spool, safe while a node writes to it.

:func:`open_reader` is what ``pywats-node queue ls/show`` uses: a plain, blocking API on its own
read-only connection (no trio, no lock file). In WAL mode a reader sees the last committed state
when each query starts, never blocks the writer and is never blocked by it. The running
:class:`~pywats_actors.spool.Spool` uses the same reader (in a worker thread) for its operator
queries, so a long listing never delays an enqueue.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

from ._counters import Counters, count_usage, make_statistics
from ._errors import SpoolCorrupt, SpoolError, UnknownReport
from ._integrity import decode_source, find_problems
from ._schema import connect_reader, supported_version, translate_error
from ._types import (
    QuarantinedRow,
    ReportPage,
    ReportRecord,
    ReportState,
    ReportSummary,
    SourceInfo,
    SpoolStatistics,
    canonical_report_id,
)

__all__ = ["SpoolReader", "open_reader"]

_SUMMARY = (
    "seq, id, state, attempts, next_attempt_at, last_error, created_at, updated_at, sent_at, "
    "server_answer, body_size, body IS NOT NULL, source"
)


def _source(text: object) -> SourceInfo | None:
    if not isinstance(text, str | bytes):
        return None
    try:
        return decode_source(text)
    except msgspec.DecodeError:
        return None


def _summary(row: tuple[Any, ...]) -> ReportSummary:
    return ReportSummary(
        position=row[0],
        report_id=row[1],
        state=ReportState(row[2]),
        attempts=row[3],
        next_attempt_at=row[4],
        last_error=row[5],
        created_at=row[6],
        updated_at=row[7],
        sent_at=row[8],
        server_answer=row[9],
        body_size=row[10],
        has_body=bool(row[11]),
        source=_source(row[12]),
    )


class SpoolReader:
    """A read-only view of a spool database.

    Use one instance from one thread at a time. Open it with :func:`open_reader`.

    Args:
        path: the spool's database file.
        busy_timeout: seconds to wait when a checkpoint or recovery briefly locks the file.
        clock: the wall clock, for ages in :meth:`statistics`.

    Raises:
        SpoolError: there is no spool at *path*.
        SpoolCorrupt: the file is not a spool or is damaged.
        SpoolVersionError: the file is newer than this code.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        if not self.path.is_file():
            error = SpoolError(f"there is no spool at {self.path}")
            error.path = self.path
            raise error
        try:
            self._conn = connect_reader(self.path, busy_timeout=busy_timeout)
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        try:
            if self._guard(supported_version, self._conn, self.path) == 0:
                raise SpoolCorrupt(self.path, ["the spool was never initialised (no tables)"])
        except BaseException:
            self._conn.close()
            raise

    def _translate(self, exc: sqlite3.Error) -> BaseException:
        return translate_error(exc, self.path) or SpoolCorrupt(self.path, [str(exc)])

    def _guard(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc

    def close(self) -> None:
        """Close the connection; the reader cannot be used afterwards."""
        self._conn.close()

    def list_reports(
        self,
        *,
        state: ReportState | None = None,
        after: int | None = None,
        limit: int = 50,
        created_after: float | None = None,
        created_before: float | None = None,
        newest_first: bool = False,
    ) -> ReportPage:
        """One page of reports, without bodies, in insertion order (or newest first).

        Args:
            state: only reports in this state.
            after: the ``next_cursor`` of the previous page.
            limit: the most reports on the page (1 to 10,000).
            created_after: only reports enqueued at or after this epoch time.
            created_before: only reports enqueued before this epoch time.
            newest_first: the most recent first.

        Raises:
            ValueError: *limit* is out of range.
        """
        if not 1 <= limit <= 10_000:
            raise ValueError(f"limit must be between 1 and 10000, got {limit}")
        where: list[str] = []
        args: list[object] = []
        if state is not None:
            where.append("state = ?")
            args.append(state.value)
        if after is not None:
            where.append("seq < ?" if newest_first else "seq > ?")
            args.append(after)
        if created_after is not None:
            where.append("created_at >= ?")
            args.append(created_after)
        if created_before is not None:
            where.append("created_at < ?")
            args.append(created_before)
        sql = f"SELECT {_SUMMARY} FROM reports"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY seq {'DESC' if newest_first else 'ASC'} LIMIT ?"
        args.append(limit + 1)
        rows = self._guard(lambda: self._conn.execute(sql, args).fetchall())
        more = len(rows) > limit
        reports = tuple(_summary(row) for row in rows[:limit])
        return ReportPage(reports=reports, next_cursor=reports[-1].position if more else None)

    def show(self, report_id: str) -> ReportRecord:
        """One report with its body.

        Raises:
            UnknownReport: no such report.
            ValueError: *report_id* is not a GUID.
        """
        rid = canonical_report_id(report_id)
        row = self._guard(
            lambda: self._conn.execute(
                f"SELECT {_SUMMARY}, body FROM reports WHERE id = ?", (rid,)
            ).fetchone()
        )
        if row is None:
            raise UnknownReport(rid)
        return ReportRecord(summary=_summary(row[:-1]), body=row[-1])

    def statistics(self) -> SpoolStatistics:
        """Counts per state, bytes and the oldest pending age, straight from the file.

        The activity counters (transactions, claims, intake) belong to a running node and are
        zero here; ask the node over IPC for those.
        """
        counters = Counters()
        with self._snapshot():
            self._guard(count_usage, self._conn, counters)
        return make_statistics(counters, now=self._clock())

    def quarantined(self) -> tuple[QuarantinedRow, ...]:
        """Rows moved to quarantine by start-up checks, oldest first."""
        rows = self._guard(
            lambda: self._conn.execute(
                "SELECT report_id, reason, quarantined_at FROM quarantine ORDER BY seq"
            ).fetchall()
        )
        return tuple(
            QuarantinedRow(report_id=str(rid), reason=reason, quarantined_at=at)
            for rid, reason, at in rows
        )

    def check(self) -> list[str]:
        """Run ``PRAGMA quick_check`` on the file: ``["ok"]`` when it is sound."""
        rows = self._guard(lambda: self._conn.execute("PRAGMA quick_check(20)").fetchall())
        return [str(row[0]) for row in rows]

    def verify_rows(self, *, verify_bodies: bool = True) -> list[tuple[str, str]]:
        """Decode every row as a claim would (and check each body's CRC): ``(report id,
        problem)`` for each row that fails, an empty list when all are sound. Reads the whole
        table; changes nothing (the running spool quarantines such a row when it claims it)."""
        with self._snapshot():
            found: list[tuple[str, str]] = self._guard(
                lambda: find_problems(self._conn, verify_bodies=verify_bodies)
            )
        return found

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        """Run several queries against one consistent snapshot."""
        self._guard(self._conn.execute, "BEGIN")
        try:
            yield
        finally:
            self._conn.execute("COMMIT")

    def __enter__(self) -> SpoolReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_reader(
    path: str | os.PathLike[str],
    *,
    busy_timeout: float = 5.0,
    clock: Callable[[], float] = time.time,
) -> SpoolReader:
    """Open a read-only view of the spool at *path*; use it as a context manager.

    ::

        with open_reader("/var/lib/pywats/spool.db") as reader:
            for report in reader.list_reports(state=ReportState.REJECTED).reports:
                print(report.report_id, report.last_error)

    Raises:
        SpoolError: there is no spool at *path*.
        SpoolCorrupt: the file is not a spool or is damaged.
        SpoolVersionError: the file is newer than this code.
    """
    return SpoolReader(path, busy_timeout=busy_timeout, clock=clock)
