"""What the writer thread does to the database: one method per operation, plus the counters.

Everything here runs on the writer thread, on its one connection. Write operations run inside the
batch transaction that :mod:`._writer` opens (each in its own savepoint); claims are plain reads
between batches. The only state the trio thread touches is the claimed-id set, under
:attr:`Store.claim_lock`.
"""

from __future__ import annotations

import sqlite3
import threading
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec

from .._failpoints import failpoint
from ._counters import Counters, count_usage
from ._errors import (
    InvalidTransition,
    ReportTooLarge,
    SpoolDiskFull,
    SpoolFull,
    UnknownReport,
)
from ._files import free_bytes
from ._integrity import decode_source
from ._settings import FullPolicy, SpoolSettings
from ._types import (
    ClaimedReport,
    EnqueueResult,
    ReportState,
    RetentionResult,
    SpoolItem,
    canonical_report_id,
)

__all__ = ["Store"]

_PENDING, _SENT, _REJECTED = (state.value for state in ReportState)
_MAX_TEXT = 16_384
_source_encoder = msgspec.json.Encoder()


def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= _MAX_TEXT:
        return text
    return text[: _MAX_TEXT - 1] + "…"


class Store:
    """The writer's view of the database.

    Args:
        conn: the writer connection (WAL, synchronous=FULL).
        path: the database file, for errors.
        settings: limits and retention.
        clock: the wall clock (epoch seconds).
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        settings: SpoolSettings,
        clock: Callable[[], float],
    ) -> None:
        self.conn = conn
        self.path = path
        self.settings = settings
        self.clock = clock
        self.counters = Counters()
        count_usage(conn, self.counters)
        self.claimed: set[str] = set()
        self.claim_lock = threading.Lock()
        self.recount = False  # set by a batch that deleted rows: recount after its commit
        self._free: int | None = None

    # -- batch bookkeeping (driven by the writer) ---------------------------------------------

    def start_batch(self) -> None:
        """Reset the per-batch notes; the writer has just begun a transaction."""
        self.recount = False
        self._free = None

    def finish_batch(self) -> None:
        """After a successful commit: count it and refresh the derived counters."""
        self.counters.transactions += 1
        if self.recount:
            count_usage(self.conn, self.counters)
        else:
            row = self.conn.execute(
                "SELECT created_at FROM reports INDEXED BY reports_pending "
                "WHERE state = 'pending' ORDER BY seq LIMIT 1"
            ).fetchone()
            self.counters.oldest_pending_created = None if row is None else float(row[0])

    # -- intake -------------------------------------------------------------------------------

    def enqueue(self, items: Sequence[SpoolItem]) -> EnqueueResult:
        """Insert the new reports; report the ones already present as duplicates.

        Raises:
            ReportTooLarge, SpoolFull, SpoolDiskFull: nothing was inserted.
        """
        now = self.clock()
        seen: set[str] = set()
        fresh: list[tuple[str, SpoolItem]] = []
        duplicates: list[str] = []
        for item in items:
            rid = canonical_report_id(item.report_id)
            if rid in seen or self._exists(rid):
                duplicates.append(rid)
            else:
                fresh.append((rid, item))
            seen.add(rid)
        size = sum(len(item.body) for _, item in fresh)
        if fresh:
            self._make_room(len(fresh), size)
        for rid, item in fresh:
            self.conn.execute(
                "INSERT INTO reports (id, state, attempts, next_attempt_at, created_at, "
                "updated_at, source, body_size, body_crc, body) "
                "VALUES (?, 'pending', 0, ?, ?, ?, ?, ?, ?, ?)",
                (
                    rid,
                    now,
                    now,
                    now,
                    _source_encoder.encode(item.source).decode(),
                    len(item.body),
                    zlib.crc32(item.body),
                    item.body,
                ),
            )
        self.counters.count[_PENDING] += len(fresh)
        self.counters.bytes[_PENDING] += size
        self.counters.enqueue_calls += 1
        self.counters.enqueued += len(fresh)
        self.counters.duplicates += len(duplicates)
        if self._free is not None:
            self._free -= size
        return EnqueueResult(inserted=tuple(rid for rid, _ in fresh), duplicates=tuple(duplicates))

    def _exists(self, rid: str) -> bool:
        return (
            self.conn.execute("SELECT 1 FROM reports WHERE id = ?", (rid,)).fetchone() is not None
        )

    def _make_room(self, rows: int, size: int) -> None:
        settings = self.settings
        if settings.max_bytes is not None and size > settings.max_bytes:
            raise ReportTooLarge(size, settings.max_bytes)
        if settings.reserve_free_bytes and self._free is None:
            self._free = free_bytes(self.path.parent)
        if self._free is not None and self._free - size < settings.reserve_free_bytes:
            raise SpoolDiskFull(
                self.path,
                free=self._free,
                reserve=settings.reserve_free_bytes,
                detail=f"{size} more bytes would cut into the reserve",
            )
        over_bytes, over_rows = self._excess(rows, size)
        if (over_bytes > 0 or over_rows > 0) and settings.when_full is FullPolicy.EVICT_SENT:
            self._evict_sent(over_bytes, over_rows)
            over_bytes, over_rows = self._excess(rows, size)
        c = self.counters
        if over_bytes > 0:
            assert settings.max_bytes is not None
            raise SpoolFull(
                f"the spool {self.path} holds {c.total_bytes} of {settings.max_bytes} bytes; "
                f"{size} more do not fit",
                limit="bytes",
                used=c.total_bytes,
                maximum=settings.max_bytes,
            )
        if over_rows > 0:
            assert settings.max_reports is not None
            raise SpoolFull(
                f"the spool {self.path} holds {c.rows} of {settings.max_reports} reports; "
                f"{rows} more do not fit",
                limit="reports",
                used=c.rows,
                maximum=settings.max_reports,
            )

    def _excess(self, rows: int, size: int) -> tuple[int, int]:
        s, c = self.settings, self.counters
        over_bytes = 0 if s.max_bytes is None else c.total_bytes + size - s.max_bytes
        over_rows = 0 if s.max_reports is None else c.rows + rows - s.max_reports
        return over_bytes, over_rows

    def _evict_sent(self, over_bytes: int, over_rows: int) -> None:
        victims: list[tuple[int, int]] = []
        cursor = self.conn.execute(
            "SELECT seq, CASE WHEN body IS NULL THEN 0 ELSE body_size END FROM reports "
            "INDEXED BY reports_sent WHERE state = 'sent' ORDER BY sent_at"
        )
        for seq, size in cursor:
            if over_bytes <= 0 and over_rows <= 0:
                break
            victims.append((seq, size))
            over_bytes -= size
            over_rows -= 1
        cursor.close()
        if over_bytes > 0 or over_rows > 0:
            return  # evicting every sent report would not be enough: the caller refuses
        self.conn.executemany("DELETE FROM reports WHERE seq = ?", ((seq,) for seq, _ in victims))
        self.counters.count[_SENT] -= len(victims)
        self.counters.bytes[_SENT] -= sum(size for _, size in victims)
        self.recount = True

    # -- upload outcomes ----------------------------------------------------------------------

    def _row(self, rid: str) -> tuple[str, int]:
        row = self.conn.execute(
            "SELECT state, CASE WHEN body IS NULL THEN 0 ELSE body_size END "
            "FROM reports WHERE id = ?",
            (rid,),
        ).fetchone()
        if row is None:
            raise UnknownReport(rid)
        return str(row[0]), int(row[1])

    def mark_sent(self, rid: str, answer: str | None) -> None:
        """pending → sent. Marking a sent report again changes nothing."""
        state, size = self._row(rid)
        if state == _SENT:
            return
        if state != _PENDING:
            raise InvalidTransition(rid, state, "mark sent")
        now = self.clock()
        self.conn.execute(
            "UPDATE reports SET state = 'sent', attempts = attempts + 1, sent_at = ?, "
            "updated_at = ?, server_answer = ? WHERE id = ?",
            (now, now, _clip(answer), rid),
        )
        self.counters.move(_PENDING, _SENT, size)

    def mark_sent_many(
        self, marks: Sequence[tuple[str, str | None]]
    ) -> list[tuple[str, UnknownReport | InvalidTransition]]:
        """:meth:`mark_sent` for each ``(id, answer)``; the ids it refused, with why."""
        failpoint("spool.mark_sent", lambda: sqlite3.OperationalError("disk I/O error (failpoint)"))
        refused: list[tuple[str, UnknownReport | InvalidTransition]] = []
        for rid, answer in marks:
            try:
                self.mark_sent(rid, answer)
            except (UnknownReport, InvalidTransition) as exc:  # raised before any change
                refused.append((rid, exc))
        return refused

    def mark_retry(self, rid: str, delay: float, error: str) -> None:
        """pending stays pending, due *delay* seconds from now, one attempt more."""
        state, _ = self._row(rid)
        if state != _PENDING:
            raise InvalidTransition(rid, state, "schedule a retry of")
        now = self.clock()
        self.conn.execute(
            "UPDATE reports SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, "
            "updated_at = ? WHERE id = ?",
            (now + delay, _clip(error), now, rid),
        )

    def mark_rejected(self, rid: str, error: str) -> None:
        """pending → rejected, with the server's message. Rejecting again changes nothing."""
        state, size = self._row(rid)
        if state == _REJECTED:
            return
        if state != _PENDING:
            raise InvalidTransition(rid, state, "mark rejected")
        now = self.clock()
        self.conn.execute(
            "UPDATE reports SET state = 'rejected', attempts = attempts + 1, last_error = ?, "
            "updated_at = ? WHERE id = ?",
            (_clip(error), now, rid),
        )
        self.counters.move(_PENDING, _REJECTED, size)

    # -- claims (reads, outside transactions) -------------------------------------------------

    def claim(self, limit: int) -> tuple[ClaimedReport, ...]:
        """The oldest due pending reports not claimed yet, at most *limit*, now claimed."""
        now = self.clock()
        with self.claim_lock:
            skip = len(self.claimed)
        ids = [
            rid
            for (rid,) in self.conn.execute(
                "SELECT id FROM reports INDEXED BY reports_pending "
                "WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY seq LIMIT ?",
                (now, limit + skip),
            )
        ]
        with self.claim_lock:
            chosen = [rid for rid in ids if rid not in self.claimed][:limit]
            self.claimed.update(chosen)
        claimed = []
        for rid in chosen:
            attempts, created_at, source, body = self.conn.execute(
                "SELECT attempts, created_at, source, body FROM reports WHERE id = ?", (rid,)
            ).fetchone()
            claimed.append(
                ClaimedReport(
                    report_id=rid,
                    body=body,
                    attempts=attempts,
                    created_at=created_at,
                    source=decode_source(source),
                )
            )
        return tuple(claimed)

    def release(self, ids: Sequence[str]) -> None:
        """Forget claims (any thread)."""
        with self.claim_lock:
            self.claimed.difference_update(ids)

    def claimed_count(self) -> int:
        """Reports claimed right now (any thread)."""
        with self.claim_lock:
            return len(self.claimed)

    # -- operator -----------------------------------------------------------------------------

    def retry(self, rid: str) -> None:
        """rejected (or pending) → pending, due now, attempt count back to 0."""
        state, size = self._row(rid)
        if state == _SENT:
            raise InvalidTransition(rid, state, "retry")
        now = self.clock()
        self.conn.execute(
            "UPDATE reports SET state = 'pending', attempts = 0, next_attempt_at = ?, "
            "updated_at = ? WHERE id = ?",
            (now, now, rid),
        )
        if state == _REJECTED:
            self.counters.move(_REJECTED, _PENDING, size)

    def purge(
        self,
        ids: Sequence[str] | None,
        state: ReportState | None,
        older_than: float | None,
    ) -> int:
        """Delete the reports matching every given filter, except claimed (in-flight) ones."""
        where: list[str] = []
        args: list[object] = []
        if state is not None:
            where.append("state = ?")
            args.append(state.value)
        if older_than is not None:
            where.append("updated_at <= ?")
            args.append(self.clock() - older_than)
        with self.claim_lock:
            busy = set(self.claimed)
        if ids is None:
            sql = "SELECT seq, id FROM reports" + (" WHERE " + " AND ".join(where) if where else "")
            found = self.conn.execute(sql, args).fetchall()
        else:  # one indexed lookup per id instead of a scan
            sql = "SELECT seq, id FROM reports WHERE " + " AND ".join(["id = ?", *where])
            found = []
            for rid in {canonical_report_id(rid) for rid in ids}:
                found += self.conn.execute(sql, [rid, *args]).fetchall()
        victims = [seq for seq, rid in found if rid not in busy]
        self.conn.executemany("DELETE FROM reports WHERE seq = ?", ((v,) for v in victims))
        if victims:
            self.recount = True
        return len(victims)

    # -- retention ----------------------------------------------------------------------------

    def retention_step(self, limit: int) -> RetentionResult:
        """Delete up to *limit* expired sent rows and drop up to *limit* expired sent bodies."""
        now = self.clock()
        deleted = self.conn.execute(
            "DELETE FROM reports WHERE seq IN (SELECT seq FROM reports INDEXED BY reports_sent "
            "WHERE state = 'sent' AND sent_at < ? LIMIT ?)",
            (now - self.settings.sent_metadata_seconds, limit),
        ).rowcount
        dropped = self.conn.execute(
            "UPDATE reports SET body = NULL WHERE seq IN (SELECT seq FROM reports "
            "INDEXED BY reports_sent WHERE state = 'sent' AND sent_at < ? AND body IS NOT NULL "
            "LIMIT ?)",
            (now - self.settings.sent_body_seconds, limit),
        ).rowcount
        if deleted or dropped:
            self.recount = True
        return RetentionResult(bodies_dropped=dropped, rows_deleted=deleted)

    def vacuum_step(self, pages: int) -> None:
        """Hand up to *pages* free pages back to the file system."""
        self.conn.execute(f"PRAGMA incremental_vacuum({int(pages)})").fetchall()
