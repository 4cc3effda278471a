"""Retention of sent reports: bodies first, then rows, at start and on trio's clock."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from pywats_actors.spool import (
    ReportState,
    RetentionResult,
    SpoolSettings,
    open_reader,
    open_spool,
)

from .conftest import DAY, WallClock, make_item


@pytest.fixture
def trio_clock() -> trio.testing.MockClock:
    """A trio clock that runs at real speed and that the test can jump forward."""
    return trio.testing.MockClock(rate=1.0)


async def sent_reports(spool_path: Path, settings: SpoolSettings, wall: WallClock, n: int) -> None:
    async with open_spool(spool_path, settings, clock=wall) as spool:
        await spool.enqueue([make_item(i) for i in range(n)])
        for report in await spool.claim(n):
            await spool.mark_sent(report.report_id)


class TestRetention:
    async def test_bodies_go_after_seven_days_and_rows_after_thirty(
        self, db: Path, settings: SpoolSettings, wall: WallClock
    ) -> None:
        """With the defaults, a sent report keeps its body for 7 days and its row for 30;
        pending and rejected reports are never touched."""
        async with open_spool(db, settings, clock=wall) as spool:
            await spool.enqueue([make_item(n) for n in range(3)])
            sent, rejected, _ = await spool.claim(3)
            await spool.mark_sent(sent.report_id)
            await spool.mark_rejected(rejected.report_id, error="400")

            wall.advance(7 * DAY - 1)
            assert await spool.run_retention() == RetentionResult()
            wall.advance(2)
            result = await spool.run_retention()
            assert (result.bodies_dropped, result.rows_deleted) == (1, 0)
            record = await spool.show(sent.report_id)
            assert record.body is None
            assert not record.summary.has_body
            assert record.summary.body_size == 200
            assert spool.statistics().bytes == 400

            wall.advance(23 * DAY)
            result = await spool.run_retention()
            assert (result.bodies_dropped, result.rows_deleted) == (0, 1)
            stats = spool.statistics()
        assert (stats.pending, stats.sent, stats.rejected) == (1, 0, 1)

    async def test_retention_runs_at_start(
        self, db: Path, settings: SpoolSettings, wall: WallClock
    ) -> None:
        """A node that was off for a month cleans up before it takes new work."""
        await sent_reports(db, settings, wall, 3)
        wall.advance(31 * DAY)
        async with open_spool(db, settings, clock=wall) as spool:
            assert spool.startup.retention == RetentionResult(rows_deleted=3)
            assert spool.statistics().sent == 0

    async def test_retention_ages_are_configurable(self, db: Path, wall: WallClock) -> None:
        """sent_body_days and sent_metadata_days set the two ages."""
        settings = SpoolSettings(reserve_free_bytes=0, sent_body_days=1, sent_metadata_days=2)
        await sent_reports(db, settings, wall, 2)
        wall.advance(1.5 * DAY)
        async with open_spool(db, settings, clock=wall) as spool:
            assert spool.startup.retention == RetentionResult(bodies_dropped=2)
            wall.advance(DAY)
            assert (await spool.run_retention()).rows_deleted == 2

    def test_body_age_above_row_age_is_refused(self) -> None:
        """Keeping bodies longer than their rows is a configuration error."""
        with pytest.raises(ValueError, match="sent_body_days"):
            SpoolSettings(sent_body_days=40, sent_metadata_days=30)

    async def test_retention_runs_periodically_on_trios_clock(
        self, db: Path, wall: WallClock, trio_clock: trio.testing.MockClock
    ) -> None:
        """Every retention_interval seconds of trio's clock the spool runs retention by itself,
        judging ages by the wall clock."""
        settings = SpoolSettings(reserve_free_bytes=0, retention_interval=3600)
        await sent_reports(db, settings, wall, 2)
        async with open_spool(db, settings, clock=wall) as spool:
            wall.advance(8 * DAY)
            await trio.sleep(0.05)
            assert spool.statistics().sent == 2
            assert spool.statistics().bytes == 400  # nothing happens before the interval
            trio_clock.jump(3600)
            with trio.fail_after(10):
                while spool.statistics().bytes:
                    await trio.sleep(0.01)
        with open_reader(db) as reader:
            page = reader.list_reports(state=ReportState.SENT)
        assert [r.has_body for r in page.reports] == [False, False]
