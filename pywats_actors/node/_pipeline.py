"""The conversion actor: one file from ``FileReady`` to committed reports and a disposed file.

For each file: read its bytes, convert them in a sandboxed worker, store the reports in the
spool (which answers only after the commit is durable), and only then move, delete or mark the
source file. A file that cannot be converted goes to the error folder with its reason. A crash
anywhere before the move leaves the file in place: it is converted again to the same report
ids, and the spool ignores ids it already has.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

import trio
from structlog.typing import FilteringBoundLogger

from converters import (
    ConversionFailure,
    ConversionResult,
    Converted,
    ConverterConfig,
    Crashed,
    Rejected,
    TimedOut,
)

from .._failpoints import failpoint
from .._logging import get_logger
from ..config import NodeConfig, WatchFolder
from ..spool import SourceInfo, Spool, SpoolFull, SpoolItem
from ._actor import StopSignal
from ._bus import EventBus, NodeEvent
from ._disposal import AfterSuccess, dispose_failure, dispose_success
from ._fs import INLINE_READ_LIMIT, is_local
from ._messages import FileReady

__all__ = [
    "FileConverted",
    "FileFailed",
    "Pipeline",
    "converter_for",
    "converter_set",
    "describe_failure",
]


class FileConverted(NodeEvent, frozen=True, kw_only=True):
    """A file's reports are committed in the spool and the file was disposed of."""

    topic: ClassVar[str] = "intake"
    folder: str
    source: str
    converter: str
    report_ids: tuple[str, ...]
    new_reports: int
    disposed_to: str | None


class FileFailed(NodeEvent, frozen=True, kw_only=True):
    """A file could not be converted; it is in the error folder with a sidecar."""

    topic: ClassVar[str] = "intake"
    folder: str
    source: str
    kind: str
    reason: str
    converter: str | None
    moved_to: str | None


def converter_for(folder: WatchFolder) -> str | None:
    """The pool's name for a folder's converter (``None``: auto-detect)."""
    return None if folder.converter == "auto" else f"watch:{folder.id}"


def converter_set(config: NodeConfig) -> tuple[ConverterConfig, ...]:
    """The converters the pool loads: the built-ins for auto-detection, plus one configuration
    per folder that names its converter (each with that folder's arguments).

    The built-in CSV converter gets the station's name (``node.station_name``, else this
    computer's host name) as its default ``machineName``, unless a folder's arguments set one.
    """
    station = config.node.station_name or socket.gethostname()
    configs = [ConverterConfig("wsjf"), ConverterConfig("csv", args=_csv_station({}, station))]
    for folder in config.watch:
        name = converter_for(folder)
        if name is not None:
            args = dict(folder.converter_args)
            if folder.converter == "csv":
                args = _csv_station(args, station)
            configs.append(ConverterConfig(folder.converter, name=name, args=args))
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


def describe_failure(result: ConversionFailure) -> tuple[str, str, str | None]:
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
    """

    config: _ConfigSource
    spool: Spool
    pool: _PoolLike
    bus: EventBus
    work_arrived: _Callback
    _local: dict[str, bool] = field(default_factory=dict, init=False, repr=False)

    async def _on_local_disk(self, folder: WatchFolder) -> bool:
        """Whether the folder is on a local file system (cached per path; see ``_fs``)."""
        local = self._local.get(folder.path)
        if local is None:
            local = await trio.to_thread.run_sync(is_local, folder.path)
            self._local[folder.path] = local
        return local

    async def run(
        self,
        files: trio.MemoryReceiveChannel[FileReady],
        concurrency: int,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Process files with *concurrency* tasks until the channel ends or a stop request.

        On a stop request no new file is taken; files being processed finish.
        """
        stop = StopSignal()
        async with trio.open_nursery() as nursery:
            await nursery.start(stop.watch)
            async with trio.open_nursery() as workers:
                for _ in range(concurrency):
                    workers.start_soon(self._worker, files, stop)
                task_status.started()
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
        log = get_logger(actor="conversion/pipeline", source=ready.path, folder=ready.folder)
        folder = _folder(self.config(), ready.folder)
        if folder is None:
            log.info("watch folder was removed from the configuration; file left in place")
            return
        local = await self._on_local_disk(folder)
        try:
            if local and ready.signature.size <= INLINE_READ_LIMIT:
                data = _read(ready.path)  # faster than a thread hop; cannot hang on a local disk
            else:
                data = await trio.to_thread.run_sync(_read, ready.path)
        except FileNotFoundError:
            return  # moved away meanwhile
        except OSError as exc:
            log.warning("cannot read file; it will be tried again", error=str(exc))
            return
        name = os.path.basename(ready.path)
        result = await self.pool.convert(data, name, converter_for(folder))
        if isinstance(result, Converted):
            await self._store(ready, folder, result, log, local=local)
        else:
            await self._fail(ready, folder, result, log)

    async def _store(
        self, ready: FileReady, folder: WatchFolder, result: Converted, log: _Log, *, local: bool
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
                ),
            )
            for report in result.reports
        ]
        while True:
            await self.spool.wait_intake_open()
            try:
                outcome = await self.spool.enqueue(items)
                break
            except SpoolFull as exc:
                if self.config().spool.when_full == "error":
                    await self._fail_with(ready, folder, "spool_full", str(exc), None, None, log)
                    return
                log.warning("spool full; waiting for room", error=str(exc))
        if outcome.inserted:
            self.work_arrived()
        failpoint("pipeline.committed")
        action = AfterSuccess(folder.after_success)
        args = (ready, Path(folder.path), action, folder.done_folder)
        if local:
            moved = dispose_success(*args)  # a rename on a local disk: cheaper than a thread hop
        else:
            moved = await trio.to_thread.run_sync(dispose_success, *args)
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
                disposed_to=str(moved) if moved is not None else None,
            )
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
        moved = await trio.to_thread.run_sync(
            lambda: dispose_failure(
                ready,
                Path(folder.path),
                kind=kind,
                reason=reason,
                converter=converter,
                traceback=traceback,
                error_dir=folder.error_folder,
            )
        )
        log.warning("file failed", kind=kind, reason=reason, converter=converter)
        self.bus.publish(
            FileFailed(
                folder=ready.folder,
                source=ready.path,
                kind=kind,
                reason=reason,
                converter=converter,
                moved_to=str(moved) if moved is not None else None,
            )
        )


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _folder(config: NodeConfig, folder_id: str) -> WatchFolder | None:
    for folder in config.watch:
        if folder.id == folder_id:
            return folder
    return None
