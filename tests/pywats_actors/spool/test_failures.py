"""A spool whose disk fills up or whose file is damaged while it runs: every call is answered,
with a typed error, and nothing hangs."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio

from pywats_actors._failpoints import configure_failpoints
from pywats_actors.spool import (
    PauseReason,
    ReportState,
    SpoolClosed,
    SpoolCorrupt,
    SpoolDiskFull,
    SpoolError,
    SpoolIOError,
    SpoolSettings,
    open_spool,
)

from ..._disk import fill_disk, small_tmpfs
from .conftest import WallClock, make_item

KiB = 1024


def truncate_wal(conn: sqlite3.Connection) -> None:
    """Checkpoint the whole WAL into the file and empty it, retrying while the spool's own
    checkpoint thread holds the checkpoint lock (SQLite then answers busy, not an error)."""
    for _ in range(500):
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy == 0:
            return
        time.sleep(0.01)
    raise AssertionError("the WAL could not be checkpointed")


def damage_reports_table(db: Path) -> None:
    """Overwrite the root page of the ``reports`` table with garbage behind the running writer's
    back, then commit a trivial change from another connection so that the writer drops its
    page cache and reads the damaged page from the file."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        truncate_wal(conn)
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
                    except BaseException as exc:  # recorded and checked below
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


class TestDamagedAtRest:
    async def test_damage_that_opening_does_not_touch_is_found_by_the_background_check(
        self, db: Path, wall: WallClock
    ) -> None:
        """A spool whose index was damaged while it was closed opens (opening reads no rows),
        and the quick_check that runs in the background then stops it with SpoolCorrupt."""
        settings = SpoolSettings(reserve_free_bytes=0)
        async with open_spool(db, settings, clock=wall) as spool:
            await spool.enqueue([make_item(n, size=2 * KiB) for n in range(300)])
        conn = sqlite3.connect(db, isolation_level=None)
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        (root,) = conn.execute(
            "SELECT rootpage FROM sqlite_schema WHERE name = 'reports_state'"
        ).fetchone()
        conn.close()
        with db.open("r+b") as f:
            f.seek((root - 1) * page_size)
            f.write(b"\x5a" * page_size)
        with pytest.RaisesGroup(SpoolCorrupt), trio.fail_after(20):  # type: ignore[attr-defined]
            async with open_spool(db, settings, clock=wall) as spool:
                assert spool.startup.schema_version == 2
                await trio.sleep_forever()


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs mounted for the test (root only), unmounted afterwards."""
    with small_tmpfs(tmp_path / "tiny", 4) as mount:
        yield mount


class TestDiskFullUnderUploads:
    async def test_every_mark_fails_with_a_typed_retryable_error_and_works_once_room_is_back(
        self, tiny_disk: Path, wall: WallClock
    ) -> None:
        """On a really full file system mark_sent_many, mark_sent, mark_retry and
        mark_rejected each raise SpoolDiskFull, record nothing and release their claims;
        release answers as always; once space is free the same marks succeed."""
        db = tiny_disk / "spool.db"
        settings = SpoolSettings(
            reserve_free_bytes=0, resume_free_bytes=0, disk_probe_interval=0.05, max_bytes=None
        )
        items = [make_item(n, size=2 * KiB) for n in range(5)]
        async with open_spool(db, settings, clock=wall) as spool:
            await spool.enqueue(items)
            claimed = [r.report_id for r in await spool.claim(5)]
            conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
            await trio.to_thread.run_sync(truncate_wal, conn)  # the next commit must grow it
            conn.close()
            filler = await trio.to_thread.run_sync(fill_disk, tiny_disk)
            with trio.fail_after(20):
                with pytest.raises(SpoolDiskFull):
                    await spool.mark_sent_many([(rid, "ok") for rid in claimed[:2]])
                with pytest.raises(SpoolDiskFull):
                    await spool.mark_sent(claimed[2], answer="ok")
                with pytest.raises(SpoolDiskFull):
                    await spool.mark_retry(claimed[3], delay=5, error="503")
                with pytest.raises(SpoolDiskFull):
                    await spool.mark_rejected(claimed[4], error="400")
            spool.release(*claimed)
            stats = spool.statistics()
            assert (stats.pending, stats.sent, stats.rejected, stats.claimed) == (5, 0, 0, 0)
            assert spool.intake_paused is PauseReason.DISK_FULL

            filler.unlink()
            again = [r.report_id for r in await spool.claim(5)]
            assert sorted(again) == sorted(claimed)  # every report is still there to upload
            assert await spool.mark_sent_many([(rid, "ok") for rid in again[:3]]) == []
            await spool.mark_retry(again[3], delay=5, error="503")
            await spool.mark_rejected(again[4], error="400")
            with trio.fail_after(10):
                await spool.wait_intake_open()
            states = [(await spool.show(rid)).summary.state for rid in again]
        assert states == [ReportState.SENT] * 3 + [ReportState.PENDING, ReportState.REJECTED]


@pytest.fixture
def failpoints() -> Iterator[Callable[[str | None], None]]:
    """Set failpoint rules for one test; all off afterwards."""
    yield configure_failpoints
    configure_failpoints(None)


class TestFailingDisk:
    async def test_a_failing_commit_is_a_typed_io_error_for_every_mark(
        self, db: Path, wall: WallClock, failpoints: Callable[[str | None], None]
    ) -> None:
        """When the commit fails as a failing disk does (the spool.commit failpoint), every
        mark and an enqueue raise SpoolIOError, record nothing and release their claims; the
        spool goes on once the disk behaves."""
        settings = SpoolSettings(reserve_free_bytes=0)
        async with open_spool(db, settings, clock=wall) as spool:
            await spool.enqueue([make_item(n) for n in range(4)])
            claimed = [r.report_id for r in await spool.claim(4)]
            failpoints("spool.commit=error")
            with pytest.raises(SpoolIOError):
                await spool.mark_sent_many([(claimed[0], "ok")])
            with pytest.raises(SpoolIOError):
                await spool.mark_sent(claimed[1])
            with pytest.raises(SpoolIOError):
                await spool.mark_retry(claimed[2], delay=1, error="503")
            with pytest.raises(SpoolIOError):
                await spool.mark_rejected(claimed[3], error="400")
            with pytest.raises(SpoolIOError):
                await spool.enqueue([make_item(9)])
            stats = spool.statistics()
            assert (stats.pending, stats.claimed) == (4, 0)
            failpoints(None)
            await spool.mark_sent_many([(r.report_id, "ok") for r in await spool.claim(4)])
            assert spool.statistics().sent == 4

    async def test_a_failing_mark_sent_many_is_a_typed_io_error(
        self, db: Path, wall: WallClock, failpoints: Callable[[str | None], None]
    ) -> None:
        """The spool.mark_sent failpoint fails mark_sent_many with SpoolIOError, nothing
        marked; the next call succeeds."""
        settings = SpoolSettings(reserve_free_bytes=0)
        async with open_spool(db, settings, clock=wall) as spool:
            await spool.enqueue([make_item(n) for n in range(3)])
            claimed = [r.report_id for r in await spool.claim(3)]
            failpoints("spool.mark_sent=error@1")
            with pytest.raises(SpoolIOError):
                await spool.mark_sent_many([(rid, None) for rid in claimed])
            assert spool.statistics().sent == 0
            assert await spool.mark_sent_many([(rid, None) for rid in claimed]) == []
            assert spool.statistics().sent == 3
