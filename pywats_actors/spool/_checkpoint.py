"""Checkpoints of the spool's WAL on a thread of their own.

SQLite's default is an automatic checkpoint by the writer connection: the commit that takes the
WAL past 1,000 pages copies them into the database file and fsyncs it before it returns. On the
spool that commit stalls every caller queued behind it (a file's enqueue, an upload's claim) for
a few hundred milliseconds, and it showed as the p99 of the node's file-to-server latency.

Here the writer's automatic checkpoint is pushed out to :data:`WRITER_CHECKPOINT_PAGES`, and after
each committed batch it nudges a :class:`Checkpointer`. That thread, with its own connection,
waits a moment for more commits and runs a ``PASSIVE`` checkpoint, which never waits for the
writer and never blocks it: SQLite copies what it can while the writer keeps appending, and once
everything is copied (the writer paused long enough) the next write transaction starts the WAL
from its beginning again. Under a flood of writes that never pauses, the WAL grows until the
writer's own checkpoint at :data:`WRITER_CHECKPOINT_PAGES` (32 MiB) brings it back, as SQLite's
default would at 1,000 pages. Durability is unchanged: a commit is durable
when its WAL frames are fsynced (``synchronous=FULL``); the checkpoint's fsync of the database
file is SQLite's own, done here instead of in a caller's commit.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

__all__ = ["WRITER_CHECKPOINT_PAGES", "Checkpointer"]

WRITER_CHECKPOINT_PAGES = 8192
"""The writer's own automatic checkpoint: only when the WAL reaches this many pages."""

logger = logging.getLogger("pywats_actors.spool")

_GATHER = 0.05  # seconds to let more commits land before a checkpoint


class Checkpointer:
    """A thread that checkpoints the WAL of *path* after commits (see the module docstring)."""

    def __init__(self, path: Path, *, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._main, name=f"spool-checkpoint:{path.name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def nudge(self) -> None:
        """Something was committed (any thread; cheap)."""
        self._wake.set()

    def stop(self) -> None:
        """Finish a checkpoint under way, close the connection and end the thread (the writer's
        connection, closing last, checkpoints what is left)."""
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def _main(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=self.busy_timeout)
        except sqlite3.Error as exc:
            logger.warning("spool checkpoints disabled: %s", exc)
            return
        try:
            conn.execute("PRAGMA synchronous = FULL")
            while True:
                self._wake.wait()
                if self._stop.is_set():
                    break
                time.sleep(_GATHER)  # a thread of its own: sleeping blocks nothing else
                self._wake.clear()
                if self._stop.is_set():  # set before its wake-up, which clear() may have eaten
                    break
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # a full disk, say: the next nudge tries again
                    logger.warning("spool checkpoint failed: %s", exc)
        finally:
            conn.close()
