"""Operator operations: retry, purge, listing and showing, and read-only access."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import trio

from pywats_actors.spool import (
    InvalidTransition,
    ReportState,
    SpoolError,
    SpoolSettings,
    UnknownReport,
    open_reader,
    open_spool,
)

from .conftest import WallClock, make_item


class TestRetry:
    async def test_retry_makes_a_rejected_report_due_now(
        self, db: Path, settings: SpoolSettings, wall: WallClock
    ) -> None:
        """An operator's retry turns rejected into pending, due at once, attempts back to 0."""
        async with open_spool(db, settings, clock=wall) as spool:
            await spool.enqueue([make_item(1)])
            (claimed,) = await spool.claim()
            await spool.mark_rejected(claimed.report_id, error="400")
            wall.advance(3600)
            await spool.retry(claimed.report_id)
            stats = spool.statistics()
            (again,) = await spool.claim()
        assert (stats.pending, stats.rejected) == (1, 0)
        assert again.report_id == claimed.report_id
        assert again.attempts == 0

    async def test_retry_makes_a_waiting_pending_report_due_now(
        self, db: Path, settings: SpoolSettings, wall: WallClock
    ) -> None:
        """Retrying a pending report that waits for its backoff makes it due now."""
        async with open_spool(db, settings, clock=wall) as spool:
            await spool.enqueue([make_item(1)])
            (claimed,) = await spool.claim()
            await spool.mark_retry(claimed.report_id, delay=3600, error="503")
            await spool.retry(claimed.report_id)
            assert len(await spool.claim()) == 1

    async def test_a_sent_report_cannot_be_retried(self, db: Path, settings: SpoolSettings) -> None:
        """Retry refuses sent reports and unknown ids."""
        async with open_spool(db, settings) as spool:
            await spool.enqueue([make_item(1)])
            (claimed,) = await spool.claim()
            await spool.mark_sent(claimed.report_id)
            with pytest.raises(InvalidTransition):
                await spool.retry(claimed.report_id)
            with pytest.raises(UnknownReport):
                await spool.retry(make_item(2).report_id)


