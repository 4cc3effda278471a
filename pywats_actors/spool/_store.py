"""What the writer thread does to the database: one method per operation, plus the counters.

Everything here runs on the writer thread, on its one connection. Write operations run inside the
batch transaction that :mod:`._writer` opens (each in its own savepoint); claims are reads
between batches (plus a transaction of their own when a claimed row turns out damaged and is
quarantined). The only state the trio thread touches is the claimed-id set, under
:attr:`Store.claim_lock`.

Usage (rows and body bytes per state) is kept in ``spool_usage`` by triggers, so a decision
inside a transaction reads the exact figures, including the changes of earlier calls in the
same batch.
"""

from __future__ import annotations

import sqlite3
import threading
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec

from .._failpoints import failpoint
from ._conflicts import check_acknowledged, check_repeat, check_row
from ._counters import Counters, count_usage, oldest_pending, read_usage
from ._errors import (
    InvalidTransition,
    ReportTooLarge,
    SpoolDiskFull,
    SpoolFull,
    UnknownReport,
)
from ._files import free_bytes
from ._integrity import decode_source, quarantine_row, row_problem, row_query
from ._ledger import acknowledge, acknowledged_content, content_fingerprint, forget_old
from ._schema import failpoint_io_error
from ._settings import SpoolSettings
from ._types import (
    ClaimedReport,
    EnqueueResult,
    QuarantinedRow,
    ReportState,
    RetentionResult,
    SpoolItem,
    canonical_report_id,
)

__all__ = ["CLAIM_QUERY", "Store"]

_PENDING, _SENT, _REJECTED = (state.value for state in ReportState)
_MAX_TEXT = 16_384

