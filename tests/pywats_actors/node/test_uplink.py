"""The uplink against the real emulator and a real spool: every error class, exactly once."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
import trio
from structlog.testing import capture_logs

from pywats_actors._failpoints import configure_failpoints, failpoint_hits
from pywats_actors.client import WatsClientSettings, open_wats_client
from pywats_actors.config import UploadSection
from pywats_actors.emulator import Emulator, Faults, open_emulator
from pywats_actors.node._bus import EventBus
from pywats_actors.node._uplink import (
    BreakerChanged,
    MarkFailed,
    ServerLink,
    ServerState,
    ServerStateChanged,
    UploadQueue,
    run_server_monitor,
    run_uploader,
)
from pywats_actors.report import ReportBuilder, encode_report
from pywats_actors.spool import (
    ReportState,
    SourceInfo,
    Spool,
    SpoolDiskFull,
    SpoolItem,
    open_spool,
)

from ..._disk import fill_disk, small_tmpfs

TOKEN = "c3RhdGlvbjpzZWNyZXQ="
FAST = UploadSection(
    concurrency=3,
    backoff_base=0.02,
    backoff_cap=0.2,
    breaker_threshold=50,
    breaker_open_for=1,
    breaker_max_open=1,
)


def make_items(n: int, *, bad: int = 0) -> list[SpoolItem]:
    items = []
    for i in range(n):
        b = ReportBuilder(
            pn="PCBA-100",
            sn=f"SN{i:05d}",
            rev="A",
            process_code=10,
            machine_name="station-1",
            location="lab",
            purpose="test",
            start=dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC),
            report_id=uuid.uuid5(uuid.NAMESPACE_URL, f"test/{i}"),
        )
        b.root.numeric("Voltage", 5.0, low=4.5, high=5.5, unit="V")
        body = encode_report(b.build())
        if i < bad:  # a report the server refuses: break a required field
            doc = msgspec.json.decode(body)
            doc["pn"] = ""
            body = msgspec.json.encode(doc)
        items.append(
            SpoolItem(
                report_id=str(b.id),
                body=body,
                source=SourceInfo(
                    path=f"/in/{i}.csv",
                    content_hash="0" * 64,
                    converter="test",
                    converter_version="1",
                ),
            )
        )
    return items


@dataclass
class Rig:
    emulator: Emulator
    spool: Spool
    link: ServerLink
    bus: EventBus


@asynccontextmanager
async def rig(
    tmp_path: Path,
    *,
    faults: Faults | None = None,
    client_token: str = TOKEN,
    policy: UploadSection = FAST,
    queue: Callable[[Spool], UploadQueue] = lambda spool: spool,
) -> AsyncIterator[Rig]:
    async with (
        open_emulator(token=TOKEN, faults=faults, seed=7) as emu,
        open_spool(tmp_path / "spool.sqlite3") as spool,
        open_wats_client(
            WatsClientSettings(
                base_url=emu.url,
                token=client_token,
                attempt_timeout=2,
                read_timeout=1,
                max_connections=16,
            )
        ) as client,
        trio.open_nursery() as nursery,
    ):
        bus = EventBus()
        link = ServerLink(client, bus)
        await nursery.start(
            lambda task_status: run_server_monitor(link, interval=0.2, task_status=task_status)
        )
        await nursery.start(
            lambda task_status: run_uploader(
                link,
                queue(spool),
                policy,
                idle_poll=0.05,
                random=lambda: 0.5,
                task_status=task_status,
            )
        )
        yield Rig(emu, spool, link, bus)
        nursery.cancel_scope.cancel()


async def wait_until(predicate: object, within: float = 20) -> None:
    assert callable(predicate)
    with trio.fail_after(within):
        while not predicate():
            await trio.sleep(0.02)


class TestUpload:
    async def test_spooled_reports_arrive_once_each(self, tmp_path: Path) -> None:
        """Every spooled report reaches the server once and is marked sent."""
        items = make_items(20)
        async with rig(tmp_path) as r:
            await r.spool.enqueue(items)
            await wait_until(lambda: r.spool.statistics().sent == 20)
            stats = r.emulator.stats()
        assert stats.accepted == 20
        assert stats.duplicates == 0
        assert sorted(stats.ids) == sorted(i.report_id for i in items)

    async def test_server_down_then_up_delivers_everything_exactly_once(
        self, tmp_path: Path
    ) -> None:
        """Reports spooled while the server is down all arrive once it is back, no duplicates."""
        async with rig(tmp_path, faults=Faults(down=True)) as r:
            await r.spool.enqueue(make_items(15))
            await wait_until(lambda: r.link.state is ServerState.OFFLINE)
            await trio.sleep(0.5)
            assert r.spool.statistics().sent == 0
            r.emulator.set_faults(Faults())
            await wait_until(lambda: r.spool.statistics().sent == 15)
            stats = r.emulator.stats()
        assert stats.accepted == 15
        assert stats.duplicates == 0

    async def test_breaker_probes_as_soon_as_the_monitor_sees_the_server_back(
        self, tmp_path: Path
    ) -> None:
        """After an outage that opened the breaker, uploads resume when the monitor sees the
        server online, not when the breaker's open period (at least 30 s here) runs out."""
        policy = msgspec.structs.replace(
            FAST, breaker_threshold=2, breaker_open_for=60, breaker_max_open=60
        )
        async with rig(tmp_path, faults=Faults(down=True), policy=policy) as r:
            await r.spool.enqueue(make_items(10))
            await wait_until(
                lambda: any(
                    isinstance(e.event, BreakerChanged) and e.event.state == "open"
                    for e in r.bus.recent(topics=["upload"])
                )
            )
            await wait_until(lambda: r.link.state is ServerState.OFFLINE)
            r.emulator.set_faults(Faults())
            back = trio.current_time()
            await wait_until(lambda: r.spool.statistics().sent == 10, within=10)
            assert trio.current_time() - back < 10  # the open period was 30 to 60 s
            stats = r.emulator.stats()
        assert stats.accepted == 10
        assert stats.duplicates == 0

    async def test_flaky_server_503s_are_retried_until_all_arrive(self, tmp_path: Path) -> None:
        """With 40% 503 answers and resets, every report still arrives, each id stored once."""
        faults = Faults(error_503=0.4, reset=0.1, retry_after=None)
        async with rig(tmp_path, faults=faults) as r:
            items = make_items(25)
            await r.spool.enqueue(items)
            await wait_until(lambda: r.spool.statistics().sent == 25, within=60)
            stats = r.emulator.stats()
        assert sorted(stats.ids) == sorted(i.report_id for i in items)
        assert stats.accepted >= 25

    async def test_throttled_uploads_wait_for_retry_after(self, tmp_path: Path) -> None:
        """A 429 with Retry-After makes that report wait at least that long, then it goes."""
        async with rig(tmp_path, faults=Faults(throttle=1.0, retry_after="2")) as r:
            await r.spool.enqueue(make_items(1))
            with trio.fail_after(10):
                while not (summary := (await r.spool.list_reports()).reports[0]).attempts:
                    await trio.sleep(0.02)
            assert "429" in (summary.last_error or "")
            assert summary.next_attempt_at - summary.updated_at >= 2
            first_try = trio.current_time()
            r.emulator.set_faults(Faults())
            await wait_until(lambda: r.spool.statistics().sent == 1)
            assert trio.current_time() - first_try >= 1.5

    async def test_bad_report_is_rejected_with_the_server_message(self, tmp_path: Path) -> None:
        """A 400 marks the report rejected with the server's message; the others still go."""
        async with rig(tmp_path) as r:
            items = make_items(3, bad=1)
            await r.spool.enqueue(items)
            await wait_until(
                lambda: r.spool.statistics().sent == 2 and r.spool.statistics().rejected == 1
            )
            record = await r.spool.show(items[0].report_id)
        assert record.summary.state is ReportState.REJECTED
        assert record.summary.last_error is not None
        assert "400" in record.summary.last_error
        assert "pn" in record.summary.last_error

    async def test_wrong_token_pauses_and_alerts_until_fixed(self, tmp_path: Path) -> None:
        """A 401 pauses every upload with an alert and no attempt burned; a new token resumes."""
        async with rig(tmp_path, client_token="d3Jvbmc6dG9rZW4=") as r:
            await r.spool.enqueue(make_items(5))
            await wait_until(lambda: r.link.state is ServerState.AUTH_FAILED)
            await trio.sleep(0.5)
            stats = r.spool.statistics()
            assert (stats.pending, stats.sent) == (5, 0)
            page = await r.spool.list_reports()
            assert all(s.attempts == 0 for s in page.reports)
            alerts = [
                e.event
                for e in r.bus.recent(topics=["server"])
                if isinstance(e.event, ServerStateChanged) and e.event.alert
            ]
            assert alerts
            assert alerts[0].state == "auth_failed"
            async with open_wats_client(
                WatsClientSettings(base_url=r.emulator.url, token=TOKEN)
            ) as good:
                r.link.replace_client(good)
                await wait_until(lambda: r.spool.statistics().sent == 5)
            assert r.link.state is ServerState.ONLINE

    @pytest.mark.parametrize("base", ["/nothing-here"])
    async def test_wrong_base_url_pauses_as_misconfiguration(
        self, tmp_path: Path, base: str
    ) -> None:
        """A 404 from a wrong base URL pauses uploads with a not_found alert."""
        async with (
            rig(tmp_path) as r,
            open_wats_client(
                WatsClientSettings(base_url=r.emulator.url + base, token=TOKEN)
            ) as wrong,
        ):
            r.link.replace_client(wrong)
            await r.spool.enqueue(make_items(2))
            await wait_until(lambda: r.link.state is ServerState.NOT_FOUND)
            await trio.sleep(0.3)
            assert r.spool.statistics().sent == 0


