"""The ledger of acknowledged ids: an id the server took is never stored or sent again, even
after its row is gone, within the ledger's bounds."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import pytest
import structlog

from pywats_actors.spool import (
    ReportState,
    SourceInfo,
    Spool,
    SpoolItem,
    SpoolSettings,
    open_spool,
)

from .conftest import DAY, WallClock, make_item


def ledger_size(db: Path) -> int:
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM acknowledged").fetchone()[0])
    finally:
        conn.close()


async def send(spool: Spool, count: int) -> None:
    """Claim and mark sent *count* reports."""
    reports = await spool.claim(count)
    await spool.mark_sent_many([(r.report_id, "ok") for r in reports])


class TestAcknowledgedIds:
    async def test_an_id_whose_row_retention_deleted_is_not_stored_again(
        self, db: Path, wall: WallClock
    ) -> None:
        """Enqueue, mark sent, let retention delete the row, enqueue the same report again:
        nothing is pending, and the outcome says the id was already sent."""
        settings = SpoolSettings(reserve_free_bytes=0)
        item = make_item(1)
        async with open_spool(db, settings, clock=wall) as spool:
            await spool.enqueue([item])
            await send(spool, 1)
            wall.advance(31 * DAY)
            assert (await spool.run_retention()).rows_deleted == 1
            assert spool.statistics().reports == 0
            again = await spool.enqueue([item])
            stats = spool.statistics()
            claimed = await spool.claim(10)
        assert again.inserted == ()
        assert again.duplicates == again.already_sent == (item.report_id,)
        assert again.content_changed == ()
        assert (stats.pending, stats.reports) == (0, 0)
        assert claimed == ()

    async def test_an_id_whose_row_was_evicted_for_room_is_not_stored_again(
        self, db: Path, wall: WallClock
    ) -> None:
        """A sent row deleted to make room under max_reports is still remembered: the same
        report fed again is reported already sent and not uploaded."""
        settings = SpoolSettings(reserve_free_bytes=0, max_reports=2)
        async with open_spool(db, settings, clock=wall) as spool:
            for n in range(5):
                wall.advance(1)
                await spool.enqueue([make_item(n)])
                await send(spool, 1)
            kept = {r.report_id for r in (await spool.list_reports()).reports}
            assert make_item(0).report_id not in kept
            again = await spool.enqueue([make_item(0), make_item(9)])
            claimed = [r.report_id for r in await spool.claim(10)]
        assert again.inserted == (make_item(9).report_id,)
        assert again.already_sent == (make_item(0).report_id,)
        assert claimed == [make_item(9).report_id]

    async def test_an_operator_purge_of_sent_reports_keeps_their_ids_acknowledged(
        self, db: Path, wall: WallClock
    ) -> None:
        """Purging sent rows deletes them, not the knowledge that the server has them; the
        ledger also survives a restart."""
        settings = SpoolSettings(reserve_free_bytes=0)
        async with open_spool(db, settings, clock=wall) as spool:
            await spool.enqueue([make_item(1)])
            await send(spool, 1)
            assert await spool.purge(state=ReportState.SENT) == 1
        async with open_spool(db, settings, clock=wall) as spool:
            again = await spool.enqueue([make_item(1)])
        assert again.already_sent == (make_item(1).report_id,)

    async def test_a_sent_row_still_kept_is_already_sent_too(
        self, db: Path, wall: WallClock
    ) -> None:
        """Enqueueing a report that is sent and still in the spool is a duplicate that the
        outcome also names as already sent; a pending duplicate is not."""
        settings = SpoolSettings(reserve_free_bytes=0)
        async with open_spool(db, settings, clock=wall) as spool:
            await spool.enqueue([make_item(1), make_item(2)])
            (first,) = await spool.claim(1)
            await spool.mark_sent(first.report_id)
            again = await spool.enqueue([make_item(1), make_item(2)])
        assert again.duplicates == (make_item(1).report_id, make_item(2).report_id)
        assert again.already_sent == (make_item(1).report_id,)

    async def test_the_same_id_with_other_content_is_reported_and_not_sent(
        self, db: Path, wall: WallClock
    ) -> None:
        """An acknowledged id that comes again from a source with another content hash is not
        stored, is named in content_changed, and is logged as a warning with the file."""
        settings = SpoolSettings(reserve_free_bytes=0)
        item = make_item(1)
        other = SpoolItem(
            report_id=item.report_id,
            body=b'{"other": true}',
            source=msgspec.structs.replace(
                item.source, path="/station/in/again.xml", content_hash="sha256:" + "f" * 64
            ),
        )
        async with open_spool(db, settings, clock=wall) as spool:
            await spool.enqueue([item])
            await send(spool, 1)
            await spool.purge(state=ReportState.SENT)
            with structlog.testing.capture_logs() as logs:
                again = await spool.enqueue([other])
            claimed = await spool.claim(1)
        assert again.inserted == ()
        assert again.already_sent == again.content_changed == (item.report_id,)
        assert claimed == ()
        warnings = [e for e in logs if e["log_level"] == "warning"]
        assert [(e["report_id"], e["file"]) for e in warnings] == [
            (item.report_id, "/station/in/again.xml")
        ]

    async def test_a_rejected_or_pending_report_is_not_acknowledged(
        self, db: Path, wall: WallClock
    ) -> None:
        """Only a mark sent enters the ledger: a rejected report purged by an operator may be
        enqueued again and uploaded."""
        settings = SpoolSettings(reserve_free_bytes=0)
        async with open_spool(db, settings, clock=wall) as spool:
            await spool.enqueue([make_item(1)])
            (report,) = await spool.claim(1)
            await spool.mark_rejected(report.report_id, error="400")
            await spool.purge(state=ReportState.REJECTED)
            again = await spool.enqueue([make_item(1)])
        assert again.inserted == (make_item(1).report_id,)
        assert again.already_sent == ()
        assert ledger_size(db) == 0


class TestLedgerBounds:
    async def test_ids_older_than_acknowledged_days_are_forgotten(
        self, db: Path, wall: WallClock
    ) -> None:
        """Retention forgets acknowledged ids after acknowledged_days; such an id counts as
        new again (the server's idempotency is then the only guard)."""
        settings = SpoolSettings(
            reserve_free_bytes=0, sent_body_days=1, sent_metadata_days=2, acknowledged_days=10
        )
        async with open_spool(db, settings, clock=wall) as spool:
            await spool.enqueue([make_item(1)])
            await send(spool, 1)
            wall.advance(5 * DAY)
            await spool.enqueue([make_item(2)])
            await send(spool, 1)
            wall.advance(6 * DAY)  # the first is 11 days old, the second 6
            result = await spool.run_retention()
            again = await spool.enqueue([make_item(1), make_item(2)])
        assert result.acknowledged_forgotten == 1
        assert again.inserted == (make_item(1).report_id,)
        assert again.already_sent == (make_item(2).report_id,)

    async def test_at_most_acknowledged_max_ids_are_kept_oldest_forgotten_first(
        self, db: Path, wall: WallClock
    ) -> None:
        """Beyond acknowledged_max ids the oldest acknowledgements are forgotten first."""
        settings = SpoolSettings(reserve_free_bytes=0, acknowledged_max=3)
        async with open_spool(db, settings, clock=wall) as spool:
            for n in range(5):
                wall.advance(1)
                await spool.enqueue([make_item(n)])
                await send(spool, 1)
            assert (await spool.run_retention()).acknowledged_forgotten == 2
            await spool.purge(state=ReportState.SENT)
            again = await spool.enqueue([make_item(n) for n in range(5)])
        assert again.inserted == (make_item(0).report_id, make_item(1).report_id)
        assert again.already_sent == tuple(make_item(n).report_id for n in (2, 3, 4))
        assert ledger_size(db) == 3

    async def test_the_retention_pass_works_in_chunks_over_a_long_ledger(
        self, db: Path, wall: WallClock
    ) -> None:
        """Forgetting more ids than one chunk takes several transactions and forgets all."""
        settings = SpoolSettings(reserve_free_bytes=0, acknowledged_days=1, max_bytes=None)
        items = [
            SpoolItem(
                report_id=make_item(n).report_id,
                body=b"{}",
                source=SourceInfo(path="p", content_hash="h", converter="c", converter_version="1"),
            )
            for n in range(1200)
        ]
        async with open_spool(db, settings, clock=wall) as spool:
            await spool.enqueue(items)
            while spool.statistics().pending:
                await send(spool, 400)
            wall.advance(40 * DAY)
            before = spool.statistics().transactions
            result = await spool.run_retention()
            chunks = spool.statistics().transactions - before
        assert result.acknowledged_forgotten == 1200
        assert result.rows_deleted == 1200
        assert chunks >= 3
        assert ledger_size(db) == 0


@pytest.mark.parametrize("bad", [0, -1])
def test_the_ledger_bounds_are_validated(bad: int) -> None:
    """acknowledged_days and acknowledged_max must be positive."""
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"acknowledged_max": bad}, SpoolSettings)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"acknowledged_days": bad}, SpoolSettings)
