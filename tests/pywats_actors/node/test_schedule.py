"""The schedule actor on trio's mock clock: when it runs, what it skips, and the order that makes
its reports exactly-once (spool first, cursor after)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from converters import Converted, ConvertedReport, Rejected, Timings
from converters._protocol import Cursor
from pywats_actors.config import Schedule
from pywats_actors.node._bus import NodeEvent
from pywats_actors.node._cursors import CursorStore
from pywats_actors.node._schedule import (
    ScheduleFailed,
    ScheduleRan,
    ScheduleRunner,
    ScheduleSkipped,
)
from pywats_actors.spool import EnqueueResult, SpoolItem

from ..._reports import built_report


class FakePool:
    """A source of numbered rows: each poll returns the rows after the cursor (an int as text)
    and records when (trio time) and from which cursor it was called."""

    def __init__(self, rows: int = 2, *, hold: float = 0.0) -> None:
        self.rows = rows
        self.hold = hold
        self.calls: list[tuple[float, bytes | str | None]] = []
        self.fail_next = False

    async def poll(
        self,
        converter: str,
        source: str,
        cursor: bytes | str | None,
        *,
        scope: str,
        wall_limit: float | None = None,
    ) -> Any:
        self.calls.append((trio.current_time(), cursor))
        if self.hold:
            await trio.sleep(self.hold)
            self.hold = 0.0
        if self.fail_next:
            self.fail_next = False
            return Rejected(f"schedule {scope}", "0" * 64, "converter", "the source is odd")
        start = int(cursor) if isinstance(cursor, str) else 0
        reports = []
        for n in range(start, self.rows):
            body, report_id = built_report(n, id_label=f"{scope}-row")
            reports.append(ConvertedReport(uuid.UUID(report_id), n - start, body, key=f"row{n}"))
        return Converted(
            name=f"schedule {scope}",
            sha256="0" * 64,
            converter=converter,
            converter_name="rows",
            converter_version="1",
            reports=tuple(reports),
            detected=False,
            attempts=1,
            timings=Timings(0, 0, 0, 0),
            cursor=Cursor.of(str(self.rows)),
        )


class FakeSpool:
    """Stores reports by id, as the spool does: an id it holds is a duplicate."""

    intake_paused = None

    def __init__(self) -> None:
        self.held: dict[str, bytes] = {}

    async def wait_intake_open(self) -> None:  # pragma: no cover - never paused here
        return None

    async def enqueue(self, items: list[SpoolItem]) -> EnqueueResult:
        new = [item.report_id for item in items if item.report_id not in self.held]
        for item in items:
            self.held.setdefault(item.report_id, item.body)
        duplicates = tuple(i.report_id for i in items if i.report_id not in new)
        return EnqueueResult(inserted=tuple(new), duplicates=duplicates)


class FlakyStore(CursorStore):
    """A cursor store whose next ``fail`` stores raise, as a crash before the cursor is
    written would leave things."""

    fail = 0

    def store(self, schedule: str, cursor: bytes | str | None, **kw: str) -> None:
        if self.fail:
            self.fail -= 1
            raise OSError("disk gone")
        super().store(schedule, cursor, **kw)


async def inline(fn: Callable[[], Any]) -> Any:
    """Run the cursor store's calls inline (the mock clock must not jump over a thread)."""
    return fn()


def runner(
    tmp_path: Path,
    pool: FakePool,
    spool: FakeSpool | None = None,
    events: list[NodeEvent] | None = None,
    *,
    wall: Callable[[], float] | None = None,
    store: CursorStore | None = None,
    **schedule: Any,
) -> ScheduleRunner:
    """A runner of schedule ``s1`` over ``pool``, publishing to ``events``."""
    fields: dict[str, Any] = {"id": "s1", "converter": "rows", "source": str(tmp_path)}
    fields.update(schedule)
    sink = events if events is not None else []
    return ScheduleRunner(
        Schedule(**fields),
        pool,
        spool or FakeSpool(),  # type: ignore[arg-type]
        store or CursorStore(tmp_path / "cursors"),
        sink.append,
        lambda: None,
        wall=wall or (lambda: 1_800_000_000.0 + trio.current_time()),
        tz=dt.UTC,
        offload=inline,
    )


async def run_for(seconds: float, target: ScheduleRunner) -> None:
    """Run ``target`` for ``seconds`` of (mock) time, then cancel it."""
    async with trio.open_nursery() as nursery:
        await nursery.start(target.run)
        await trio.sleep(seconds)
        nursery.cancel_scope.cancel()


