"""The uploader's side: claims and the outcomes of an upload."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import trio

from pywats_actors.spool import (
    InvalidTransition,
    ReportState,
    SpoolSettings,
    UnknownReport,
    open_reader,
    open_spool,
)
from pywats_actors.spool._store import CLAIM_QUERY

from .conftest import WallClock, make_item


class TestClaims:
    async def test_claims_return_due_reports_oldest_first_up_to_the_limit(
        self, db: Path, settings: SpoolSettings, wall: WallClock
    ) -> None:
        """claim(n) hands out the n oldest pending reports with their bodies."""
        items = [make_item(n) for n in range(5)]
        async with open_spool(db, settings, clock=wall) as spool:
            for item in items:
                wall.advance(1)
                await spool.enqueue([item])
            claimed = await spool.claim(3)
        assert [c.report_id for c in claimed] == [i.report_id for i in items[:3]]
        assert [c.body for c in claimed] == [i.body for i in items[:3]]
        assert claimed[0].attempts == 0
        assert claimed[0].source == items[0].source

    async def test_a_backlog_is_claimed_in_the_order_it_was_enqueued(
        self, db: Path, settings: SpoolSettings, wall: WallClock
    ) -> None:
        """A backlog of reports with random ids, drained by small claims, comes out exactly in
        enqueue order; a report put back for a retry takes its old place once it is due, ahead
        of everything enqueued after it."""
        items = [make_item(n, report_id=str(uuid.uuid4())) for n in range(300)]
        async with open_spool(db, settings, clock=wall) as spool:
            for start in range(0, 300, 30):
                wall.advance(1)
                await spool.enqueue(items[start : start + 30])
            (first,) = await spool.claim(1)
            await spool.mark_retry(first.report_id, delay=10, error="503")
            order: list[str] = []
            for _ in range(20):  # not due yet: the others go first
                batch = await spool.claim(7)
                order += [r.report_id for r in batch]
                await spool.mark_sent_many([(r.report_id, None) for r in batch[:-1]])
                spool.release(batch[-1].report_id)  # the last one goes back, keeps its place
            wall.advance(60)
            (retried,) = await spool.claim(1)
        assert first.report_id == items[0].report_id
        assert retried.report_id == items[0].report_id
        sent_order = list(dict.fromkeys(order))
        assert sent_order == [i.report_id for i in items[1 : 1 + len(sent_order)]]

    async def test_the_claim_query_walks_the_pending_index_in_order(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """SQLite answers the claim query from the reports_pending index in its own order:
        no scan of the table and no sort, so a claim costs the same however large the spool."""
        async with open_spool(db, settings) as spool:
            await spool.enqueue([make_item(n) for n in range(10)])

            def plan(store: object) -> list[str]:
                conn = spool._store.conn
                rows = conn.execute("EXPLAIN QUERY PLAN " + CLAIM_QUERY, (0.0, 5)).fetchall()
                return [str(row[-1]) for row in rows]

            steps = await spool._writer.call(plan, None, write=False)
        assert any("USING INDEX reports_pending" in step for step in steps), steps
        assert not any("TEMP B-TREE" in step for step in steps), steps

    async def test_claimed_reports_are_not_handed_out_twice(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """Concurrent claims never return the same report; together they return each once."""
        async with open_spool(db, settings) as spool:
            await spool.enqueue([make_item(n) for n in range(20)])
            got: list[str] = []

            async def take() -> None:
                got.extend(c.report_id for c in await spool.claim(3))

            async with trio.open_nursery() as nursery:
                for _ in range(10):
                    nursery.start_soon(take)
            assert spool.statistics().claimed == 20
            assert await spool.claim(5) == ()
        assert len(got) == len(set(got)) == 20

    async def test_a_released_claim_is_due_again(self, db: Path, settings: SpoolSettings) -> None:
        """release() gives a report back unchanged (a cancelled upload)."""
        async with open_spool(db, settings) as spool:
            await spool.enqueue([make_item(1)])
            (first,) = await spool.claim()
            spool.release(first.report_id.upper())
            (again,) = await spool.claim()
            assert again.report_id == first.report_id
            assert again.attempts == 0
            spool.release_all()
            assert spool.statistics().claimed == 0

    async def test_reports_that_are_not_due_are_not_claimed(
        self, db: Path, settings: SpoolSettings, wall: WallClock
    ) -> None:
        """A report scheduled for a retry is claimable only once the wall clock reaches it."""
        async with open_spool(db, settings, clock=wall) as spool:
            await spool.enqueue([make_item(1)])
            (claimed,) = await spool.claim()
            await spool.mark_retry(claimed.report_id, delay=30, error="503 Service Unavailable")
            assert await spool.claim() == ()
            wall.advance(29.9)
            assert await spool.claim() == ()
            wall.advance(0.1)
            (again,) = await spool.claim()
        assert again.attempts == 1

    async def test_a_cancelled_claim_holds_nothing(self, db: Path, settings: SpoolSettings) -> None:
        """A claim whose caller was cancelled is undone, so the report stays claimable."""
        async with open_spool(db, settings) as spool:
            await spool.enqueue([make_item(n) for n in range(3)])
            with trio.CancelScope() as scope:
                scope.cancel()
                await spool.claim(3)
            # the writer may still hold the abandoned claim for a moment; then it is undone
            with trio.fail_after(10):
                while len(got := await spool.claim(3)) < 3:
                    spool.release(*(c.report_id for c in got))
                    await trio.sleep(0.01)
            assert spool.statistics().claimed == 3

    async def test_claim_limit_must_be_positive(self, db: Path, settings: SpoolSettings) -> None:
        """claim(0) is a programming error."""
        async with open_spool(db, settings) as spool:
            with pytest.raises(ValueError):
                await spool.claim(0)


class TestOutcomes:
    async def test_mark_sent_records_the_answer_and_releases_the_claim(
        self, db: Path, settings: SpoolSettings, wall: WallClock
    ) -> None:
        """pending → sent keeps the server's answer and the time, and counts the attempt."""
        async with open_spool(db, settings, clock=wall) as spool:
            await spool.enqueue([make_item(1)])
            (claimed,) = await spool.claim()
            wall.advance(5)
            await spool.mark_sent(claimed.report_id, answer='{"uuid":"abc"}')
            stats = spool.statistics()
            record = await spool.show(claimed.report_id)
        assert (stats.pending, stats.sent, stats.claimed) == (0, 1, 0)
        summary = record.summary
        assert summary.state is ReportState.SENT
        assert summary.server_answer == '{"uuid":"abc"}'
        assert summary.sent_at == summary.updated_at == wall.now
        assert summary.attempts == 1
        assert record.body == make_item(1).body

    async def test_mark_sent_many_marks_a_batch_in_one_transaction(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """Many marks in one call: one transaction; the ids that are unknown (purged by an
        operator) or rejected come back with their error and the others are sent; no claim is
        left."""
        async with open_spool(db, settings) as spool:
            await spool.enqueue([make_item(n) for n in range(5)])
            claimed = await spool.claim(5)
            ids = [c.report_id for c in claimed]
            await spool.mark_rejected(ids[4], error="400: bad")
            ids.append(make_item(99).report_id)  # never enqueued
            before = spool.statistics().transactions
            refused = await spool.mark_sent_many([(rid, f"answer {rid}") for rid in ids])
            after = spool.statistics()
            sent = await spool.show(ids[0])
        assert after.transactions == before + 1
        assert [(rid, type(error)) for rid, error in refused] == [
            (ids[4], InvalidTransition),
            (ids[5], UnknownReport),
        ]
        assert (after.pending, after.sent, after.rejected, after.claimed) == (0, 4, 1, 0)
        assert sent.summary.server_answer == f"answer {ids[0]}"

    async def test_mark_retry_counts_the_attempt_and_keeps_the_error(
        self, db: Path, settings: SpoolSettings, wall: WallClock
    ) -> None:
        """A retry leaves the report pending, due later, with the error text."""
        async with open_spool(db, settings, clock=wall) as spool:
            await spool.enqueue([make_item(1)])
            for attempt in range(1, 4):
                wall.advance(100)
                (claimed,) = await spool.claim()
                await spool.mark_retry(claimed.report_id, delay=10, error=f"timeout {attempt}")
            summary = (await spool.show(claimed.report_id)).summary
        assert summary.state is ReportState.PENDING
        assert summary.attempts == 3
        assert summary.last_error == "timeout 3"
        assert summary.next_attempt_at == wall.now + 10

    async def test_the_retry_time_survives_a_restart(
        self, db: Path, settings: SpoolSettings, wall: WallClock
    ) -> None:
        """next_attempt_at is wall-clock time in the file, so a restarted node waits for it."""
        async with open_spool(db, settings, clock=wall) as spool:
            await spool.enqueue([make_item(1)])
            (claimed,) = await spool.claim()
            await spool.mark_retry(claimed.report_id, delay=600, error="429")
        async with open_spool(db, settings, clock=wall) as spool:
            assert await spool.claim() == ()
            wall.advance(600)
            assert len(await spool.claim()) == 1

    async def test_mark_rejected_keeps_the_server_message_for_an_operator(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """pending → rejected stores the message; a rejected report is never claimed."""
        async with open_spool(db, settings) as spool:
            await spool.enqueue([make_item(1)])
            (claimed,) = await spool.claim()
            await spool.mark_rejected(claimed.report_id, error="400: unknown process code 9999")
            assert await spool.claim() == ()
            stats = spool.statistics()
        with open_reader(db) as reader:
            summary = reader.show(claimed.report_id).summary
        assert (stats.pending, stats.rejected) == (0, 1)
        assert summary.state is ReportState.REJECTED
        assert summary.last_error == "400: unknown process code 9999"

    async def test_repeating_a_final_mark_changes_nothing(
        self, db: Path, settings: SpoolSettings, wall: WallClock
    ) -> None:
        """mark_sent (or mark_rejected) twice is harmless: a retried call after a cancellation."""
        async with open_spool(db, settings, clock=wall) as spool:
            await spool.enqueue([make_item(1), make_item(2)])
            a, b = await spool.claim(2)
            await spool.mark_sent(a.report_id, answer="first")
            wall.advance(1)
            await spool.mark_sent(a.report_id, answer="second")
            await spool.mark_rejected(b.report_id, error="bad")
            await spool.mark_rejected(b.report_id, error="bad again")
            sent = (await spool.show(a.report_id)).summary
            rejected = (await spool.show(b.report_id)).summary
        assert (sent.server_answer, sent.attempts) == ("first", 1)
        assert (rejected.last_error, rejected.attempts) == ("bad", 1)

    async def test_transitions_out_of_a_final_state_are_refused(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """A sent report cannot be rejected or retried; a rejected one cannot be marked sent."""
        async with open_spool(db, settings) as spool:
            await spool.enqueue([make_item(1), make_item(2)])
            a, b = await spool.claim(2)
            await spool.mark_sent(a.report_id)
            await spool.mark_rejected(b.report_id, error="no")
            with pytest.raises(InvalidTransition) as info:
                await spool.mark_rejected(a.report_id, error="late")
            assert info.value.state == "sent"
            with pytest.raises(InvalidTransition):
                await spool.mark_retry(a.report_id, delay=1, error="late")
            with pytest.raises(InvalidTransition):
                await spool.mark_sent(b.report_id)
            assert spool.statistics().claimed == 0

    async def test_marking_an_unknown_report_says_so(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """An id the spool never had raises UnknownReport (a KeyError)."""
        async with open_spool(db, settings) as spool:
            with pytest.raises(UnknownReport):
                await spool.mark_sent(make_item(404).report_id)
            with pytest.raises(KeyError):
                await spool.mark_retry(make_item(404).report_id, delay=1, error="x")

    async def test_a_negative_delay_is_refused(self, db: Path, settings: SpoolSettings) -> None:
        """mark_retry needs a finite delay of zero or more seconds."""
        async with open_spool(db, settings) as spool:
            with pytest.raises(ValueError):
                await spool.mark_retry(make_item(1).report_id, delay=-1, error="x")
