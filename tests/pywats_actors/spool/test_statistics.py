"""The statistics snapshot: kept by triggers in the file, equal to a recount of the rows."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest
import trio

from pywats_actors.spool import (
    IntakePaused,
    ReportState,
    SpoolError,
    SpoolEvent,
    SpoolSettings,
    open_reader,
    open_spool,
)

from .conftest import WallClock, make_item

FIELDS = ("pending", "sent", "rejected", "bytes", "pending_bytes", "quarantined")


class TestStatistics:
    async def test_counts_bytes_and_oldest_age(
        self, db: Path, settings: SpoolSettings, wall: WallClock
    ) -> None:
        """The snapshot counts reports per state, stored bytes, and the oldest pending age."""
        async with open_spool(db, settings, clock=wall) as spool:
            empty = spool.statistics()
            await spool.enqueue([make_item(0, size=300)])
            wall.advance(60)
            await spool.enqueue([make_item(1, size=500)])
            (first,) = await spool.claim()
            await spool.mark_sent(first.report_id)
            wall.advance(15)
            stats = spool.statistics()
        assert empty.oldest_pending_age is None
        assert (stats.pending, stats.sent, stats.rejected, stats.reports) == (1, 1, 0, 2)
        assert (stats.bytes, stats.pending_bytes) == (800, 500)
        assert stats.oldest_pending_age == 15
        assert stats.max_bytes == settings.max_bytes

    async def test_incremental_counters_match_a_recount_after_random_work(
        self, db: Path, wall: WallClock
    ) -> None:
        """After a random mix of every operation (evictions included), the running snapshot and
        a reader's statistics both equal a count of the rows in the file."""
        seed = random.randrange(1 << 30)
        rng = random.Random(seed)
        settings = SpoolSettings(reserve_free_bytes=0, max_bytes=60_000, max_reports=40)
        async with open_spool(db, settings, clock=wall) as spool:
            for step in range(300):
                wall.advance(rng.uniform(0, 2 * 86_400))
                action = rng.randrange(8)
                try:
                    if action <= 2:
                        items = [make_item(rng.randrange(400), size=rng.randint(100, 3000))]
                        await spool.enqueue(items)
                    elif action == 3:
                        for report in await spool.claim(rng.randint(1, 3)):
                            outcome = rng.randrange(3)
                            if outcome == 0:
                                await spool.mark_sent(report.report_id)
                            elif outcome == 1:
                                await spool.mark_retry(report.report_id, delay=1, error="e")
                            else:
                                await spool.mark_rejected(report.report_id, error="r")
                    elif action == 4:
                        await spool.retry(make_item(rng.randrange(400)).report_id)
                    elif action == 5:
                        await spool.purge(state=rng.choice(list(ReportState)), older_than=86_400)
                    elif action == 6:
                        await spool.run_retention()
                    else:
                        await spool.purge(report_ids=[make_item(rng.randrange(400)).report_id])
                except SpoolError:
                    pass  # full, unknown id, invalid transition: all part of the mix
                if step % 50 == 0:
                    await self.assert_same(spool.statistics(), db, seed)
            await self.assert_same(spool.statistics(), db, seed)

    @staticmethod
    async def assert_same(running: object, db: Path, seed: int) -> None:
        def recount() -> tuple[dict[str, int], object]:
            conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
            try:
                rows = conn.execute(
                    "SELECT state, count(*), total(CASE WHEN body IS NULL THEN 0 "
                    "ELSE body_size END) FROM reports GROUP BY state"
                ).fetchall()
                (quarantined,) = conn.execute("SELECT count(*) FROM quarantine").fetchone()
            finally:
                conn.close()
            counted = {state.value: 0 for state in ReportState}
            counted.update({state: int(n) for state, n, _ in rows})
            size = {state: int(b) for state, _, b in rows}
            figures = {
                **counted,
                "bytes": sum(size.values()),
                "pending_bytes": size.get("pending", 0),
                "quarantined": int(quarantined),
            }
            with open_reader(db) as reader:
                return figures, reader.statistics()

        counted, read = await trio.to_thread.run_sync(recount)
        for name in FIELDS:
            assert getattr(running, name) == counted[name], f"{name} (seed {seed})"
            assert getattr(read, name) == counted[name], f"reader {name} (seed {seed})"


class TestObservers:
    async def test_a_failing_observer_is_logged_not_raised(self, db: Path) -> None:
        """An observer that raises cannot break the spool; the others still get the event."""
        settings = SpoolSettings(reserve_free_bytes=0, max_reports=1)
        seen: list[SpoolEvent] = []

        def broken(event: SpoolEvent) -> None:
            raise RuntimeError("observer bug")

        async with open_spool(db, settings, observers=[broken, seen.append]) as spool:
            await spool.enqueue([make_item(0)])  # reaches the limit: pauses from a callback
            await spool.enqueue([make_item(0)])
        assert [type(e) for e in seen] == [IntakePaused]


class TestValidation:
    async def test_bodies_and_sources_of_the_wrong_type_are_refused(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """enqueue checks its items before anything reaches the database."""
        good = make_item(1)
        async with open_spool(db, settings) as spool:
            before = spool.statistics().transactions
            with pytest.raises(TypeError, match="body"):
                await spool.enqueue(
                    [type(good)(report_id=good.report_id, body=b"", source=good.source)]
                )
            with pytest.raises(TypeError, match="source"):
                await spool.enqueue(
                    [type(good)(report_id=good.report_id, body=b"{}", source={"path": "x"})]  # type: ignore[arg-type]
                )
            assert spool.statistics().transactions == before

    async def test_settings_constraints_are_checked_when_the_spool_opens(self, db: Path) -> None:
        """Out-of-range settings are refused by open_spool with the field's path."""
        with pytest.raises(ValueError, match="max_batch"):
            async with open_spool(db, SpoolSettings(max_batch=0)):
                pass
        assert not db.exists()