CLAIM_QUERY = (
    "SELECT id FROM reports INDEXED BY reports_pending "
    "WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY seq LIMIT ?"
)
"""The due pending reports in enqueue order: a walk along ``reports_pending`` (seq,
next_attempt_at), filtered inside the index, with no sort."""
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
        on_quarantine: called (on the writer thread) with each row a claim found damaged and
            moved to quarantine.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        settings: SpoolSettings,
        clock: Callable[[], float],
        on_quarantine: Callable[[QuarantinedRow], None] = lambda row: None,
    ) -> None:
        self.conn = conn
        self.path = path
        self.settings = settings
        self.clock = clock
        self.on_quarantine = on_quarantine
        self.counters = Counters()
        count_usage(conn, self.counters)
        self.claimed: set[str] = set()
        self.claim_lock = threading.Lock()
        self.unreadable: set[str] = set()  # damaged rows that could not be quarantined yet
        self.changed = False  # a claim quarantined a row: publish the counters
        self._free: int | None = None

    # -- batch bookkeeping (driven by the writer) ---------------------------------------------

    def start_batch(self) -> None:
        """Reset the per-batch notes; the writer has just begun a transaction."""
        self._free = None

    def finish_batch(self) -> None:
        """After a successful commit: count it and refresh the usage (four indexed reads)."""
        self.counters.transactions += 1
        self.refresh()

    def refresh(self) -> None:
        """Read the usage per state and the oldest pending report into the counters."""
        read_usage(self.conn, self.counters)
        self.counters.oldest_pending_created = oldest_pending(self.conn)

    def _usage(self) -> Counters:
        """The usage as of now, inside the current transaction."""
        usage = Counters()
        read_usage(self.conn, usage)
        return usage

    # -- intake -------------------------------------------------------------------------------

    def enqueue(self, items: Sequence[SpoolItem]) -> EnqueueResult:
        """Insert the new reports; report the ones already present, or already acknowledged by
        the server, as duplicates (and the acknowledged ones also as already sent).

        Every id is checked (``_conflicts``) before anything is inserted: a kept id held for
        other content refuses the whole call.

        Raises:
            ReportIdConflict, ReportTooLarge, SpoolFull, SpoolDiskFull: nothing was inserted.
        """
        now = self.clock()
        seen: dict[str, SpoolItem] = {}
        fresh: list[tuple[str, SpoolItem]] = []
        duplicates: list[str] = []
        already_sent: list[str] = []
        changed: list[str] = []
        for item in items:
            rid = canonical_report_id(item.report_id)
            earlier = seen.get(rid)
            if earlier is not None:
                check_repeat(rid, item.source, earlier.source)
                duplicates.append(rid)
                continue
            seen[rid] = item
            row = self.conn.execute(
                "SELECT state, source FROM reports WHERE id = ?", (rid,)
            ).fetchone()
            if row is not None:
                check_row(rid, item.source, str(row[0]), row[1])
            acknowledged = acknowledged_content(self.conn, rid)
            if acknowledged is not None:
                fingerprint, acknowledged_at = acknowledged
                if row is None:
                    check_acknowledged(rid, item.source, fingerprint, acknowledged_at)
                duplicates.append(rid)
                already_sent.append(rid)
                if fingerprint != content_fingerprint(item.source.content_hash):
                    changed.append(rid)
                continue
            if row is None:
                fresh.append((rid, item))
                continue
            duplicates.append(rid)
            if row[0] == _SENT:  # only when the ledger was trimmed before the row went
                already_sent.append(rid)
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
        self.counters.enqueue_calls += 1
        self.counters.enqueued += len(fresh)
        self.counters.duplicates += len(duplicates)
        if self._free is not None:
            self._free -= size
        return EnqueueResult(
            inserted=tuple(rid for rid, _ in fresh),
            duplicates=tuple(duplicates),
            already_sent=tuple(already_sent),
            content_changed=tuple(changed),
        )

    def _state(self, rid: str) -> str | None:
        row = self.conn.execute("SELECT state FROM reports WHERE id = ?", (rid,)).fetchone()
        return None if row is None else str(row[0])

    def _make_room(self, rows: int, size: int) -> None:
        """Refuse when unsent work would exceed a limit; otherwise make room from sent reports
        (oldest first) when the reports of all states would."""
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
        usage = self._usage()
        if settings.max_bytes is not None and usage.unsent_bytes + size > settings.max_bytes:
            raise SpoolFull(
                f"the spool {self.path} holds {usage.unsent_bytes} of {settings.max_bytes} "
                f"bytes of reports not yet sent; {size} more do not fit",
                limit="bytes",
                used=usage.unsent_bytes,
                maximum=settings.max_bytes,
            )
        if settings.max_reports is not None and usage.unsent_rows + rows > settings.max_reports:
            raise SpoolFull(
                f"the spool {self.path} holds {usage.unsent_rows} of {settings.max_reports} "
                f"reports not yet sent; {rows} more do not fit",
                limit="reports",
                used=usage.unsent_rows,
                maximum=settings.max_reports,
            )
        if settings.max_reports is not None and usage.rows + rows > settings.max_reports:
            self._evict_sent_rows(usage.rows + rows - settings.max_reports)
            usage = self._usage()
        if settings.max_bytes is not None and usage.total_bytes + size > settings.max_bytes:
            self._drop_sent_bodies(usage.total_bytes + size - settings.max_bytes)

    def _evict_sent_rows(self, count: int) -> None:
        """Delete the *count* oldest sent reports (the server and the ledger have them)."""
        self.conn.execute(
            "DELETE FROM reports WHERE seq IN (SELECT seq FROM reports INDEXED BY reports_sent "
            "WHERE state = 'sent' ORDER BY sent_at LIMIT ?)",
            (count,),
        )

    def _drop_sent_bodies(self, size: int) -> None:
        """Drop the bodies of the oldest sent reports until *size* bytes are freed."""
        victims: list[int] = []
        cursor = self.conn.execute(
            "SELECT seq, body_size FROM reports INDEXED BY reports_sent_bodies "
            "WHERE state = 'sent' AND body IS NOT NULL ORDER BY sent_at"
        )
        for seq, body_size in cursor:
            if size <= 0:
                break
            victims.append(seq)
            size -= body_size
        cursor.close()
        self.conn.executemany(
            "UPDATE reports SET body = NULL WHERE seq = ?", ((seq,) for seq in victims)
        )

    # -- upload outcomes ----------------------------------------------------------------------

    def _row(self, rid: str) -> str:
        state = self._state(rid)
        if state is None:
            raise UnknownReport(rid)
        return state

    def mark_sent(self, rid: str, answer: str | None) -> None:
        """pending → sent, and the id into the ledger of acknowledged ids. Marking a sent
        report again changes nothing."""
        state = self._row(rid)
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
        (content_hash,) = self.conn.execute(
            "SELECT CASE WHEN json_valid(source) THEN json_extract(source, '$.content_hash') "
            "END FROM reports WHERE id = ?",
            (rid,),
        ).fetchone()
        acknowledge(self.conn, rid, str(content_hash), now)

    def mark_sent_many(
        self, marks: Sequence[tuple[str, str | None]]
    ) -> list[tuple[str, UnknownReport | InvalidTransition]]:
        """:meth:`mark_sent` for each ``(id, answer)``; the ids it refused, with why."""
        failpoint("spool.mark_sent", failpoint_io_error)
        refused: list[tuple[str, UnknownReport | InvalidTransition]] = []
        for rid, answer in marks:
            try:
                self.mark_sent(rid, answer)
            except (UnknownReport, InvalidTransition) as exc:  # raised before any change
                refused.append((rid, exc))
        return refused

    def mark_retry(self, rid: str, delay: float, error: str) -> None:
        """pending stays pending, due *delay* seconds from now, one attempt more."""
        state = self._row(rid)
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
        state = self._row(rid)
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

    # -- claims (reads, outside transactions) -------------------------------------------------

    def claim(self, limit: int) -> tuple[ClaimedReport, ...]:
        """The oldest due pending reports not claimed yet, at most *limit*, now claimed.

        Oldest means first enqueued (``seq``), so a backlog reaches the server in the order its
        results were made; a report waiting for a retry keeps its place once it is due. Each
        row is checked as it is read (and its body against its CRC, with ``verify_bodies``); a
        damaged row is moved to quarantine instead of being handed out.
        """
        now = self.clock()
        with self.claim_lock:
            skip = len(self.claimed) + len(self.unreadable)
        ids = [rid for (rid,) in self.conn.execute(CLAIM_QUERY, (now, limit + skip))]
        with self.claim_lock:
            chosen = [r for r in ids if r not in self.claimed and r not in self.unreadable]
            chosen = chosen[:limit]
            self.claimed.update(chosen)
        claimed = []
        query = row_query("WHERE id = ?", with_body=True)
        for rid in chosen:
            row = self.conn.execute(query, (rid,)).fetchone()
            if row is None:  # pragma: no cover - only this thread deletes rows
                self.release([rid])
                continue
            *values, kind, length, body = row
            check = body if self.settings.verify_bodies else None
            problem = row_problem(values, (kind, length, check))
            if problem is not None:
                self.release([rid])
                self._quarantine(values, problem)
                continue
            claimed.append(
                ClaimedReport(
                    report_id=rid,
                    body=body,
                    attempts=values[3],
                    created_at=values[6],
                    source=decode_source(values[10]),
                )
            )
        return tuple(claimed)

    def _quarantine(self, values: Sequence[object], problem: str) -> None:
        try:
            row = quarantine_row(self.conn, values, problem, self.clock())
        except sqlite3.Error:
            self.unreadable.add(str(values[1]))  # no room to move it: skip it from now on
            row = QuarantinedRow(report_id=str(values[1]), reason=problem, quarantined_at=0.0)
        else:
            self.counters.quarantined += 1
            self.refresh()
            self.changed = True
        self.on_quarantine(row)

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
        state = self._row(rid)
        if state == _SENT:
            raise InvalidTransition(rid, state, "retry")
        now = self.clock()
        self.conn.execute(
            "UPDATE reports SET state = 'pending', attempts = 0, next_attempt_at = ?, "
            "updated_at = ? WHERE id = ?",
            (now, now, rid),
        )

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
        return len(victims)

    # -- retention ----------------------------------------------------------------------------

    def retention_step(self, limit: int) -> RetentionResult:
        """Delete up to *limit* expired sent rows, drop up to *limit* expired sent bodies, and
        forget up to *limit* acknowledged ids past the ledger's bounds (oldest first)."""
        now = self.clock()
        s = self.settings
        deleted = self.conn.execute(
            "DELETE FROM reports WHERE seq IN (SELECT seq FROM reports INDEXED BY reports_sent "
            "WHERE state = 'sent' AND sent_at < ? LIMIT ?)",
            (now - s.sent_metadata_seconds, limit),
        ).rowcount
        dropped = self.conn.execute(
            "UPDATE reports SET body = NULL WHERE seq IN (SELECT seq FROM reports "
            "INDEXED BY reports_sent_bodies WHERE state = 'sent' AND body IS NOT NULL "
            "AND sent_at < ? LIMIT ?)",
            (now - s.sent_body_seconds, limit),
        ).rowcount
        forgotten = forget_old(
            self.conn, before=now - s.acknowledged_seconds, keep=s.acknowledged_max, limit=limit
        )
        return RetentionResult(
            bodies_dropped=dropped, rows_deleted=deleted, acknowledged_forgotten=forgotten
        )

    def vacuum_step(self, pages: int) -> None:
        """Hand up to *pages* free pages back to the file system."""
        self.conn.execute(f"PRAGMA incremental_vacuum({int(pages)})").fetchall()
