"""Where the emulator keeps the reports it accepted: in memory, or in one SQLite file.

Both stores behave as the WATS server does with report ids: a report whose id is already stored
replaces the stored one (an upsert) and is counted as a duplicate. Ids are GUIDs compared
case-insensitively, so they are kept in canonical lower-case form.

Because the upsert hides what it replaced, each store also keeps a delivery record: one
:class:`Delivery` per accepted submission, numbered from 1, with the SHA-256 and size of the
body that arrived. That is what shows "one id with two bodies" and counts resends.

The SQLite store runs its (small, local) statements on the event loop thread: an emulator
serves tests and demos, and a thread hop per request would cost more CPU than the insert.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path
from typing import Protocol

import msgspec

__all__ = ["Delivery", "MemoryStore", "ReportStore", "SqliteStore", "StoredReport"]


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """One accepted submission, as the server saw it (every one, not one per id).

    Attributes:
        seq: its number in the record, from 1, in order of arrival (a SQLite store goes on
            counting across restarts).
        report_id: the report's id, canonical lower case.
        sha256: the SHA-256 of the body as it arrived, 64 lowercase hex digits.
        size: the body's size in bytes.
        at: when it was stored (wall clock, epoch seconds).
        status: the HTTP status the sender was answered with: 200, or 0 when a
            ``reset_after_store`` fault reset the connection instead (stored, never answered).
    """

    seq: int
    report_id: str
    sha256: str
    size: int
    at: float
    status: int


class StoredReport:
    """One stored report: its server-side number, its WSJF bytes and how often it arrived."""

    __slots__ = ("body", "number", "receive_count")

    def __init__(self, number: int, body: bytes, receive_count: int) -> None:
        self.number = number
        self.body = body
        self.receive_count = receive_count


class ReportStore(Protocol):
    """What the emulator needs from a report store."""

    def put(self, report_id: str, body: bytes) -> StoredReport:
        """Store *body* under *report_id*, replacing what was there; returns the stored record."""
        ...

    def get(self, report_id: str) -> StoredReport | None:
        """The report stored under *report_id*, or ``None``."""
        ...

    def ids(self) -> list[str]:
        """Every stored id, in the order of first arrival."""
        ...

    def count(self) -> int:
        """How many reports are stored (distinct ids)."""
        ...

    def record(self, report_id: str, body: bytes, status: int) -> Delivery:
        """Add the delivery of *body* under *report_id*, answered with *status*, to the record."""
        ...

    def deliveries(self, after: int, limit: int) -> list[Delivery]:
        """Up to *limit* deliveries whose ``seq`` is greater than *after*, in order."""
        ...

    def delivery_count(self) -> int:
        """How many deliveries the record holds."""
        ...

    def close(self) -> None:
        """Release the store's resources."""
        ...


class MemoryStore:
    """Reports in a dict: fast, and gone when the emulator stops."""

    def __init__(self) -> None:
        self._reports: dict[str, StoredReport] = {}
        self._deliveries: list[Delivery] = []

    def put(self, report_id: str, body: bytes) -> StoredReport:
        stored = self._reports.get(report_id)
        if stored is None:
            stored = StoredReport(len(self._reports) + 1, body, 1)
            self._reports[report_id] = stored
        else:
            stored.body = body
            stored.receive_count += 1
        return stored

    def get(self, report_id: str) -> StoredReport | None:
        return self._reports.get(report_id)

    def ids(self) -> list[str]:
        return list(self._reports)

    def count(self) -> int:
        return len(self._reports)

    def record(self, report_id: str, body: bytes, status: int) -> Delivery:
        delivery = _delivery(len(self._deliveries) + 1, report_id, body, status)
        self._deliveries.append(delivery)
        return delivery

    def deliveries(self, after: int, limit: int) -> list[Delivery]:
        start = max(after, 0)  # seq n sits at index n - 1
        return self._deliveries[start : start + limit]

    def delivery_count(self) -> int:
        return len(self._deliveries)

    def close(self) -> None:
        self._reports.clear()
        self._deliveries.clear()


def _delivery(seq: int, report_id: str, body: bytes, status: int) -> Delivery:
    return Delivery(
        seq=seq,
        report_id=report_id,
        sha256=hashlib.sha256(body).hexdigest(),
        size=len(body),
        at=time.time(),
        status=status,
    )


_SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    number INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    body BLOB NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    at REAL NOT NULL,
    status INTEGER NOT NULL
);
"""
_UPSERT = """
INSERT INTO reports (id, body) VALUES (?, ?)
ON CONFLICT (id) DO UPDATE SET body = excluded.body, receive_count = receive_count + 1
RETURNING number, receive_count
"""


class SqliteStore:
    """Reports in a SQLite file (WAL), so that they survive a restart of the emulator.

    Args:
        path: the database file; created, with its table, when missing.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def put(self, report_id: str, body: bytes) -> StoredReport:
        number, receive_count = self._db.execute(_UPSERT, (report_id, body)).fetchone()
        return StoredReport(number, body, receive_count)

    def get(self, report_id: str) -> StoredReport | None:
        row = self._db.execute(
            "SELECT number, body, receive_count FROM reports WHERE id = ?", (report_id,)
        ).fetchone()
        return None if row is None else StoredReport(row[0], row[1], row[2])

    def ids(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT id FROM reports ORDER BY number")]

    def count(self) -> int:
        (number,) = self._db.execute("SELECT count(*) FROM reports").fetchone()
        return int(number)

    def record(self, report_id: str, body: bytes, status: int) -> Delivery:
        draft = _delivery(0, report_id, body, status)
        (seq,) = self._db.execute(
            "INSERT INTO deliveries (id, sha256, size, at, status) VALUES (?, ?, ?, ?, ?) "
            "RETURNING seq",
            (report_id, draft.sha256, draft.size, draft.at, status),
        ).fetchone()
        return msgspec.structs.replace(draft, seq=seq)

    def deliveries(self, after: int, limit: int) -> list[Delivery]:
        rows = self._db.execute(
            "SELECT seq, id, sha256, size, at, status FROM deliveries WHERE seq > ? "
            "ORDER BY seq LIMIT ?",
            (after, limit),
        )
        return [
            Delivery(seq=seq, report_id=rid, sha256=sha, size=size, at=at, status=status)
            for seq, rid, sha, size, at, status in rows
        ]

    def delivery_count(self) -> int:
        (number,) = self._db.execute("SELECT count(*) FROM deliveries").fetchone()
        return int(number)

    def close(self) -> None:
        self._db.close()
