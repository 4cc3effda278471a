"""Size limits, intake pause and resume, and a full disk."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import trio

from pywats_actors.spool import (
    IntakePaused,
    IntakeResumed,
    PauseReason,
    ReportState,
    ReportTooLarge,
    SpoolDiskFull,
    SpoolEvent,
    SpoolFull,
    SpoolSettings,
    open_reader,
    open_spool,
)

from ..._disk import small_tmpfs
from .conftest import WallClock, make_item

KiB = 1024


async def intake_opens_within(wait: Callable[[], Awaitable[None]], seconds: float) -> bool:
    with trio.move_on_after(seconds):
        await wait()
        return True
    return False


class TestSizeLimit:
    async def test_unsent_work_at_the_limit_refuses_pauses_and_resumes_when_reports_are_sent(
        self, db: Path
    ) -> None:
        """At max_bytes of pending reports, enqueue raises SpoolFull and intake pauses;
        marking reports sent brings unsent work below the resume fraction and reopens intake,
        and the sent bodies then make room by themselves."""
        settings = SpoolSettings(reserve_free_bytes=0, max_bytes=10_000, resume_below=0.9)
        events: list[SpoolEvent] = []
        async with open_spool(db, settings, observers=[events.append]) as spool:
            for n in range(10):
                await spool.enqueue([make_item(n, size=1000)])
            assert spool.intake_paused is PauseReason.SIZE_LIMIT  # exactly full: paused
            with pytest.raises(SpoolFull) as info:
                await spool.enqueue([make_item(10, size=1000)])
            assert (info.value.limit, info.value.used, info.value.maximum) == (
                "bytes",
                10_000,
                10_000,
            )
            assert not await intake_opens_within(spool.wait_intake_open, 0.1)

            await spool.mark_sent_many([(r.report_id, None) for r in await spool.claim(2)])
            assert await intake_opens_within(spool.wait_intake_open, 5)
            assert spool.statistics().intake_paused is None
            await spool.enqueue([make_item(10, size=1000)])  # the oldest sent body goes
            stats = spool.statistics()
            oldest = await spool.show(make_item(0).report_id)
        assert [type(e) for e in events] == [IntakePaused, IntakeResumed]
        assert isinstance(events[0], IntakePaused)
        assert events[0].reason is PauseReason.SIZE_LIMIT
        assert (stats.pending, stats.sent, stats.bytes) == (9, 2, 10_000)
        assert oldest.summary.state is ReportState.SENT
        assert oldest.body is None

    async def test_a_refusal_below_the_limit_waits_for_room_to_be_made(self, db: Path) -> None:
        """A report that does not fit pauses intake until unsent work shrinks, instead of
        letting the node retry the same file in a loop."""
        settings = SpoolSettings(reserve_free_bytes=0, max_bytes=10_000)
        async with open_spool(db, settings) as spool:
            await spool.enqueue([make_item(0, size=5000)])
            with pytest.raises(SpoolFull):
                await spool.enqueue([make_item(1, size=6000)])
            assert spool.intake_paused is PauseReason.SIZE_LIMIT
            await spool.enqueue([make_item(2, size=1000)])  # still accepted if it fits
            assert spool.intake_paused is PauseReason.SIZE_LIMIT
            (first, _) = await spool.claim(2)
            await spool.mark_sent(first.report_id)
            assert spool.statistics().intake_paused is None

    async def test_the_report_count_limit_refuses_too(self, db: Path) -> None:
        """max_reports limits the reports not yet sent."""
        settings = SpoolSettings(reserve_free_bytes=0, max_reports=3)
        async with open_spool(db, settings) as spool:
            await spool.enqueue([make_item(n) for n in range(3)])
            with pytest.raises(SpoolFull) as info:
                await spool.enqueue([make_item(3)])
            assert info.value.limit == "reports"
            assert spool.statistics().pending == 3

    async def test_rejected_reports_count_as_unsent_until_an_operator_acts(self, db: Path) -> None:
        """Rejected reports are unsent work (they wait for an operator and retention never
        removes them), so they hold their place in the limit until retried or purged."""
        settings = SpoolSettings(reserve_free_bytes=0, max_reports=2)
        async with open_spool(db, settings) as spool:
            await spool.enqueue([make_item(0), make_item(1)])
            for report in await spool.claim(2):
                await spool.mark_rejected(report.report_id, error="400 bad report")
            assert spool.intake_paused is PauseReason.SIZE_LIMIT
            with pytest.raises(SpoolFull):
                await spool.enqueue([make_item(2)])
            assert await spool.purge(state=ReportState.REJECTED) == 2
            assert spool.intake_paused is None
            await spool.enqueue([make_item(2)])

    async def test_sent_reports_never_pause_intake_and_make_room_oldest_first(
        self, db: Path, wall: WallClock
    ) -> None:
        """With max_reports=50, 500 reports enqueued and marked sent never pause intake and
        the spool keeps at most 50 rows, the newest; pending reports reaching the limit pause
        it, and marking some of them sent resumes it."""
        settings = SpoolSettings(reserve_free_bytes=0, max_reports=50, max_bytes=None)
        events: list[SpoolEvent] = []
        async with open_spool(db, settings, clock=wall, observers=[events.append]) as spool:
            for n in range(500):
                wall.advance(1)
                await spool.enqueue([make_item(n)])
                (report,) = await spool.claim(1)
                await spool.mark_sent(report.report_id)
                assert spool.intake_paused is None, n
            stats = spool.statistics()
            assert (stats.pending, stats.sent) == (0, 50)
            kept = [r.report_id for r in (await spool.list_reports(limit=100)).reports]
            assert kept == [make_item(n).report_id for n in range(450, 500)]
            assert events == []

            for n in range(500, 550):
                await spool.enqueue([make_item(n)])
            assert spool.intake_paused is PauseReason.SIZE_LIMIT
            stats = spool.statistics()
            assert (stats.pending, stats.sent) == (50, 0)
            with pytest.raises(SpoolFull):
                await spool.enqueue([make_item(550)])

            await spool.mark_sent_many([(r.report_id, None) for r in await spool.claim(5)])
            assert spool.intake_paused is None
            await spool.enqueue([make_item(550)])
        assert [type(e) for e in events] == [IntakePaused, IntakeResumed]

    async def test_duplicates_are_accepted_even_when_full(self, db: Path) -> None:
        """Re-enqueueing a stored report needs no room, so a full spool still answers it."""
        settings = SpoolSettings(reserve_free_bytes=0, max_reports=1)
        async with open_spool(db, settings) as spool:
            await spool.enqueue([make_item(0)])
            result = await spool.enqueue([make_item(0)])
        assert result.duplicates == (make_item(0).report_id,)

    async def test_reports_larger_than_the_whole_spool_are_refused_without_pausing(
        self, db: Path
    ) -> None:
        """A call that can never fit raises ReportTooLarge and leaves intake open."""
        settings = SpoolSettings(reserve_free_bytes=0, max_bytes=1000)
        async with open_spool(db, settings) as spool:
            with pytest.raises(ReportTooLarge):
                await spool.enqueue([make_item(0, size=1001)])
            assert spool.statistics().intake_paused is None

    async def test_sent_bodies_and_rows_make_room_oldest_first_pending_never(
        self, db: Path, wall: WallClock
    ) -> None:
        """When all states together would pass max_bytes, the bodies of the oldest sent
        reports are dropped to admit new work; pending reports are never touched."""
        settings = SpoolSettings(reserve_free_bytes=0, max_bytes=5000)
        async with open_spool(db, settings, clock=wall) as spool:
            await spool.enqueue([make_item(n, size=1000) for n in range(5)])
            for report in await spool.claim(2):
                wall.advance(1)
                await spool.mark_sent(report.report_id)
            await spool.enqueue([make_item(5, size=1000)])
            first = await spool.show(make_item(0).report_id)
            second = await spool.show(make_item(1).report_id)
            with pytest.raises(SpoolFull):  # only pending left: nothing more to drop
                await spool.enqueue([make_item(6, size=2000)])
            stats = spool.statistics()
        assert (first.body, second.body) == (None, make_item(1, size=1000).body)
        assert (stats.pending, stats.sent, stats.bytes) == (4, 2, 5000)

    async def test_a_full_spool_at_start_starts_paused(self, db: Path) -> None:
        """Reopening a spool that is at its limit pauses intake from the start."""
        settings = SpoolSettings(reserve_free_bytes=0, max_reports=2)
        async with open_spool(db, settings) as spool:
            await spool.enqueue([make_item(0), make_item(1)])
        async with open_spool(db, settings) as spool:
            assert spool.intake_paused is PauseReason.SIZE_LIMIT


class TestDiskReserve:
    async def test_enqueue_below_the_free_space_reserve_is_refused(self, db: Path) -> None:
        """When the write would cut into the reserve, enqueue raises SpoolDiskFull, stores
        nothing, and intake pauses for the disk."""
        settings = SpoolSettings(reserve_free_bytes=1 << 50)
        async with open_spool(db, settings) as spool:
            assert spool.intake_paused is PauseReason.DISK_FULL  # already below at start
            with pytest.raises(SpoolDiskFull) as info:
                await spool.enqueue([make_item(0)])
            assert isinstance(info.value, SpoolFull)
            assert info.value.limit == "disk"
            assert str(db) in str(info.value)
            assert spool.statistics().pending == 0


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted for the test (root only), unmounted afterwards."""
    with small_tmpfs(tmp_path / "tiny", 2) as mount:
        yield mount