class TestTiming:
    async def test_interval(self, tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
        """Without run_at_start, the first run is one interval after the start, then every
        interval."""
        pool = FakePool()
        start = trio.current_time()
        await run_for(35, runner(tmp_path, pool, interval=10))
        assert [round(at - start, 6) for at, _ in pool.calls] == [10, 20, 30]

    async def test_run_at_start(self, tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
        """With run_at_start, the first run is at once."""
        pool = FakePool()
        start = trio.current_time()
        await run_for(15, runner(tmp_path, pool, interval=10, run_at_start=True))
        assert [round(at - start, 6) for at, _ in pool.calls] == [0, 10]

    async def test_cron_on_the_wall_clock(
        self, tmp_path: Path, autojump_clock: trio.abc.Clock
    ) -> None:
        """``*/15`` started at 10:00:30 runs at 10:15:00 and 10:30:00 (wall clock)."""
        start = trio.current_time()
        began = dt.datetime(2026, 1, 1, 10, 0, 30, tzinfo=dt.UTC).timestamp()
        pool = FakePool()
        target = runner(
            tmp_path,
            pool,
            wall=lambda: began + trio.current_time() - start,
            cron="*/15 * * * *",
        )
        await run_for(31 * 60, target)
        assert [round(at - start, 6) for at, _ in pool.calls] == [870, 1770]

    async def test_runs_never_overlap(self, tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
        """A run that lasts 25 s of a 10 s interval skips the two fire times it overlaps,
        and says so."""
        pool = FakePool(hold=25)
        events: list[NodeEvent] = []
        start = trio.current_time()
        await run_for(45, runner(tmp_path, pool, events=events, interval=10))
        assert [round(at - start, 6) for at, _ in pool.calls] == [10, 40]
        assert [e.missed for e in events if isinstance(e, ScheduleSkipped)] == [2]


class TestCursor:
    async def test_cursor_is_stored_after_the_reports_and_survives(
        self, tmp_path: Path, autojump_clock: trio.abc.Clock
    ) -> None:
        """The first run finds both rows and stores cursor ``2``; the next run (and a new
        runner, as after a restart) starts from it and finds nothing new."""
        pool = FakePool(rows=2)
        spool = FakeSpool()
        events: list[NodeEvent] = []
        await run_for(25, runner(tmp_path, pool, spool, events, interval=10))
        assert [cursor for _, cursor in pool.calls] == [None, "2"]
        ran = [e for e in events if isinstance(e, ScheduleRan)]
        assert [(len(e.report_ids), e.new_reports) for e in ran] == [(2, 2)]
        assert len(spool.held) == 2
        pool.rows = 3
        await run_for(15, runner(tmp_path, pool, spool, events, interval=10))
        assert pool.calls[-1][1] == "2"
        assert len(spool.held) == 3

    async def test_a_lost_cursor_repeats_without_duplicates(
        self, tmp_path: Path, autojump_clock: trio.abc.Clock
    ) -> None:
        """When the cursor cannot be stored after the reports were, the run fails; the next
        one starts from the old cursor and finds the same reports, which the spool already
        holds: nothing is stored twice."""
        pool = FakePool(rows=2)
        spool = FakeSpool()
        events: list[NodeEvent] = []
        store = FlakyStore(tmp_path / "cursors")
        store.fail = 1
        await run_for(35, runner(tmp_path, pool, spool, events, store=store, interval=10))
        assert [cursor for _, cursor in pool.calls] == [None, None, "2"]
        assert [e.kind for e in events if isinstance(e, ScheduleFailed)] == ["cursor"]
        ran = [e for e in events if isinstance(e, ScheduleRan)]
        assert [(len(e.report_ids), e.new_reports) for e in ran] == [(2, 0)]
        assert len(spool.held) == 2

    async def test_a_failed_run_keeps_the_cursor(
        self, tmp_path: Path, autojump_clock: trio.abc.Clock
    ) -> None:
        """A run the converter fails is published with its reason; the next run polls from
        the same cursor."""
        pool = FakePool(rows=1)
        events: list[NodeEvent] = []
        target = runner(tmp_path, pool, events=events, interval=10)
        async with trio.open_nursery() as nursery:
            await nursery.start(target.run)
            await trio.sleep(15)
            pool.rows = 3
            pool.fail_next = True
            await trio.sleep(20)
            nursery.cancel_scope.cancel()
        assert [cursor for _, cursor in pool.calls] == [None, "1", "1"]
        failed = [e for e in events if isinstance(e, ScheduleFailed)]
        assert [(e.kind, e.reason) for e in failed] == [("rejected", "the source is odd")]

    async def test_another_source_starts_from_no_cursor(
        self, tmp_path: Path, autojump_clock: trio.abc.Clock
    ) -> None:
        """A cursor stored for one source is not used when the schedule's source changed."""
        store = CursorStore(tmp_path / "cursors")
        store.store("s1", "7", converter="rows", source="/elsewhere")
        pool = FakePool(rows=1)
        await run_for(5, runner(tmp_path, pool, store=store, interval=1, run_at_start=True))
        assert pool.calls[0][1] is None
        store.store("s1", b"\x00\x01", converter="rows", source=str(tmp_path))
        loaded = store.load("s1")
        assert loaded is not None
        assert loaded.cursor == b"\x00\x01"
