"""The conversion actor: one file from ``FileReady`` to committed reports and a disposed file.

For each file: read its bytes, convert them in a sandboxed worker, store the reports in the
spool (which answers only after the commit is durable), and only then move, delete or mark the
source file. A file that cannot be converted goes to the error folder with its reason. A crash
anywhere before the move leaves the file in place: it is converted again to the same report
ids, and the spool ignores ids it already has. An id the file carried itself (WSJF) that the
spool holds for another file's content is not "already known" but an error: the file goes to
the error folder naming the other file (:class:`ReportIdCollided`), and none of its reports is
stored.

Only the version of a file that was read is converted and disposed of: the bytes must match the
signature the watcher found (inode, device, size, modification time) before and after they are
read, and the disposal checks it again. A file rewritten meanwhile stays in its folder and is
converted again as a new result (:class:`FileChangedMeanwhile`).

A folder unit (``FileReady.unit``, from a ``unit = "folder"`` watch folder) takes the same road:
its files are read and packed into one input (``_units``), checked against the list the watcher
found before and after reading, and the whole unit is moved or deleted as one
(``_unit_disposal``).

Trouble stays with the file that has it. A file that cannot be read, one for which no conversion
could run (:class:`~converters.Unavailable`), and one that cannot be moved, deleted or marked
stay in their folder and are tried again with backoff, that file alone (``_retries``); a folder
whose disposals keep failing is reported degraded (``_folder_status``). None of this stops the
pipeline, another file or another folder.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import trio
from structlog.typing import FilteringBoundLogger

from converters import (
    AUTO_DETECTED,
    ConversionFailure,
    ConversionResult,
    Converted,
    ConverterConfig,
    Crashed,
    PoolClosed,
    Rejected,
    TimedOut,
    Unavailable,
    UnknownConverter,
)

from .._failpoints import failpoint
from .._logging import get_logger
from ..config import NodeConfig, WatchFolder
from ..spool import (
    EnqueueResult,
    ReportIdConflict,
    ReportTooLarge,
    SourceInfo,
    Spool,
    SpoolError,
    SpoolFull,
    SpoolItem,
)
from ._actor import StopSignal
from ._bus import EventBus
from ._disposal import AfterSuccess, SourceChanged, dispose_failure, dispose_success, same_version
from ._file_events import (
    ConverterWorkersBack,
    ConverterWorkersDown,
    FileConverted,
    FileFailed,
    ReportContentChanged,
    ReportIdCollided,
)
from ._folder_status import FolderHealth, WaitingRetry
from ._fs import INLINE_READ_LIMIT, is_local
from ._messages import FileReady, FileSignature
from ._retries import RetrySchedule
from ._trouble import FileTrouble, error_text
from ._unit_disposal import dispose_unit_failure, dispose_unit_success
from ._units import UnitRules, read_unit

__all__ = [
    "FileConverted",
    "FileFailed",
    "Pipeline",
    "converter_for",
    "converter_set",
    "describe_failure",
]


def converter_for(folder: WatchFolder) -> str | None:
    """The pool's name for a folder's converter (``None``: auto-detect)."""
    return None if folder.converter == "auto" else f"watch:{folder.id}"


def converter_set(config: NodeConfig) -> tuple[ConverterConfig, ...]:
    """The converters the pool loads: the built-ins for auto-detection (those disabled in
    ``[conversion] disabled`` only to explain a refusal), the plug-ins of
    ``[conversion] plugins``, and one configuration per folder that names its converter (each
    with that folder's arguments, used by name only).

    The built-in CSV converter gets the station's name (``node.station_name``, else this
    computer's host name) as its default ``machineName``, unless a folder's arguments set one.
    """
    station = config.node.station_name or socket.gethostname()
    disabled = set(config.conversion.disabled)
    configs: list[ConverterConfig] = []
    for builtin in AUTO_DETECTED:
        args = _csv_station({}, station) if builtin == "csv" else {}
        detection: Literal["on", "hint"] = "hint" if builtin in disabled else "on"
        configs.append(ConverterConfig(builtin, args=args, detection=detection))
    configs += [ConverterConfig(ref) for ref in config.conversion.plugins]
    for folder in config.watch:
        name = converter_for(folder)
        if name is not None:
            args = dict(folder.converter_args)
            if folder.converter == "csv":
                args = _csv_station(args, station)
            configs.append(ConverterConfig(folder.converter, name=name, args=args, detection="off"))
    return tuple(configs)


def _csv_station(args: dict[str, object], station: str) -> dict[str, object]:
    """CSV arguments with ``defaults.station`` filled in when the mapping leaves it out."""
    defaults = args.get("defaults")
    if defaults is None:
        return {**args, "defaults": {"station": station}}
    if isinstance(defaults, dict) and "station" not in defaults:
        return {**args, "defaults": {**defaults, "station": station}}
    return args


class _PoolLike(Protocol):
    """What the pipeline needs from the converter pool."""

    async def convert(
        self, data: bytes, name: str, converter: str | None = None
    ) -> ConversionResult: ...


_ConfigSource = Callable[[], NodeConfig]
_Callback = Callable[[], None]
_Log = FilteringBoundLogger


def describe_failure(result: ConversionFailure | Unavailable) -> tuple[str, str, str | None]:
    """``(kind, reason, details)`` of a failed conversion, for the error sidecar."""
    if isinstance(result, Rejected):
        where = f" at {result.where}" if result.where else ""
        return "rejected", f"{result.reason}{where}", result.detail
    if isinstance(result, Crashed):
        return "crashed", result.description, result.stderr or None
    if isinstance(result, TimedOut):
        what = "wall-clock time" if result.clock == "wall" else "CPU time"
        reason = f"took more than {result.limit:g} s of {what}"
        return "timed_out", f"{reason}; raise [conversion] {result.setting}", result.stderr or None
    if isinstance(result, Unavailable):
        return "unavailable", result.reason, None
    what = "resident memory" if result.limit == "rss" else "address space"
    return (
        "out_of_memory",  # the node sets the address space from memory_mb too
        f"needed more than {result.limit_bytes // (1 << 20)} MiB of {what}; "
        "raise [conversion] memory_mb",
        result.stderr or None,
    )


@dataclass
class Pipeline:
    """Turns ``FileReady`` messages into spooled reports and disposed files.

    Attributes:
        config: returns the current configuration (folders are looked up per file).
        spool: the open spool.
        pool: the converter pool.
        bus: where events go.
        work_arrived: called after new reports are committed (wakes the uploader).
        health: the per-folder record (owned by the node, so it outlives this pipeline).
    """

    config: _ConfigSource
    spool: Spool
    pool: _PoolLike
    bus: EventBus
    work_arrived: _Callback
    health: FolderHealth = field(default_factory=FolderHealth)
    _local: dict[str, bool] = field(default_factory=dict, init=False, repr=False)
    _stop: StopSignal = field(default_factory=StopSignal, init=False, repr=False)
    _busy: set[tuple[str, FileSignature]] = field(default_factory=set, init=False, repr=False)
    _workers_down: bool = field(default=False, init=False, repr=False)
    _retries: RetrySchedule = field(init=False, repr=False)
    _trouble: FileTrouble = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.health.publish is None:
            self.health.publish = self.bus.publish
        self._retries = RetrySchedule(self.health, self._stop)
        self._trouble = FileTrouble(self.bus, self.health, self._retries)

    async def _on_local_disk(self, folder: WatchFolder) -> bool:
        """Whether the folder is on a local file system (cached per path; see ``_fs``)."""
        local = self._local.get(folder.path)
        if local is None:
            local = await trio.to_thread.run_sync(is_local, folder.path)
            self._local[folder.path] = local
        return local

    def workers_changed(self, reason: str | None) -> None:
        """The converter pool's ``on_workers``: no worker can start (*reason*), or one can
        again (``None``: the files waiting for a converter are retried at once)."""
        log = get_logger(actor="conversion/pipeline")
        self._workers_down = reason is not None
        if reason is not None:
            log.warning(
                "no converter worker can start; conversion waits, files stay in their folders",
                reason=reason,
            )
            self.bus.publish(ConverterWorkersDown(reason=reason))
            return
        waiting = self._retries.hurry("converter")
        log.info("converter workers start again; conversion goes on", files_waiting=waiting)
        self.bus.publish(ConverterWorkersBack())

    async def run(
        self,
        files: trio.MemoryReceiveChannel[FileReady],
        concurrency: int,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Process files with *concurrency* tasks until the channel ends or a stop request.

        On a stop request no new file is taken; files being processed finish, except one
        waiting for the spool to resume intake (it stays in its folder). Files waiting for a
        retry stay in their folders; their schedule stays in the node's record
        (``health.retries``), and the next pipeline of this node resumes it when it starts.
        """
        stop = self._stop
        async with trio.open_nursery() as nursery:
            await nursery.start(stop.watch)
            async with trio.open_nursery() as retries:
                self._retries.attach(retries)
                resumed = self._retries.resume(self._resumed)
                if resumed:
                    get_logger(actor="conversion/pipeline").info(
                        "resuming the retries of files waiting since before a restart",
                        files=resumed,
                    )
                async with trio.open_nursery() as workers:
                    for _ in range(concurrency):
                        workers.start_soon(self._worker, files, stop)
                    task_status.started()
                self._retries.close()
            nursery.cancel_scope.cancel()

    async def _worker(self, files: trio.MemoryReceiveChannel[FileReady], stop: StopSignal) -> None:
        while not stop.requested:
            with stop.waiting() as waiting:
                try:
                    ready = await files.receive()
                except (trio.EndOfChannel, trio.ClosedResourceError):
                    return
            if waiting.cancelled_caught:
                return
            await self.process(ready)

    async def process(self, ready: FileReady) -> None:
        """Convert, spool and dispose of one file. Never raises for a bad file."""
        if self._retries.waiting(ready):
            return  # this version waits for its retry already
        await self._process(ready, tries=0)

    async def _process(self, ready: FileReady, *, tries: int) -> None:
        """One try at a file; *tries* is how many earlier tries could not read or convert it."""
        log = get_logger(actor="conversion/pipeline", source=ready.path, folder=ready.folder)
        folder = _folder(self.config(), ready.folder)
        if folder is None:
            log.info("watch folder was removed from the configuration; file left in place")
            return
        key = (ready.path, ready.signature)
        if key in self._busy:
            return  # this version is being processed already
        self._busy.add(key)
        try:
            await self._convert(ready, folder, tries, log)
        finally:
            self._busy.discard(key)

    def _resumed(self, record: WaitingRetry) -> Callable[[], Awaitable[None]]:
        """The retry of a file an earlier pipeline left waiting: read and convert it again
        (a file waiting for its disposal is converted again too: its reports are in the spool
        already, so that stores nothing, and it is then disposed of)."""
        tries = 0 if record.trouble == "disposal" else record.attempt
        return self._again(record.ready, tries)

    def _again(self, ready: FileReady, tries: int) -> Callable[[], Awaitable[None]]:
        """Another try at the whole file (read and convert), after *tries* failed ones."""
        return functools.partial(self._process, ready, tries=tries)

    async def _convert(self, ready: FileReady, folder: WatchFolder, tries: int, log: _Log) -> None:
        limit = self.config().conversion.max_input_mb
        if ready.signature.size > limit << 20:  # refused unread: the node never holds it
            reason = (
                f"the file is {ready.signature.size / (1 << 20):.1f} MiB; the limit is "
                f"{limit} MiB ([conversion] max_input_mb)"
            )
            await self._fail_with(
                ready, folder, "rejected", reason, converter_for(folder), None, log
            )
            return
        local = await self._on_local_disk(folder)
        try:
            if ready.unit is not None:  # a folder unit: its files packed as one input
                read = functools.partial(read_unit, ready, Path(folder.path), UnitRules.of(folder))
                data = await trio.to_thread.run_sync(read)
            elif local and ready.signature.size <= INLINE_READ_LIMIT:
                # faster than a thread hop; cannot hang on a local disk
                data = _read_version(ready.path, ready.signature)
            else:
                data = await trio.to_thread.run_sync(_read_version, ready.path, ready.signature)
        except FileNotFoundError:
            self._trouble.forget(ready)  # moved away meanwhile
            return
        except SourceChanged:
            self._trouble.forget(ready)  # its new version is offered by the watcher
            self._trouble.changed(ready, "read", log)
            return
        except OSError as exc:
            self._trouble.unreadable(
                ready, error_text(exc), tries + 1, log, self._again(ready, tries + 1)
            )
            return
        self.health.settled(ready.folder, ready.path, "read")
        name = os.path.basename(ready.path)
        try:
            result = await self.pool.convert(data, name, converter_for(folder))
        except (PoolClosed, UnknownConverter) as exc:  # the pool is stopping or being replaced
            self._trouble.unavailable(
                ready, str(exc), tries + 1, log, self._again(ready, tries + 1)
            )
            return
        if isinstance(result, Unavailable):
            self._trouble.unavailable(
                ready,
                result.reason,
                tries + 1,
                log,
                self._again(ready, tries + 1),
                quiet=self._workers_down,
            )
            return
        self.health.settled(ready.folder, ready.path, "converter")
        if isinstance(result, Converted | Rejected) and result.left_processes:
            log.warning(
                "the converter left processes running; they were killed with its worker, "
                "which was replaced",
                converter=result.converter,
            )
        if isinstance(result, Converted):
            await self._store(ready, folder, result, log, local=local, tries=tries)
        else:
            await self._fail(ready, folder, result, log)

    async def _store(
        self,
        ready: FileReady,
        folder: WatchFolder,
        result: Converted,
        log: _Log,
        *,
        local: bool,
        tries: int = 0,
    ) -> None:
        items = [
            SpoolItem(
                report_id=str(report.id),
                body=report.wsjf,
                source=SourceInfo(
                    path=ready.path,
                    content_hash=result.sha256,
                    converter=result.converter_name,
                    converter_version=result.converter_version,
                    index=report.index,
                    kept_id=report.kept_source_id,
                ),
            )
            for report in result.reports
        ]
        outcome = await self._enqueue(ready, folder, result, items, log, tries)
        if outcome is None:
            return
        if outcome.inserted:
            self.work_arrived()
        self._known_to_server(ready, result, outcome, log)
        failpoint("pipeline.committed")
        action = AfterSuccess(folder.after_success)
        dispose: Callable[[], Path | None]
        if ready.unit is not None:
            rules = UnitRules.of(folder)
            dispose = functools.partial(
                dispose_unit_success, ready, Path(folder.path), rules, action, folder.done_folder
            )
        else:
            dispose = functools.partial(
                dispose_success, ready, Path(folder.path), action, folder.done_folder
            )
        done, moved = await self._trouble.dispose(
            ready, dispose, action.value, 0, log, inline=local and ready.unit is None
        )
        ids = tuple(item.report_id for item in items)
        log.info(
            "file converted",
            converter=result.converter,
            reports=len(ids),
            new=len(outcome.inserted),
            report_id=ids[0] if len(ids) == 1 else None,
        )
        self.bus.publish(
            FileConverted(
                folder=ready.folder,
                source=ready.path,
                converter=result.converter,
                report_ids=ids,
                new_reports=len(outcome.inserted),
                disposed_to=str(moved) if done == "done" and moved is not None else None,
            )
        )

    def _known_to_server(
        self, ready: FileReady, result: Converted, outcome: EnqueueResult, log: _Log
    ) -> None:
        """Say which of the file's reports the server already has (they are not uploaded
        again), and warn about those that came again with other content."""
        changed = set(outcome.content_changed)
        for report_id in outcome.content_changed:
            log.warning(
                "the server already has this report id with other content; the file's report "
                "is not uploaded",
                report_id=report_id,
                converter=result.converter,
            )
            self.bus.publish(
                ReportContentChanged(
                    folder=ready.folder,
                    source=ready.path,
                    report_id=report_id,
                    converter=result.converter,
                )
            )
        same = [report_id for report_id in outcome.already_sent if report_id not in changed]
        if same:
            log.info(
                "already on the server; not uploaded again",
                reports=len(same),
                report_id=same[0] if len(same) == 1 else None,
            )

    async def _enqueue(
        self,
        ready: FileReady,
        folder: WatchFolder,
        result: Converted,
        items: list[SpoolItem],
        log: _Log,
        tries: int = 0,
    ) -> EnqueueResult | None:
        """Store the reports, waiting while the spool pauses intake; ``None``: not stored (the
        file went to error/, a stop request ended the wait and the file stays, or the spool
        failed — a disk error — and the file stays to be tried again after a backoff)."""
        while True:
            if self.spool.intake_paused is not None:
                with self._stop.waiting() as waiting:
                    await self.spool.wait_intake_open()
                if waiting.cancelled_caught:
                    log.info("stopping while the spool is full; file left in place")
                    return None
            try:
                return await self.spool.enqueue(items)
            except ReportIdConflict as exc:
                await self._id_conflict(ready, folder, result, exc, log)
                return None
            except ReportTooLarge as exc:
                reason = (
                    f"its reports are {exc.size} bytes, more than the whole spool may hold "
                    f"({exc.maximum} bytes); raise [spool] max_bytes to take it"
                )
                await self._fail_with(
                    ready, folder, "too_large", reason, result.converter, None, log
                )
                return None
            except SpoolFull as exc:
                if self.config().spool.when_full == "error":
                    await self._fail_with(ready, folder, "spool_full", str(exc), None, None, log)
                    return None
                log.warning("spool full; waiting for room", error=str(exc))
                if self.spool.intake_paused is None:
                    await trio.sleep(1)  # refused without a pause: do not spin
            except SpoolError as exc:  # the disk failed under the spool: not the file's fault
                self._trouble.unavailable(
                    ready,
                    f"the spool could not store its reports: {exc}",
                    tries + 1,
                    log,
                    self._again(ready, tries + 1),
                    message="the spool could not store the file's reports; the file stays and "
                    "is tried again",
                )
                return None

    async def _id_conflict(
        self,
        ready: FileReady,
        folder: WatchFolder,
        result: Converted,
        conflict: ReportIdConflict,
        log: _Log,
    ) -> None:
        """A report id the file carried is held by another report: none of its reports was
        stored; warn naming both files, publish :class:`ReportIdCollided`, and move the file
        to error/ (kind ``id_conflict``) with the spool's reason."""
        log.warning(
            "the file carries a report id that another report holds; none of its reports is "
            "stored, the file goes to error/",
            report_id=conflict.report_id,
            holder=conflict.holder_path,
            holder_state=conflict.holder_state,
            holder_content_hash=conflict.holder_content_hash,
            content_hash=result.sha256,
            converter=result.converter,
        )
        self.bus.publish(
            ReportIdCollided(
                folder=ready.folder,
                source=ready.path,
                report_id=conflict.report_id,
                converter=result.converter,
                holder=conflict.holder_path,
                holder_state=conflict.holder_state,
            )
        )
        await self._fail_with(
            ready, folder, "id_conflict", str(conflict), result.converter, None, log
        )

    async def _fail(
        self, ready: FileReady, folder: WatchFolder, result: ConversionFailure, log: _Log
    ) -> None:
        kind, reason, details = describe_failure(result)
        await self._fail_with(ready, folder, kind, reason, result.converter, details, log)

    async def _fail_with(
        self,
        ready: FileReady,
        folder: WatchFolder,
        kind: str,
        reason: str,
        converter: str | None,
        traceback: str | None,
        log: _Log,
    ) -> None:
        dispose: Callable[[], Path | None]
        if ready.unit is not None:
            dispose = functools.partial(
                dispose_unit_failure,
                ready,
                Path(folder.path),
                UnitRules.of(folder),
                kind=kind,
                reason=reason,
                converter=converter,
                traceback=traceback,
                error_dir=folder.error_folder,
            )
        else:
            dispose = functools.partial(
                dispose_failure,
                ready,
                Path(folder.path),
                kind=kind,
                reason=reason,
                converter=converter,
                traceback=traceback,
                error_dir=folder.error_folder,
            )
        done, moved = await self._trouble.dispose(ready, dispose, "error", 0, log, inline=False)
        if done == "changed":
            return  # the version that failed is gone; the new one gets its own chance
        log.warning("file failed", kind=kind, reason=reason, converter=converter)
        self.bus.publish(
            FileFailed(
                folder=ready.folder,
                source=ready.path,
                kind=kind,
                reason=reason,
                converter=converter,
                moved_to=str(moved) if done == "done" and moved is not None else None,
            )
        )


def _read_version(path: str, expected: FileSignature) -> bytes:
    """The file's bytes, if they are the version *expected* describes, whole.

    The open file is compared with *expected* before and after reading it, and the bytes read
    must be as many as its size: a file replaced or written to since it was found stable, or
    while it was read, raises :class:`SourceChanged`.
    """
    with open(path, "rb") as f:
        before = os.fstat(f.fileno())
        if not same_version(expected, before):
            raise SourceChanged(Path(path), FileSignature.from_stat(before))
        data = f.read()
        after = os.fstat(f.fileno())
    if len(data) != expected.size or not same_version(expected, after):
        raise SourceChanged(Path(path), FileSignature.from_stat(after))
    return data


def _folder(config: NodeConfig, folder_id: str) -> WatchFolder | None:
    for folder in config.watch:
        if folder.id == folder_id:
            return folder
    return None