class TestAdaptiveConcurrency:
    async def run_80(self, tmp_path: Path, maximum: int) -> int:
        """Upload 80 reports to a server 200 ms away; the highest limit the uploader reached."""
        policy = msgspec.structs.replace(FAST, concurrency=2, max_concurrency=maximum)
        with capture_logs() as logs:
            async with rig(tmp_path, faults=Faults(latency=0.2), policy=policy) as r:
                await r.spool.enqueue(make_items(80))
                await wait_until(lambda: r.spool.statistics().sent == 80, within=60)
                stats = r.emulator.stats()
        assert stats.accepted == 80
        assert stats.duplicates == 0
        (stopped,) = [line for line in logs if line["event"] == "uploader stopped"]
        highest: int = stopped["highest_limit"]
        return highest

    async def test_limit_grows_against_a_distant_server(self, tmp_path: Path) -> None:
        """Against a server 200 ms away that answers every upload, the limit climbs past its
        start of 2, never past max_concurrency."""
        highest = await self.run_80(tmp_path, 12)
        assert 6 <= highest <= 12

    async def test_limit_stays_when_the_maximum_is_the_start(self, tmp_path: Path) -> None:
        """With max_concurrency = concurrency = 2 the limit never grows."""
        assert await self.run_80(tmp_path, 2) == 2


