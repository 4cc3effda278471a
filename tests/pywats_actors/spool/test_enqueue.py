"""Enqueue: durable, idempotent by report id, and group-committed under concurrency."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import trio

from pywats_actors.spool import (
    ReportState,
    ReportTooLarge,
    SpoolClosed,
    SpoolSettings,
    open_reader,
    open_spool,
)

from .conftest import WallClock, make_item


class TestEnqueue:
    async def test_new_reports_are_pending_and_readable_by_another_connection(
        self, db: Path, settings: SpoolSettings, wall: WallClock
    ) -> None:
        """Once enqueue returns, the reports are committed: a separate reader sees them pending."""
        items = [make_item(n) for n in range(3)]
        async with open_spool(db, settings, clock=wall) as spool:
            result = await spool.enqueue(items)
            assert result.inserted == tuple(item.report_id for item in items)
            assert result.duplicates == ()
            with open_reader(db) as reader:
                page = reader.list_reports()
        assert [r.report_id for r in page.reports] == list(result.inserted)
        assert {r.state for r in page.reports} == {ReportState.PENDING}
        assert all(r.created_at == wall.now and r.next_attempt_at == wall.now for r in page.reports)
        assert page.reports[0].source == items[0].source

    async def test_enqueueing_an_existing_id_inserts_nothing_and_says_so(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """A second enqueue of the same report (a re-converted file) is a reported no-op."""
        item = make_item(1)
        async with open_spool(db, settings) as spool:
            await spool.enqueue([item])
            again = await spool.enqueue([item, make_item(2)])
            stats = spool.statistics()
        assert again.duplicates == (item.report_id,)
        assert again.inserted == (make_item(2).report_id,)
        assert (stats.pending, stats.enqueued, stats.duplicates) == (2, 2, 1)

    async def test_duplicate_detection_survives_a_restart_and_any_state(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """An id that was already sent is still a duplicate after the spool is reopened."""
        item = make_item(1)
        async with open_spool(db, settings) as spool:
            await spool.enqueue([item])
            (claimed,) = await spool.claim()
            await spool.mark_sent(claimed.report_id)
        async with open_spool(db, settings) as spool:
            result = await spool.enqueue([item])
        assert result.inserted == ()
        assert result.duplicates == (item.report_id,)

    async def test_ids_are_compared_in_canonical_form(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """An upper-case, braced spelling of a stored GUID is the same report."""
        rid = str(uuid.uuid4())
        async with open_spool(db, settings) as spool:
            first = await spool.enqueue([make_item(1, report_id=rid.upper())])
            second = await spool.enqueue([make_item(2, report_id="{" + rid + "}")])
        assert first.inserted == (rid,)
        assert second.duplicates == (rid,)

    async def test_a_repeated_id_within_one_call_is_inserted_once(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """The second copy of an id in the same call counts as a duplicate."""
        item = make_item(7)
        async with open_spool(db, settings) as spool:
            result = await spool.enqueue([item, item])
        assert result.inserted == (item.report_id,)
        assert result.duplicates == (item.report_id,)

    async def test_an_id_that_is_no_guid_is_refused_before_anything_is_stored(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """A malformed id raises ValueError and the other reports of the call are not stored."""
        async with open_spool(db, settings) as spool:
            with pytest.raises(ValueError, match="not a GUID"):
                await spool.enqueue([make_item(1), make_item(2, report_id="report-2")])
            assert spool.statistics().pending == 0

    async def test_an_empty_call_does_nothing(self, db: Path, settings: SpoolSettings) -> None:
        """Enqueueing no reports returns an empty result without a transaction."""
        async with open_spool(db, settings) as spool:
            before = spool.statistics().transactions
            result = await spool.enqueue([])
            assert (result.inserted, result.duplicates) == ((), ())
            assert spool.statistics().transactions == before

    async def test_calls_after_close_raise_spool_closed(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """A spool used after its block ended says it is closed."""
        async with open_spool(db, settings) as spool:
            pass
        with pytest.raises(SpoolClosed):
            await spool.enqueue([make_item(1)])


class TestGroupCommit:
    async def test_concurrent_enqueues_share_transactions(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """Calls that arrive while a commit is in flight are committed together, so 64
        concurrent enqueues need fewer than 64 transactions, and every one is stored."""
        calls = 64
        async with open_spool(db, settings) as spool:
            before = spool.statistics().transactions
            async with trio.open_nursery() as nursery:
                for n in range(calls):
                    nursery.start_soon(spool.enqueue, [make_item(n)])
            stats = spool.statistics()
        assert stats.enqueue_calls == calls
        assert stats.pending == calls
        assert stats.transactions - before < calls

    async def test_a_refused_call_does_not_spoil_the_others_in_its_transaction(
        self, db: Path
    ) -> None:
        """One call in a group that fails is rolled back alone; its neighbours commit."""
        settings = SpoolSettings(reserve_free_bytes=0, max_bytes=100_000)
        errors: list[BaseException] = []

        async def enqueue(n: int, size: int) -> None:
            try:
                await spool.enqueue([make_item(n, size=size)])
            except ReportTooLarge as exc:
                errors.append(exc)

        async with open_spool(db, settings) as spool:
            async with trio.open_nursery() as nursery:
                for n in range(20):
                    nursery.start_soon(enqueue, n, 200_000 if n == 10 else 500)
            stats = spool.statistics()
        assert len(errors) == 1
        assert stats.pending == 19
        assert stats.bytes == 19 * 500
