"""Row counts and bytes per state, read from the ``spool_usage`` table (kept by triggers in the
same transaction as every change) and published after every commit."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field, replace

from ._settings import SpoolSettings
from ._types import PauseReason, ReportState, SpoolStatistics

__all__ = ["Counters", "count_usage", "make_statistics", "oldest_pending", "read_usage"]

_STATES = tuple(state.value for state in ReportState)
_PENDING, _SENT, _REJECTED = _STATES


@dataclass(slots=True)
class Counters:
    """Row counts and stored body bytes per state, and activity since the spool opened."""

    count: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_STATES, 0))
    bytes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_STATES, 0))
    quarantined: int = 0
    oldest_pending_created: float | None = None
    transactions: int = 0
    enqueue_calls: int = 0
    enqueued: int = 0
    duplicates: int = 0

    def copy(self) -> Counters:
        return replace(self, count=dict(self.count), bytes=dict(self.bytes))

    @property
    def rows(self) -> int:
        return sum(self.count.values())

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes.values())

    @property
    def unsent_rows(self) -> int:
        """Pending and rejected reports: what the limits bound."""
        return self.count[_PENDING] + self.count[_REJECTED]

    @property
    def unsent_bytes(self) -> int:
        """Body bytes of pending and rejected reports."""
        return self.bytes[_PENDING] + self.bytes[_REJECTED]


_HAS_USAGE = "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'spool_usage'"


def read_usage(conn: sqlite3.Connection, counters: Counters) -> None:
    """Fill *counters*' per-state counts and bytes: three rows of ``spool_usage``, or a count of
    the whole table in a file older than schema version 2 (a reader may open one)."""
    for state in counters.count:
        counters.count[state] = 0
        counters.bytes[state] = 0
    if conn.execute(_HAS_USAGE).fetchone() is not None:
        query = "SELECT state, rows, bytes FROM spool_usage"
    else:
        query = (
            "SELECT state, count(*), total(CASE WHEN body IS NOT NULL THEN body_size ELSE 0 END) "
            "FROM reports GROUP BY state"
        )
    for state, count, size in conn.execute(query):
        counters.count[state] = int(count)
        counters.bytes[state] = int(size)


def oldest_pending(conn: sqlite3.Connection) -> float | None:
    """When the oldest pending report was enqueued (one step along an index)."""
    row = conn.execute(
        "SELECT created_at FROM reports INDEXED BY reports_pending WHERE state = 'pending' "
        "ORDER BY seq LIMIT 1"
    ).fetchone()
    return None if row is None else float(row[0])


def count_usage(conn: sqlite3.Connection, counters: Counters) -> None:
    """Fill *counters*' per-state counts and bytes, quarantine size and oldest pending."""
    read_usage(conn, counters)
    counters.quarantined = int(conn.execute("SELECT count(*) FROM quarantine").fetchone()[0])
    counters.oldest_pending_created = oldest_pending(conn)


def make_statistics(
    counters: Counters,
    *,
    now: float,
    claimed: int = 0,
    intake_paused: PauseReason | None = None,
    settings: SpoolSettings | None = None,
) -> SpoolStatistics:
    """A public snapshot from *counters* (``now`` is the wall clock, for the oldest age)."""
    oldest = counters.oldest_pending_created
    return SpoolStatistics(
        pending=counters.count[_PENDING],
        sent=counters.count[_SENT],
        rejected=counters.count[_REJECTED],
        claimed=claimed,
        quarantined=counters.quarantined,
        bytes=counters.total_bytes,
        pending_bytes=counters.bytes[_PENDING],
        oldest_pending_age=None if oldest is None else max(0.0, now - oldest),
        intake_paused=intake_paused,
        transactions=counters.transactions,
        enqueue_calls=counters.enqueue_calls,
        enqueued=counters.enqueued,
        duplicates=counters.duplicates,
        max_bytes=None if settings is None else settings.max_bytes,
        max_reports=None if settings is None else settings.max_reports,
    )
