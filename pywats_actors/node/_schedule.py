"""The schedule actor: one ``[[schedule]]``, run on its interval or cron expression.

Each run asks the converter pool to run the schedule's converter once (``ConverterPool.poll``:
a sandboxed worker, the pool's limits, the schedule's ``timeout``), stores the reports it found
in the spool, and only once they are durable stores the new cursor (:mod:`._cursors`): a crash
between the two repeats the run, and the repeated reports have the same ids, which the spool
holds already. A run that fails (the converter raised, crashed, timed out, returned something
that is not a report) is logged and published (:class:`ScheduleFailed`); the cursor stays, and
the next run tries again from it.

Timing runs on trio's clock. A cron expression's next fire is computed on the wall clock in the
station's time zone (:func:`pywats_actors._cron.next_fire`) and turned into a trio deadline once
per run (wall clock and trio clock read together). A run that lasts past its next fire times
skips them (:class:`ScheduleSkipped`): runs of one schedule never overlap. Runs missed while the
node was down are not made up one by one; ``run_at_start`` runs once at start, which covers them.

Every schedule is its own supervised child (:func:`schedule_spec`): an exception that escapes a
run ends that child only, and its supervisor starts it again after a backoff; the watchers, the
pipeline and the other schedules go on.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import os
import time
import zoneinfo
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import msgspec
import trio
from structlog.typing import FilteringBoundLogger

from converters import ConversionResult, Converted, ConverterConfig, PoolClosed, UnknownConverter
from supervisors import Backoff, ChildSpec, Timeout, current_child_or_none

from .._cron import CronExpr, next_fire, parse_cron
from .._logging import get_logger
from ..config import NodeConfig, Schedule
from ..spool import (
    ReportIdConflict,
    ReportTooLarge,
    SourceInfo,
    Spool,
    SpoolError,
    SpoolFull,
    SpoolItem,
)
from ._actor import stop_requested_cancels
from ._bus import NodeEvent
from ._cursors import CursorStore
from ._pipeline import describe_failure

__all__ = [
    "SCHEDULE_BACKOFF",
    "ScheduleFailed",
    "ScheduleRan",
    "ScheduleRunner",
    "ScheduleSkipped",
    "schedule_converters",
    "schedule_pool_name",
    "schedule_spec",
]

SCHEDULE_BACKOFF = Backoff(min=2.0, max=60.0)
"""Delay before a schedule whose actor failed is started again: 2 s, doubling up to a minute."""


class ScheduleRan(NodeEvent, frozen=True, kw_only=True):
    """A schedule's run found reports: they are durable in the spool and its cursor is stored.
    (A run that found nothing publishes nothing; it logs at debug level.)

    Attributes:
        schedule: the schedule's id.
        converter: the converter's name.
        report_ids: the reports it found (``new_reports`` of them were not in the spool yet).
        seconds: how long the run took.
    """

    topic: ClassVar[str] = "schedule"
    schedule: str
    converter: str
    report_ids: tuple[str, ...]
    new_reports: int
    seconds: float


class ScheduleFailed(NodeEvent, frozen=True, kw_only=True):
    """A schedule's run failed; its cursor stays and the next run tries again.

    Attributes:
        kind: ``rejected``, ``crashed``, ``timed_out``, ``out_of_memory``, ``unavailable``
            (no worker could run it now), ``spool`` (its reports could not be stored) or
            ``cursor`` (its cursor could not be stored; the next run repeats it, without
            duplicates).
        reason: why.
    """

    topic: ClassVar[str] = "schedule"
    schedule: str
    kind: str
    reason: str


class ScheduleSkipped(NodeEvent, frozen=True, kw_only=True):
    """Fire times of a schedule passed while its previous run was still going: skipped."""

    topic: ClassVar[str] = "schedule"
    schedule: str
    missed: int


def schedule_pool_name(schedule: Schedule) -> str:
    """The converter pool's name for a schedule's converter configuration."""
    return f"schedule:{schedule.id}"


def schedule_converters(config: NodeConfig) -> tuple[ConverterConfig, ...]:
    """One converter configuration per schedule, granted read access to its source (used by
    name only: a schedule's converter never takes part in auto-detection)."""
    return tuple(
        ConverterConfig(
            item.converter,
            name=schedule_pool_name(item),
            args=dict(item.converter_args),
            read_paths=(item.source,),
            detection="off",  # polled by its schedule, never asked about files
        )
        for item in config.schedule
    )


class _PollerLike(Protocol):
    """What a schedule needs from the converter pool."""

    async def poll(
        self,
        converter: str,
        source: str,
        cursor: bytes | str | None,
        *,
        scope: str,
        wall_limit: float | None = None,
    ) -> ConversionResult: ...


_Log = FilteringBoundLogger


@dataclass
class ScheduleRunner:
    """Runs one schedule until its child is asked to stop.

    Attributes:
        schedule: the ``[[schedule]]`` table.
        pool: the converter pool (its ``poll``).
        spool: the open spool.
        cursors: where cursors are kept.
        publish: where events go.
        work_arrived: called after new reports are committed (wakes the uploader).
        wall: the wall clock, seconds since the epoch (tests give one that follows trio's).
        tz: the station's time zone for cron fields (``None``: this computer's local zone).
        offload: runs the cursor store's blocking calls (a worker thread; tests on trio's
            mock clock run them inline).
        runs: how many runs were started.
    """

    schedule: Schedule
    pool: _PollerLike
    spool: Spool
    cursors: CursorStore
    publish: Callable[[NodeEvent], object]
    work_arrived: Callable[[], None]
    wall: Callable[[], float] = time.time
    tz: dt.tzinfo | None = None
    offload: Callable[[Callable[[], Any]], Awaitable[Any]] = trio.to_thread.run_sync
    runs: int = field(default=0, init=False)
    _cron: CronExpr | None = field(default=None, init=False, repr=False)
    _cursor: bytes | str | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.schedule.cron:
            self._cron = parse_cron(self.schedule.cron)

    @property
    def _log(self) -> _Log:
        return get_logger(actor=f"schedules/{self.schedule.id}", schedule=self.schedule.id)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Load the cursor, report ready, then run on schedule until a stop request."""
        await self._load_cursor()
        task_status.started()
        ctx = current_child_or_none()
        due = trio.current_time() if self.schedule.run_at_start else self._next_due(None)
        while True:
            async with stop_requested_cancels() as waiting:
                await trio.sleep_until(due)
            if waiting.cancelled_caught or (ctx is not None and ctx.stop_requested):
                return
            fired = due
            await self.run_once()
            due = self._next_due(fired)

    def _next_due(self, fired: float | None) -> float:
        """The trio time of the next run after the run due at ``fired`` (``None``: none yet),
        skipping, with an event, the fire times that passed meanwhile."""
        now = trio.current_time()
        missed = 0
        if self._cron is None:
            interval = self.schedule.interval
            if fired is None:
                return now + interval
            due = fired + interval
            if due <= now:
                missed = math.floor((now - due) / interval) + 1
                due += missed * interval
        else:
            tz = self.tz if self.tz is not None else _local_zone()
            wall_now = dt.datetime.fromtimestamp(self.wall(), dt.UTC)
            if fired is not None:
                fired_wall = wall_now - dt.timedelta(seconds=now - fired)
                following = next_fire(self._cron, fired_wall, tz)
                while following <= wall_now and missed < 10_000:
                    missed += 1
                    following = next_fire(self._cron, following, tz)
            following = next_fire(self._cron, wall_now, tz)
            due = now + (following - wall_now).total_seconds()
        if missed:
            self._log.warning(
                "the last run went on past the next fire times; skipped, runs never overlap",
                missed=missed,
            )
            self.publish(ScheduleSkipped(schedule=self.schedule.id, missed=missed))
        return due

    async def _load_cursor(self) -> None:
        item = self.schedule
        try:
            stored = await self.offload(functools.partial(self.cursors.load, item.id))
        except (OSError, msgspec.DecodeError) as exc:
            # Starting from no cursor repeats what was found before: the spool deduplicates
            # what it still holds. Refusing to run would stop this schedule for good.
            self._log.error("the stored cursor cannot be read; starting from none", error=str(exc))
            return
        if stored is None:
            return
        if (stored.converter, stored.source) != (item.converter, item.source):
            self._log.warning(
                "the schedule's converter or source changed; its cursor starts again",
                converter=item.converter,
                source=item.source,
            )
            return
        self._cursor = stored.cursor

    async def run_once(self) -> bool:
        """One run: poll, store the reports, then the cursor. True when all of it succeeded;
        a failure is logged and published, never raised."""
        item = self.schedule
        log = self._log
        started = trio.current_time()
        self.runs += 1
        try:
            result = await self.pool.poll(
                schedule_pool_name(item),
                item.source,
                self._cursor,
                scope=item.id,
                wall_limit=item.timeout,
            )
        except (PoolClosed, UnknownConverter) as exc:  # the pool is stopping or being replaced
            return self._failed("unavailable", str(exc), log)
        if not isinstance(result, Converted):
            kind, reason, details = describe_failure(result)
            if details:
                log.debug("details of the failed run", details=details)
            return self._failed(kind, reason, log)
        if result.left_processes:
            log.warning("the converter left processes running; they were killed with its worker")
        items = [
            SpoolItem(
                report_id=str(report.id),
                body=report.wsjf,
                source=SourceInfo(
                    path=f"{item.source}#{report.key}",
                    content_hash=result.sha256,
                    converter=result.converter_name,
                    converter_version=result.converter_version,
                    index=report.index,
                ),
            )
            for report in result.reports
        ]
        new = 0
        if items:
            stored = await self._enqueue(items, log)
            if stored is None:
                return False
            new = stored
            if new:
                self.work_arrived()
        cursor = result.cursor.native if result.cursor is not None else None
        try:
            await self.offload(
                lambda: self.cursors.store(
                    item.id, cursor, converter=item.converter, source=item.source
                )
            )
        except OSError as exc:
            return self._failed("cursor", f"its cursor could not be stored: {exc}", log)
        self._cursor = cursor
        ids = tuple(report.report_id for report in items)
        seconds = trio.current_time() - started
        if not ids:  # the usual run: nothing new; no event, so the bus's history keeps others
            log.debug("schedule ran; nothing new", seconds=round(seconds, 3))
            return True
        log.info("schedule ran", reports=len(ids), new=new, seconds=round(seconds, 3))
        self.publish(
            ScheduleRan(
                schedule=item.id,
                converter=result.converter_name,
                report_ids=ids,
                new_reports=new,
                seconds=seconds,
            )
        )
        return True

    async def _enqueue(self, items: list[SpoolItem], log: _Log) -> int | None:
        """Store the reports, waiting while the spool pauses intake; the number that were
        new, or ``None`` (the run failed; its cursor stays)."""
        while True:
            if self.spool.intake_paused is not None:
                async with stop_requested_cancels() as waiting:
                    await self.spool.wait_intake_open()
                if waiting.cancelled_caught:
                    log.info("stopping while the spool is full; the run is repeated next time")
                    return None
            try:
                outcome = await self.spool.enqueue(items)
            except SpoolFull as exc:
                log.warning("spool full; the run waits for room", error=str(exc))
                if self.spool.intake_paused is None:
                    await trio.sleep(1)  # refused without a pause: do not spin
                continue
            except (ReportIdConflict, ReportTooLarge, SpoolError) as exc:
                self._failed("spool", f"its reports could not be stored: {exc}", log)
                return None
            return len(outcome.inserted)

    def _failed(self, kind: str, reason: str, log: _Log) -> bool:
        log.warning("schedule run failed; its cursor stays", kind=kind, reason=reason)
        self.publish(ScheduleFailed(schedule=self.schedule.id, kind=kind, reason=reason))
        return False


def _local_zone() -> dt.tzinfo:
    """This computer's time zone with its daylight-saving rules (``TZ``, else
    ``/etc/localtime``); a fixed offset when neither can be read."""
    name = os.environ.get("TZ", "").lstrip(":")
    try:
        if name:
            return zoneinfo.ZoneInfo(name)
        with open("/etc/localtime", "rb") as file:
            return zoneinfo.ZoneInfo.from_file(file)
    except (OSError, ValueError, zoneinfo.ZoneInfoNotFoundError):
        zone = dt.datetime.now().astimezone().tzinfo
        assert zone is not None
        return zone


def schedule_spec(
    schedule: Schedule,
    *,
    pool: _PollerLike,
    spool: Spool,
    data_dir: str,
    publish: Callable[[NodeEvent], object],
    work_arrived: Callable[[], None],
) -> ChildSpec:
    """The supervised child that runs ``schedule`` (a run in flight gets its ``timeout`` and
    ten seconds to finish on a stop)."""
    runner = ScheduleRunner(
        schedule,
        pool,
        spool,
        CursorStore(Path(data_dir) / "schedules"),
        publish,
        work_arrived,
    )
    return ChildSpec(
        schedule.id,
        runner.run,
        shutdown=Timeout(schedule.timeout + 10),
        backoff=SCHEDULE_BACKOFF,
    )
