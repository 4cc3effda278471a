"""Where the emulator keeps the reports it accepted: in memory, or in one SQLite file.

Both stores behave as the WATS server does with report ids: a report whose id is already stored
replaces the stored one (an upsert) and is counted as a duplicate. Ids are GUIDs compared
case-insensitively, so they are kept in canonical lower-case form.

The SQLite store runs its (small, local) statements on the event loop thread: an emulator
serves tests and demos, and a thread hop per request would cost more CPU than the insert.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Protocol

__all__ = ["MemoryStore", "ReportStore", "SqliteStore", "StoredReport"]


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

    def close(self) -> None:
        """Release the store's resources."""
        ...


class MemoryStore:
    """Reports in a dict: fast, and gone when the emulator stops."""

    def __init__(self) -> None:
        self._reports: dict[str, StoredReport] = {}

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

    def close(self) -> None:
        self._reports.clear()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    number INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    body BLOB NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 1
)
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
        self._db.execute(_SCHEMA)

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

    def close(self) -> None:
        self._db.close()