class TestPurge:
    async def test_purge_by_state_by_age_and_by_id(
        self, db: Path, settings: SpoolSettings, wall: WallClock
    ) -> None:
        """Each filter deletes exactly the matching reports and returns how many."""
        async with open_spool(db, settings, clock=wall) as spool:
            await spool.enqueue([make_item(n) for n in range(6)])
            claimed = await spool.claim(4)
            for c in claimed[:2]:
                await spool.mark_sent(c.report_id)
            wall.advance(100)
            for c in claimed[2:]:
                await spool.mark_rejected(c.report_id, error="400")
            # sent: 0, 1 (changed at t0); rejected: 2, 3 (t0 + 100); pending: 4, 5 (t0)
            assert await spool.purge(state=ReportState.SENT) == 2
            assert await spool.purge(state=ReportState.REJECTED, older_than=50) == 0
            wall.advance(50)
            assert await spool.purge(state=ReportState.REJECTED, older_than=50) == 2
            assert await spool.purge(report_ids=[make_item(4).report_id.upper()]) == 1
            stats = spool.statistics()
        assert (stats.pending, stats.sent, stats.rejected, stats.bytes) == (1, 0, 0, 200)

    async def test_purge_skips_reports_in_flight(self, db: Path, settings: SpoolSettings) -> None:
        """A claimed (uploading) report is not purged."""
        async with open_spool(db, settings) as spool:
            await spool.enqueue([make_item(1), make_item(2)])
            (claimed,) = await spool.claim()
            assert await spool.purge(state=ReportState.PENDING) == 1
            assert (await spool.show(claimed.report_id)).summary.state is ReportState.PENDING

    async def test_purge_without_a_filter_is_refused(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """Purging everything by accident is impossible."""
        async with open_spool(db, settings) as spool:
            with pytest.raises(ValueError, match="needs"):
                await spool.purge()


class TestListing:
    async def test_pages_cover_every_report_once_in_order(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """Following next_cursor walks all reports in insertion order, then stops."""
        async with open_spool(db, settings) as spool:
            for n in range(7):
                await spool.enqueue([make_item(n)])
            seen: list[str] = []
            cursor = None
            pages = 0
            while True:
                page = await spool.list_reports(limit=3, after=cursor)
                seen.extend(r.report_id for r in page.reports)
                pages += 1
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
            newest = await spool.list_reports(limit=2, newest_first=True)
        assert seen == [make_item(n).report_id for n in range(7)]
        assert pages == 3
        assert [r.report_id for r in newest.reports] == [
            make_item(6).report_id,
            make_item(5).report_id,
        ]

    async def test_filters_by_state_and_creation_time(
        self, db: Path, settings: SpoolSettings, wall: WallClock
    ) -> None:
        """state, created_after and created_before narrow the listing."""
        async with open_spool(db, settings, clock=wall) as spool:
            for n in range(4):
                wall.advance(10)
                await spool.enqueue([make_item(n)])
            (claimed,) = await spool.claim()
            await spool.mark_sent(claimed.report_id)
            pending = await spool.list_reports(state=ReportState.PENDING)
            window = await spool.list_reports(created_after=wall.now - 25, created_before=wall.now)
        assert [r.report_id for r in pending.reports] == [make_item(n).report_id for n in (1, 2, 3)]
        assert [r.report_id for r in window.reports] == [make_item(n).report_id for n in (1, 2)]

    async def test_show_returns_the_body_and_refuses_unknown_ids(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """show() gives the exact bytes enqueued; an unknown id raises UnknownReport."""
        async with open_spool(db, settings) as spool:
            await spool.enqueue([make_item(1, size=5000)])
            record = await spool.show(make_item(1).report_id)
            with pytest.raises(UnknownReport):
                await spool.show(make_item(2).report_id)
        assert record.body == make_item(1, size=5000).body
        assert record.summary.body_size == 5000
        assert record.summary.has_body


class TestReader:
    async def test_a_reader_works_while_the_writer_is_inside_a_transaction(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """While the writer thread holds an open write transaction, a reader is not blocked
        and sees only what was committed."""
        entered, gate = threading.Event(), threading.Event()
        async with open_spool(db, settings) as spool:
            await spool.enqueue([make_item(0)])
            store = spool._writer.store  # a white-box hook: stall the writer mid-transaction
            assert store is not None

            def insert_then_stall() -> None:
                store.enqueue([make_item(1)])
                entered.set()
                gate.wait(10)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(lambda: spool._writer.call(insert_then_stall))
                assert await trio.to_thread.run_sync(entered.wait, 10)
                with open_reader(db, busy_timeout=1) as reader:  # a lock would fail after 1 s
                    during = reader.statistics().pending
                    listed = len(reader.list_reports().reports)
                gate.set()
            with open_reader(db) as reader:
                after = reader.statistics().pending
        assert (during, listed, after) == (1, 1, 2)

    async def test_readers_keep_up_with_a_busy_writer(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """A reader polling in a thread during a stream of enqueues never fails and never sees
        the count go backwards."""
        seen: list[int] = []
        async with open_spool(db, settings) as spool:

            async def produce(base: int) -> None:
                for n in range(base, base + 100):
                    await spool.enqueue([make_item(n)])

            def poll(stop: threading.Event) -> None:
                with open_reader(db) as reader:
                    while not stop.is_set():
                        seen.append(reader.statistics().pending)
                        reader.list_reports(limit=20, newest_first=True)

            stop = threading.Event()
            with trio.fail_after(60):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(lambda: trio.to_thread.run_sync(poll, stop))
                    async with trio.open_nursery() as producers:
                        for base in range(0, 400, 100):
                            producers.start_soon(produce, base)
                    stop.set()
        assert seen
        assert seen == sorted(seen)
        with open_reader(db) as reader:
            assert reader.statistics().pending == 400
            assert reader.check() == ["ok"]

    def test_a_missing_spool_is_a_clear_error(self, tmp_path: Path) -> None:
        """Opening a reader where no spool exists names the path."""
        with pytest.raises(SpoolError, match="no spool"):
            open_reader(tmp_path / "absent.db")