class FailingMarks:
    """The spool, except that its first *failures* retry and rejection marks find the disk full
    (SQLite's SQLITE_FULL, as :class:`SpoolDiskFull`). A tmpfs cannot make these small updates
    fail on cue: SQLite rewrites pages its WAL already holds."""

    def __init__(self, spool: Spool, failures: int) -> None:
        self.spool = spool
        self.failures = failures
        self.refused = 0
        self.claim = spool.claim
        self.mark_sent = spool.mark_sent
        self.mark_sent_many = spool.mark_sent_many
        self.release = spool.release

    def _fail(self, report_id: str) -> None:
        if self.refused < self.failures:
            self.refused += 1
            self.spool.release(report_id)  # as the spool does when a mark fails
            raise SpoolDiskFull(Path("/spool"), free=0, reserve=0, detail="test")

    async def mark_retry(self, report_id: str, *, delay: float, error: str) -> None:
        self._fail(report_id)
        await self.spool.mark_retry(report_id, delay=delay, error=error)

    async def mark_rejected(self, report_id: str, *, error: str) -> None:
        self._fail(report_id)
        await self.spool.mark_rejected(report_id, error=error)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs of our own (80 MiB), to fill up for real; skipped where it cannot be."""
    with small_tmpfs(tmp_path / "disk", 80) as disk:
        yield disk


def fill_the_disk(spool_file: Path, filler: Path) -> None:
    """Empty the spool's WAL (so its next write must grow a file), then fill the disk."""
    with contextlib.closing(sqlite3.connect(spool_file, timeout=10)) as db:
        for _ in range(200):
            busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the spool's WAL could not be emptied in 10 s")
    assert spool_file.with_name(spool_file.name + "-wal").stat().st_size == 0
    fill_disk(filler.parent, filler.name)