class TestDiskFull:
    async def test_a_full_disk_refuses_cleanly_and_the_spool_recovers_by_itself(
        self, tiny_disk: Path, wall: WallClock
    ) -> None:
        """On a real full file system enqueue raises SpoolDiskFull, every acknowledged report
        is intact and the file passes its check; the spool still opens on the full disk
        (skipping retention), and once space is freed intake resumes by itself."""
        filler = tiny_disk / "filler"
        filler.write_bytes(b"\0" * (384 * KiB))
        db = tiny_disk / "spool.db"
        settings = SpoolSettings(
            reserve_free_bytes=0,
            resume_free_bytes=256 * KiB,
            disk_probe_interval=0.05,
            max_bytes=None,
        )
        events: list[SpoolEvent] = []
        stored: list[str] = []
        async with open_spool(db, settings, clock=wall, observers=[events.append]) as spool:
            await spool.enqueue([make_item(9999, size=32 * KiB)])
            (old,) = await spool.claim()
            await spool.mark_sent(old.report_id)
            with pytest.raises(SpoolDiskFull) as info:  # noqa: PT012 - fill until it fails
                for n in range(1000):
                    item = make_item(n, size=32 * KiB)
                    await spool.enqueue([item])
                    stored.append(item.report_id)
            assert "SQLITE_FULL" in str(info.value)
            assert spool.intake_paused is PauseReason.DISK_FULL
            assert spool.statistics().pending == len(stored)
            with open_reader(db) as reader:
                assert reader.check() == ["ok"]
                assert reader.statistics().pending == len(stored)
            assert len(stored) > 5
            (sent,) = await spool.claim()
            with contextlib.suppress(SpoolDiskFull):  # a small write may still fit, or not
                await spool.mark_sent(sent.report_id)
            assert spool.statistics().claimed == 0

        # A node must start on a full disk: uploading and purging is how it gets room back.
        wall.advance(31 * 86_400)  # the old sent report is due for deletion, but no room
        async with open_spool(db, settings, clock=wall, observers=[events.append]) as spool:
            assert spool.startup.retention is None
            assert spool.statistics().pending + spool.statistics().sent == len(stored) + 1
            with pytest.raises(SpoolDiskFull):
                await spool.enqueue([make_item(4000, size=32 * KiB)])
            filler.unlink()
            with trio.fail_after(10):
                await spool.wait_intake_open()
            later = make_item(5000, size=32 * KiB)
            await spool.enqueue([later])
            stored.append(later.report_id)
        assert [type(e) for e in events] == [IntakePaused, IntakePaused, IntakeResumed]
        with open_reader(db) as reader:
            assert reader.verify_rows() == []
        async with open_spool(db, settings) as spool:
            for rid in stored:
                state = (await spool.show(rid)).summary.state
                assert state in (ReportState.PENDING, ReportState.SENT)
