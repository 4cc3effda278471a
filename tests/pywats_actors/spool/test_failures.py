"""A spool whose disk fills up or whose file is damaged while it runs: every call is answered,
with a typed error, and nothing hangs."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from pywats_actors.spool import (
    SpoolClosed,
    SpoolCorrupt,
    SpoolDiskFull,
    SpoolError,
    SpoolSettings,
    open_spool,
)

from .conftest import WallClock, make_item

KiB = 1024


def damage_reports_table(db: Path) -> None:
    """Overwrite the root page of the ``reports`` table with garbage behind the running writer's
    back, then commit a trivial change from another connection so that the writer drops its
    page cache and reads the damaged page from the file."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        (root,) = conn.execute(
            "SELECT rootpage FROM sqlite_schema WHERE type = 'table' AND name = 'reports'"
        ).fetchone()
        with db.open("r+b") as f:
            f.seek((root - 1) * page_size)
            f.write(b"\xa5" * page_size)
            f.flush()
            os.fsync(f.fileno())
        conn.execute("PRAGMA user_version = 7")  # a commit: the writer's cache is now stale
    finally:
        conn.close()


class TestCorruptWhileRunning:
    async def test_every_pending_and_later_call_fails_promptly_with_a_spool_error(
        self, db: Path, wall: WallClock
    ) -> None:
        """When the file is damaged under a running spool, a write, a claim and a mark sent
        together are each answered with a SpoolError, later calls fail at once with
        SpoolClosed, and the spool's block ends with SpoolCorrupt."""
        settings = SpoolSettings(reserve_free_bytes=0)
        outcomes: dict[str, BaseException | None] = {}
        with pytest.RaisesGroup(SpoolCorrupt), trio.fail_after(20):  # type: ignore[attr-defined]
            async with open_spool(db, settings, clock=wall) as spool:
                await spool.enqueue([make_item(n, size=2 * KiB) for n in range(300)])
                (claimed,) = await spool.claim(1)
                await trio.to_thread.run_sync(damage_reports_table, db)

                async def call(name: str, fn: object) -> None:
                    try:
                        await fn()  # type: ignore[operator]
                    except BaseException as exc:  # noqa: BLE001 - recorded and checked below
                        outcomes[name] = exc
                    else:
                        outcomes[name] = None

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(call, "enqueue", lambda: spool.enqueue([make_item(999)]))
                    nursery.start_soon(call, "claim", lambda: spool.claim(5))
                    nursery.start_soon(
                        call, "mark_sent", lambda: spool.mark_sent(claimed.report_id)
                    )
                with pytest.raises(SpoolClosed):
                    await spool.claim(1)
                await trio.sleep_forever()  # the writer's death ends the block
        assert set(outcomes) == {"enqueue", "claim", "mark_sent"}
        for name, error in outcomes.items():
            assert isinstance(error, SpoolError), (name, error)
        assert any(isinstance(e, SpoolCorrupt) for e in outcomes.values())
