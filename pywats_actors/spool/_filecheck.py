"""The file's ``quick_check``, run in the background while the spool already works.

Opening the spool reads no rows, so a damaged page is found either by the call that meets it or
by this check, which reads every page once on a read-only connection of its own. A cancelled
check is interrupted (SQLite stops within a page or two) and closes its connection before the
writer closes the last one, so the WAL is still checkpointed and removed on close.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import trio

from ._schema import connect_reader

__all__ = ["FileCheck"]


class FileCheck:
    """One background ``PRAGMA quick_check`` of the spool file at *path*."""

    def __init__(self, path: Path, *, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._phase = "new"  # -> "running" (the thread has the connection) or "cancelled"
        self._closed = threading.Event()

    async def run(self) -> list[str]:
        """Check the file; ``["ok"]`` when it is sound, else what SQLite found.

        Cancellation: the check is interrupted; :meth:`wait_closed` returns once its
        connection is closed.
        """
        try:
            return await trio.to_thread.run_sync(self._check, abandon_on_cancel=True)
        except trio.Cancelled:
            with self._lock:
                if self._phase == "new":  # the thread never started: nothing is open
                    self._phase = "cancelled"
                    self._closed.set()
                elif self._conn is not None:
                    self._conn.interrupt()
            raise

    def _check(self) -> list[str]:
        with self._lock:
            if self._phase == "cancelled":
                return []
            self._phase = "running"
        try:
            conn = connect_reader(self.path, busy_timeout=self.busy_timeout)
            with self._lock:
                self._conn = conn
            try:
                return [str(row[0]) for row in conn.execute("PRAGMA quick_check(20)")]
            finally:
                with self._lock:
                    self._conn = None
                conn.close()
        except sqlite3.Error as exc:
            if exc.sqlite_errorname == "SQLITE_INTERRUPT":
                return []
            return [str(exc)]
        finally:
            self._closed.set()

    def wait_closed(self, timeout: float) -> bool:
        """Block until the check's connection is closed (or was never opened); ``False`` if
        *timeout* seconds passed first. Call it from a worker thread."""
        return self._closed.wait(timeout)
