"""The spool's async API for trio actors, and ``open_spool``.

The :class:`Spool` object lives on the trio thread. Writes and claims go to the writer thread
(:mod:`._writer`) and come back after the commit; operator queries run on a read-only connection
in a worker thread; intake pause/resume is decided here, from the counters the writer publishes
after every commit.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import trio

from .._logging import get_logger
from ._counters import Counters, make_statistics
from ._errors import (
    InvalidTransition,
    SpoolClosed,
    SpoolCorrupt,
    SpoolDiskFull,
    SpoolError,
    SpoolFull,
    SpoolIOError,
    UnknownReport,
)
from ._filecheck import FileCheck
from ._files import free_bytes
from ._intake import IntakeGate, SpoolObserver, Usage
from ._reader import SpoolReader
from ._settings import SpoolSettings
from ._store import Store
from ._types import (
    ClaimedReport,
    EnqueueResult,
    PauseReason,
    QuarantinedRow,
    ReportPage,
    ReportRecord,
    ReportState,
    RetentionResult,
    SourceInfo,
    SpoolItem,
    SpoolStatistics,
    StartupReport,
    canonical_report_id,
)
from ._writer import Writer

__all__ = ["Spool", "open_spool"]

T = TypeVar("T")

_RETENTION_CHUNK = 500
_VACUUM_PAGES = 4096
_CLOSE_TIMEOUT = 30.0


class Spool:
    """The durable spool of one node. Get one from :func:`open_spool`.

    Every method that writes returns only after the change is committed and fsynced; every
    method that raises changed nothing. Report ids may be given in any GUID spelling.
    """

    def __init__(
        self,
        path: Path,
        settings: SpoolSettings,
        clock: Callable[[], float],
        observers: Iterable[SpoolObserver],
    ) -> None:
        self.path = path
        self.settings = settings
        self._clock = clock
        self._log = get_logger(component="spool", spool=str(path))
        self._intake = IntakeGate(settings, clock, observers, self._log)
        self._writer = Writer(
            path, settings, clock, self._after_batch, on_quarantine=self._row_quarantined
        )
        self._reader: SpoolReader | None = None
        self._read_limiter = trio.CapacityLimiter(1)
        self._closing = False
        self._startup: StartupReport | None = None
        self._checking: FileCheck | None = None  # the background check of the file

    @property
    def startup(self) -> StartupReport:
        """What opening the spool found: new file, migrations, quarantined rows, retention."""
        assert self._startup is not None
        return self._startup

    @property
    def _store(self) -> Store:
        store = self._writer.store
        if store is None:  # pragma: no cover - open_spool never hands out an unopened spool
            raise SpoolClosed(f"the spool {self.path} is not open")
        return store

    # -- intake -------------------------------------------------------------------------------

    async def enqueue(self, items: Iterable[SpoolItem]) -> EnqueueResult:
        """Store reports durably; idempotent by report id.

        The call returns after the transaction holding these reports is committed with
        ``synchronous=FULL`` (the WAL is fsynced): only then may the source file be moved.
        Calls that arrive while a commit is in flight are committed together in the next
        transaction (group commit). Ids already in the spool, in any state, are reported as
        duplicates and nothing is inserted for them; but an id kept from its source
        (``SourceInfo.kept_id``) that the spool holds for other content refuses the whole call.

        Raises:
            ReportIdConflict: a report id kept from its source is held by another report (see
                :class:`ReportIdConflict`); nothing of the call was stored.
            SpoolFull: the size limit is reached; nothing was stored and intake is paused.
            SpoolDiskFull: the disk is full or below the reserve; nothing was stored and intake
                is paused until space is free again.
            ReportTooLarge: these reports can never fit the size limit.
            SpoolIOError: the disk failed; nothing was stored.
            SpoolClosed: the spool is closed.
            ValueError: a report id is not a GUID.
            TypeError: a body is not non-empty ``bytes`` or a source is not a SourceInfo.

        Cancellation: the reports may or may not have been stored. Calling again with the same
        items is safe: they are inserted at most once.
        """
        batch = tuple(items)
        for item in batch:
            canonical_report_id(item.report_id)
            if not isinstance(item.body, bytes) or not item.body:
                raise TypeError(f"report {item.report_id}: body must be non-empty bytes")
            if not isinstance(item.source, SourceInfo):
                raise TypeError(f"report {item.report_id}: source must be a SourceInfo")
        if not batch:
            return EnqueueResult(inserted=(), duplicates=())
        result = await self._write(self._store.enqueue, batch)
        for rid in result.content_changed:
            item = next(i for i in batch if canonical_report_id(i.report_id) == rid)
            self._log.warning(
                "spool: an acknowledged report id came again with other content; not sent",
                report_id=rid,
                file=item.source.path,
                content_hash=item.source.content_hash,
            )
        return result

    @property
    def intake_paused(self) -> PauseReason | None:
        """Why the node should not take new files now, or ``None`` when it may."""
        return self._intake.paused

    async def wait_intake_open(self) -> None:
        """Return at once if intake is open, else when the spool resumes it.

        Cancellation: safe; nothing happens.
        """
        await self._intake.wait_open()

    # -- uploader -----------------------------------------------------------------------------

    async def claim(self, limit: int = 1) -> tuple[ClaimedReport, ...]:
        """Take up to *limit* due pending reports, oldest first, that no other upload in this
        process holds. Each must later be marked (sent, retry, rejected) or released.

        Raises:
            SpoolClosed: the spool is closed.
            ValueError: *limit* is below 1.

        Cancellation: the claim is undone; nothing is held.
        """
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        store = self._store
        return await self._writer.call(
            store.claim,
            limit,
            write=False,
            on_abandon=lambda claimed: store.release([c.report_id for c in claimed]),
        )

    async def mark_sent(self, report_id: str, *, answer: str | None = None) -> None:
        """Record that the server took the report (pending → sent), with its *answer*.

        Marking a sent report again changes nothing. The claim is released either way.

        Raises:
            UnknownReport: no such report (an operator purged it).
            InvalidTransition: the report is rejected.
            SpoolDiskFull, SpoolIOError: nothing was recorded; the report stays pending and a
                later upload sends it again (the server keeps one copy per id).

        Cancellation: the mark may or may not be recorded; the claim is released.
        """
        await self._mark(self._store.mark_sent, report_id, answer)

    async def mark_sent_many(
        self, marks: Sequence[tuple[str, str | None]]
    ) -> list[tuple[str, UnknownReport | InvalidTransition]]:
        """:meth:`mark_sent` for many reports at once: ``(report id, answer)`` pairs, one trip
        to the writer and one transaction. Every claim is released.

        Returns:
            The ids that were not marked because an operator purged them (``UnknownReport``)
            or they are rejected (``InvalidTransition``), each with its error; the others are
            marked.

        Raises:
            SpoolDiskFull, SpoolIOError: nothing was recorded; the reports stay pending and a
                later upload sends them again (the server keeps one copy per id).

        Cancellation: the marks may or may not be recorded; the claims are released.
        """
        canonical = [(canonical_report_id(rid), answer) for rid, answer in marks]
        try:
            if not canonical:
                return []
            return await self._write(self._store.mark_sent_many, canonical)
        finally:
            self._store.release([rid for rid, _ in canonical])

    async def mark_retry(self, report_id: str, *, delay: float, error: str) -> None:
        """Record a failed attempt: one attempt more, *error* kept, due again in *delay* seconds
        (wall clock, so it survives a restart).

        Raises:
            UnknownReport, InvalidTransition: the report is gone or no longer pending.
            SpoolDiskFull, SpoolIOError: nothing was recorded.
            ValueError: *delay* is negative or not finite.

        Cancellation: the mark may or may not be recorded; the claim is released.
        """
        if not (delay >= 0 and math.isfinite(delay)):
            raise ValueError(f"delay must be a finite number of seconds >= 0, got {delay}")
        await self._mark(self._store.mark_retry, report_id, delay, error)

    async def mark_rejected(self, report_id: str, *, error: str) -> None:
        """Record that the server refused the report for good (pending → rejected), keeping
        its message for an operator. Rejecting again changes nothing.

        Raises:
            UnknownReport, InvalidTransition: the report is gone or already sent.
            SpoolDiskFull, SpoolIOError: nothing was recorded.

        Cancellation: the mark may or may not be recorded; the claim is released.
        """
        await self._mark(self._store.mark_rejected, report_id, error)

    def release(self, *report_ids: str) -> None:
        """Give claims back without recording anything (an upload was cancelled): the reports
        are due again at once. Unknown or unclaimed ids are ignored."""
        self._store.release([canonical_report_id(rid) for rid in report_ids])

    def release_all(self) -> None:
        """Give back every claim of this process (a restarted uploader starts clean)."""
        store = self._store
        with store.claim_lock:
            store.claimed.clear()

    async def _mark(self, fn: Callable[..., None], report_id: str, *args: Any) -> None:
        rid = canonical_report_id(report_id)
        try:
            await self._write(fn, rid, *args)
        finally:
            self._store.release([rid])

    # -- operator -----------------------------------------------------------------------------

    async def retry(self, report_id: str) -> None:
        """Make a rejected (or pending) report due now, with its attempt count back to 0.

        Raises:
            UnknownReport: no such report.
            InvalidTransition: the report was sent.
            SpoolDiskFull, SpoolIOError: nothing changed.

        Cancellation: the change may or may not be recorded; calling again is harmless.
        """
        await self._write(self._store.retry, canonical_report_id(report_id))

    async def purge(
        self,
        *,
        report_ids: Iterable[str] | None = None,
        state: ReportState | None = None,
        older_than: float | None = None,
    ) -> int:
        """Delete the reports that match every given filter, for good; return how many.

        Reports claimed by an upload in flight are skipped. Purging pending reports loses them
        (their source files are already in ``done/``): only an operator should ask for that.

        Args:
            report_ids: only these reports.
            state: only reports in this state.
            older_than: only reports last enqueued, marked or retried at least this many
                seconds ago (``updated_at``).

        Raises:
            ValueError: no filter was given (purging everything must be explicit: pass every
                state in turn), or an id is not a GUID.

        Cancellation: the purge may or may not have happened.
        """
        ids = None if report_ids is None else tuple(canonical_report_id(r) for r in report_ids)
        if ids is None and state is None and older_than is None:
            raise ValueError("purge needs report_ids, state or older_than")
        if older_than is not None and not older_than >= 0:
            raise ValueError(f"older_than must be >= 0 seconds, got {older_than}")
        purged = await self._write(self._store.purge, ids, state, older_than)
        if purged:
            await self._vacuum()
        return purged

    async def list_reports(
        self,
        *,
        state: ReportState | None = None,
        after: int | None = None,
        limit: int = 50,
        created_after: float | None = None,
        created_before: float | None = None,
        newest_first: bool = False,
    ) -> ReportPage:
        """One page of reports without bodies; see :meth:`SpoolReader.list_reports`.

        Runs on a read-only connection in a worker thread, so it never delays writes.

        Cancellation: waits for the query to finish, then raises.
        """
        return await self._read(
            lambda r: r.list_reports(
                state=state,
                after=after,
                limit=limit,
                created_after=created_after,
                created_before=created_before,
                newest_first=newest_first,
            )
        )

    async def show(self, report_id: str) -> ReportRecord:
        """One report with its body.

        Raises:
            UnknownReport: no such report.

        Cancellation: waits for the query to finish, then raises.
        """
        return await self._read(lambda r: r.show(report_id))

    async def quarantined(self) -> tuple[QuarantinedRow, ...]:
        """Rows moved to quarantine by start-up checks (this one and earlier ones).

        Cancellation: waits for the query to finish, then raises.
        """
        return await self._read(lambda r: r.quarantined())

    def statistics(self) -> SpoolStatistics:
        """A snapshot as of the last commit (counts, bytes, group-commit counters, intake)."""
        return make_statistics(
            self._writer.counters(),
            now=self._clock(),
            claimed=self._store.claimed_count(),
            intake_paused=self._intake.paused,
            settings=self.settings,
        )

    # -- retention ----------------------------------------------------------------------------

    async def run_retention(self) -> RetentionResult:
        """Drop the bodies of sent reports older than ``sent_body_days`` and delete sent rows
        older than ``sent_metadata_days`` now, in small transactions. The spool also runs this
        at start and every ``retention_interval`` seconds.

        Cancellation: the chunks committed so far stay done; the next pass does the rest.
        """
        total = RetentionResult()
        while True:
            step = await self._write(self._store.retention_step, _RETENTION_CHUNK)
            total = RetentionResult(
                bodies_dropped=total.bodies_dropped + step.bodies_dropped,
                rows_deleted=total.rows_deleted + step.rows_deleted,
                acknowledged_forgotten=total.acknowledged_forgotten + step.acknowledged_forgotten,
            )
            if max(step.bodies_dropped, step.rows_deleted, step.acknowledged_forgotten) < (
                _RETENTION_CHUNK
            ):
                break
        if total != RetentionResult():
            self._log.info(
                "spool retention",
                bodies_dropped=total.bodies_dropped,
                rows_deleted=total.rows_deleted,
                acknowledged_forgotten=total.acknowledged_forgotten,
            )
            await self._vacuum()
        return total

    async def _vacuum(self) -> None:
        try:
            await self._write(self._store.vacuum_step, _VACUUM_PAGES)
        except (SpoolFull, SpoolIOError) as exc:  # best effort: free pages are reused anyway
            self._log.warning("spool vacuum skipped", error=str(exc))

    # -- plumbing -----------------------------------------------------------------------------

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await self._writer.call(fn, *args)
        except SpoolDiskFull:
            self._intake.pause(PauseReason.DISK_FULL, self._usage())
            raise
        except SpoolFull:
            self._intake.pause(PauseReason.SIZE_LIMIT, self._usage())
            raise

    async def _read(self, fn: Callable[[SpoolReader], T]) -> T:
        reader = self._reader
        if reader is None or self._closing:
            raise SpoolClosed(f"the spool {self.path} is closed")
        return await trio.to_thread.run_sync(fn, reader, limiter=self._read_limiter)

    def _usage(self) -> Usage:
        counters = self._writer.counters()
        return counters.unsent_bytes, counters.unsent_rows

    def _after_batch(self, counters: Counters) -> None:
        self._intake.committed((counters.unsent_bytes, counters.unsent_rows))

    def _row_quarantined(self, row: QuarantinedRow) -> None:  # on the writer thread
        self._log.warning("spool row quarantined", report_id=row.report_id, reason=row.reason)

    async def _retention_loop(self) -> None:
        while True:
            await trio.sleep(self.settings.retention_interval)
            try:
                await self.run_retention()
            except (SpoolFull, SpoolIOError) as exc:
                self._log.warning("spool retention failed; trying again later", error=str(exc))

    async def _watch_writer(self) -> None:
        await self._writer.exited.wait()
        if not self._closing:
            fatal = self._writer.fatal
            if isinstance(fatal, SpoolError):
                raise fatal
            raise SpoolClosed(f"the spool writer for {self.path} stopped") from fatal

    async def _check_file(self) -> None:
        """Run ``quick_check`` in the background (see :mod:`._filecheck`): a damaged file
        stops the writer as damage met while running does (every call then fails with
        :class:`SpoolClosed`, and the block ends with :class:`SpoolCorrupt`)."""
        if self.startup.created:
            return
        check = FileCheck(self.path, busy_timeout=self.settings.busy_timeout)
        self._checking = check
        problems = await check.run()
        if problems not in (["ok"], []):
            self._log.error("spool file damaged", problems=problems[:3])
            self._writer.fail(SpoolCorrupt(self.path, problems))

    async def _open(self) -> None:
        started = time.monotonic()
        try:
            startup = await self._writer.start()
        except BaseException:
            with trio.CancelScope(shield=True):
                await self._writer.exited.wait()
            raise
        try:
            self._reader = await trio.to_thread.run_sync(
                lambda: SpoolReader(self.path, busy_timeout=self.settings.busy_timeout)
            )
            retention: RetentionResult | None = None
            try:
                retention = await self.run_retention()
            except (SpoolFull, SpoolIOError):
                # a node must start on a full disk: uploading and purging is how it gets room
                self._log.warning("spool retention skipped at start: the disk is full")
        except BaseException:
            await self._close()
            raise
        self._startup = msgspec.structs.replace(
            startup, retention=retention, open_seconds=time.monotonic() - started
        )
        usage = self._usage()
        if self._intake.at_limit(usage):
            self._intake.pause(PauseReason.SIZE_LIMIT, usage)
        free = await trio.to_thread.run_sync(free_bytes, self.path.parent)
        if free < self.settings.reserve_free_bytes:
            self._intake.pause(PauseReason.DISK_FULL, usage)

    async def _close(self) -> None:
        # The reader goes first, so that the writer's connection is the last one and SQLite
        # checkpoints the WAL into the database file and removes it.
        self._closing = True
        if self._checking is not None:  # an interrupted check closes its connection first
            checking, self._checking = self._checking, None
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(checking.wait_closed, _CLOSE_TIMEOUT)
        if self._reader is not None:
            reader, self._reader = self._reader, None
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(reader.close, limiter=self._read_limiter)
        self._writer.stop()
        with trio.move_on_after(_CLOSE_TIMEOUT) as scope:
            scope.shield = True
            await self._writer.exited.wait()


def _absolute(path: str | os.PathLike[str]) -> Path:
    # getcwd only: no disk I/O, so it is fine on the trio thread; errors then name a full path
    return Path(path).absolute()


@asynccontextmanager
async def open_spool(
    path: str | os.PathLike[str],
    settings: SpoolSettings | None = None,
    *,
    clock: Callable[[], float] = time.time,
    observers: Iterable[SpoolObserver] = (),
) -> AsyncIterator[Spool]:
    """Open (or create) the spool at *path* for the length of an ``async with`` block.

    On entry the writer thread opens the database and migrates the schema, then retention runs;
    the block starts once that is done (see :attr:`Spool.startup`). None of it works row by
    row, so a spool opens as fast with a million rows as with ten. ``PRAGMA quick_check`` runs
    in the background while the block runs, and each row is checked when it is claimed. On
    exit, queued calls finish, the database is closed and the writer's lock is released.

    Args:
        path: the database file; its directory must exist. ``<path>-wal``, ``<path>-shm`` and
            ``<path>.lock`` live next to it.
        settings: limits, retention and tuning; the defaults otherwise.
        clock: the wall clock in epoch seconds (created/next-attempt/sent times, retention ages);
            injectable for tests. Timers (retention interval, disk probe) use trio's clock.
        observers: called with :class:`IntakePaused` / :class:`IntakeResumed` events.

    Raises:
        SpoolCorrupt: the file is damaged or not a spool (the message says what to do).
        SpoolLocked: another process has the spool open.
        SpoolVersionError: the file is newer than this code.
        SpoolIOError: the file cannot be opened or written.
        ValueError: *settings* break their constraints.

    If the writer thread dies while the block runs (the database turned out corrupt, by the
    background check or by a call that met the damage), the block is cancelled and the error
    leaves the ``async with`` inside an ``ExceptionGroup``, as with any trio nursery.
    """
    checked = msgspec.convert(msgspec.to_builtins(settings or SpoolSettings()), SpoolSettings)
    spool = Spool(_absolute(path), checked, clock, observers)
    await spool._open()
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(spool._watch_writer)
            nursery.start_soon(spool._check_file)
            nursery.start_soon(spool._retention_loop)
            nursery.start_soon(spool._intake.probe_disk, spool.path.parent, spool._usage)
            try:
                yield spool
            finally:
                spool._closing = True
                nursery.cancel_scope.cancel()
    finally:
        await spool._close()