def mark_failures(r: Rig) -> list[MarkFailed]:
    return [e.event for e in r.bus.recent(topics=["upload"]) if isinstance(e.event, MarkFailed)]


class TestSpoolFailures:
    async def test_failed_sent_mark_is_written_again_without_uploading_again(
        self, tmp_path: Path
    ) -> None:
        """When the spool fails to record acknowledged uploads, the marks are written again with
        backoff and the server receives each report exactly once."""
        configure_failpoints("spool.mark_sent=error@1")
        try:
            items = make_items(20)
            async with rig(tmp_path) as r:
                await r.spool.enqueue(items)
                await wait_until(lambda: r.spool.statistics().sent == 20)
                await trio.sleep(0.3)  # time for a wrong second upload to show
                stats = r.emulator.stats()
                failed = mark_failures(r)
            assert failpoint_hits("spool.mark_sent") >= 2
        finally:
            configure_failpoints(None)
        assert stats.accepted == 20  # every delivery, not distinct ids
        assert stats.duplicates == 0
        assert [(f.action, f.attempt) for f in failed] == [("sent", 1)]
        assert failed[0].reports >= 1

    async def test_marks_that_never_get_written_are_sent_again_by_the_next_uploader(
        self, tmp_path: Path
    ) -> None:
        """While no mark can be written, each report is uploaded once and no new upload starts;
        an uploader stopped then gives its claims back, and the next one sends the reports
        again with the same ids and records them."""
        async with (
            open_emulator(token=TOKEN, seed=7) as emu,
            open_spool(tmp_path / "spool.sqlite3") as spool,
            open_wats_client(WatsClientSettings(base_url=emu.url, token=TOKEN)) as client,
        ):
            bus = EventBus()
            link = ServerLink(client, bus)
            await spool.enqueue(make_items(5))
            configure_failpoints("spool.mark_sent=error")
            try:
                async with trio.open_nursery() as nursery:
                    await nursery.start(
                        lambda task_status: run_uploader(
                            link, spool, FAST, idle_poll=0.05, task_status=task_status
                        )
                    )
                    with trio.fail_after(20):
                        while failpoint_hits("spool.mark_sent") < 3:
                            await trio.sleep(0.02)
                    nursery.cancel_scope.cancel()
            finally:
                configure_failpoints(None)
            assert emu.stats().accepted == 5  # once each while the marks failed
            assert spool.statistics().sent == 0
            async with trio.open_nursery() as nursery:
                await nursery.start(
                    lambda task_status: run_uploader(
                        link, spool, FAST, idle_poll=0.05, task_status=task_status
                    )
                )
                await wait_until(lambda: spool.statistics().sent == 5)
                nursery.cancel_scope.cancel()
            stats = emu.stats()
        assert stats.accepted == 10
        assert stats.duplicates == 5  # the server keeps one copy of each

    async def test_full_disk_under_the_spool_delays_marks_and_sends_nothing_twice(
        self, tmpfs: Path
    ) -> None:
        """With the spool's disk really full (a tmpfs), acknowledged uploads wait in memory,
        nothing is uploaded again, and the marks are written once space is back."""
        items = make_items(20)
        filler = tmpfs / "filler"
        async with rig(tmpfs, faults=Faults(down=True)) as r:
            await r.spool.enqueue(items)
            await trio.to_thread.run_sync(fill_the_disk, tmpfs / "spool.sqlite3", filler)
            r.emulator.set_faults(Faults())
            await wait_until(lambda: r.emulator.stats().accepted >= 1)
            with trio.move_on_after(20):
                while not any(f.action == "sent" for f in mark_failures(r)):
                    await trio.sleep(0.02)
            state = (r.spool.statistics(), r.emulator.stats(), mark_failures(r))
            assert any(f.action == "sent" for f in state[2]), f"no sent mark failed: {state}"
            await trio.sleep(1.0)  # time for a wrong second upload to show
            # A sent mark failed and waits for its retry (above). How many of the others SQLite
            # still squeezes into the WAL pages the failed transaction left allocated depends
            # on how the rows fill their pages: it may be all of them. What must hold is that
            # none of the acknowledged reports was uploaded again meanwhile.
            state = (r.spool.statistics(), r.emulator.stats(), mark_failures(r))
            assert state[1].duplicates == 0, state
            filler.unlink()
            await wait_until(lambda: r.spool.statistics().sent == 20)
            stats = r.emulator.stats()
        assert stats.accepted == 20, stats  # every delivery: each report once
        assert stats.duplicates == 0, stats

    async def test_failed_retry_mark_backs_off_and_loses_nothing(self, tmp_path: Path) -> None:
        """A retry that the full disk refuses is written again with backoff; the report is not
        uploaded again meanwhile and arrives once when the server works."""
        faults = Faults(error_503=1.0, retry_after=None)
        async with rig(tmp_path, faults=faults, queue=lambda spool: FailingMarks(spool, 2)) as r:
            await r.spool.enqueue(make_items(1))
            await wait_until(lambda: len(mark_failures(r)) == 2)
            assert r.emulator.stats().accepted == 0
            r.emulator.set_faults(Faults())
            await wait_until(lambda: r.spool.statistics().sent == 1)
            stats = r.emulator.stats()
            failed = mark_failures(r)
            record = (await r.spool.list_reports()).reports[0]
        assert [(f.action, f.attempt, f.gave_up) for f in failed] == [
            ("retry", 1, False),
            ("retry", 2, False),
        ]
        assert stats.faults.get("error_503", 0) >= 1
        assert stats.accepted == 1
        assert record.attempts >= 2  # the failed attempt was recorded in the end

    async def test_failed_rejection_mark_gives_up_and_keeps_the_report(
        self, tmp_path: Path
    ) -> None:
        """A rejection the spool cannot record is tried a bounded number of times; the report
        stays pending, is uploaded again after the hold, and is then recorded as rejected."""
        async with rig(tmp_path, queue=lambda spool: FailingMarks(spool, 5)) as r:
            items = make_items(1, bad=1)
            await r.spool.enqueue(items)
            await wait_until(lambda: r.spool.statistics().rejected == 1, within=60)
            stats = r.emulator.stats()
            failed = mark_failures(r)
        assert [(f.action, f.attempt, f.gave_up) for f in failed] == [
            ("rejected", n, n == 5) for n in range(1, 6)
        ]
        assert stats.rejected == 2  # uploaded once more after giving up, no hot loop
