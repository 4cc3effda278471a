"""Row counts and bytes per state, kept incrementally by the writer and published after every
commit; recounted from the file after bulk deletes and at start."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field, replace

from ._settings import SpoolSettings
from ._types import PauseReason, ReportState, SpoolStatistics

__all__ = ["Counters", "count_usage", "make_statistics"]

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

    def move(self, old: str, new: str, size: int) -> None:
        self.count[old] -= 1
        self.count[new] += 1
        self.bytes[old] -= size
        self.bytes[new] += size


def count_usage(conn: sqlite3.Connection, counters: Counters) -> None:
    """Fill *counters*' per-state counts, bytes, quarantine size and oldest pending from the
    database (a full pass over the rows' headers, not their bodies)."""
    for state in counters.count:
        counters.count[state] = 0
        counters.bytes[state] = 0
    query = (
        "SELECT state, count(*), total(CASE WHEN body IS NOT NULL THEN body_size ELSE 0 END) "
        "FROM reports GROUP BY state"
    )
    for state, count, size in conn.execute(query):
        counters.count[state] = int(count)
        counters.bytes[state] = int(size)
    counters.quarantined = int(conn.execute("SELECT count(*) FROM quarantine").fetchone()[0])
    row = conn.execute(
        "SELECT created_at FROM reports INDEXED BY reports_pending WHERE state = 'pending' "
        "ORDER BY seq LIMIT 1"
    ).fetchone()
    counters.oldest_pending_created = None if row is None else float(row[0])


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
