"""The node: the supervision tree that runs the whole data path.

::

    node (rest_for_one)
    ├── config      loads the file, watches it, publishes ConfigChanged / ConfigRejected
    ├── spool       owns the durable spool (the only writer)
    ├── uplink      upload process (an OS process), server monitor, uploader (restarted in
    │               place when [server] or [upload] change)
    ├── conversion  a supervisor of the sandboxed converter pool, the pipeline and the
    │               schedules (one actor per [[schedule]]; restarted in place when the
    │               converters, [conversion] or a schedule change); the schedules and the
    │               pipeline stop before the pool, so the runs and files in flight finish
    ├── intake      a dynamic supervisor with one watcher per [[watch]] folder
    ├── control     applies configuration changes to the running tree
    └── ipc         the IPC server: a dynamic supervisor with one temporary child per
                    connection (restarted in place when [ipc] changes; docs/ipc.md)

Start order is top to bottom, each child ready before the next starts; a stop goes bottom up:
intake stops first (no new files), conversion finishes the files in flight, the uploads in
flight finish, and the spool closes last. The event bus is a passive object the node owns (no
actor: publishing never blocks and cannot fail).
"""

from __future__ import annotations

import functools
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import trio

from converters import ConverterPool
from supervisors import (
    Backoff,
    ChildSpec,
    ChildStartError,
    Clone,
    DynamicSupervisor,
    Strategy,
    Supervisor,
    SupervisorStatistics,
    Timeout,
    current_child,
)

from .._logging import get_logger
from ..client import WatsClientSettings, open_wats_client
from ..config import (
    ConfigActor,
    ConfigChanged,
    ConfigEvent,
    ConfigRejected,
    LoadedConfig,
    NodeConfig,
    WatchFolder,
    read_token,
)
from ..health import run_health
from ..report import Report, encode_report
from ..spool import (
    IntakePaused,
    IntakeResumed,
    SourceInfo,
    Spool,
    SpoolEvent,
    SpoolItem,
    SpoolSettings,
    open_spool,
)
from ._actor import stop_requested_cancels
from ._bus import EventBus, NodeEvent
from ._errors import NodeNotRunning
from ._folder_status import FolderHealth, FolderStatus
from ._messages import FileReady
from ._pipeline import Pipeline, converter_set
from ._schedule import schedule_converters, schedule_spec
from ._supervision import bind_child, supervision_observer
from ._unit_watcher import UnitWatcherSettings, run_unit_watcher
from ._units import UnitRules
from ._uplink import ServerLink, run_server_monitor, run_uploader
from ._watcher import WatcherSettings, WatchFolderBack, WatchFolderLost, run_watcher
from ._worker_settings import hidden_paths, pool_settings

__all__ = ["ConfigApplied", "Node", "Receipt", "SpoolIntake", "build_node", "open_node"]

_FILES_BUFFER = 64


class ConfigApplied(NodeEvent, frozen=True, kw_only=True):
    """A new configuration is in effect.

    *keys* are the changed keys (``upload.concurrency``, ``watch[line1].settle``);
    *restart_required* the ones among them that wait for a restart of the node (see
    ``docs/configuration.md``); every other key is in effect when this event is published.
    """

    topic: ClassVar[str] = "config"
    keys: tuple[str, ...] = ()
    sections: tuple[str, ...]
    watch_added: tuple[str, ...]
    watch_removed: tuple[str, ...]
    watch_changed: tuple[str, ...]
    restart_required: tuple[str, ...]


class ConfigRefused(NodeEvent, frozen=True, kw_only=True):
    """A changed configuration file failed its checks; the running configuration stays."""

    topic: ClassVar[str] = "config"
    path: str
    problems: tuple[str, ...]


class SpoolIntake(NodeEvent, frozen=True, kw_only=True):
    """The spool paused or resumed intake (``paused`` false: resumed)."""

    topic: ClassVar[str] = "spool"
    paused: bool
    reason: str | None


class Receipt(NodeEvent, frozen=True, kw_only=True):
    """A report submitted in code is durable in the spool (``new`` false: it was already)."""

    topic: ClassVar[str] = "intake"
    report_id: str
    new: bool


@dataclass
class Node:
    """A running node: its configuration, event bus, and the live parts of its tree.

    Attributes:
        config: the configuration in effect (replaced on a valid reload).
        bus: every event of the node.
        supervisor: the top of the tree.
        spool, link, pool, intake: the live parts (``None`` while not running).
        started, started_monotonic: when the node was built (``time.time()`` and
            ``time.monotonic()``), for its uptime.
    """

    config: NodeConfig
    bus: EventBus
    config_path: str | None = None
    runtime_dir: str | None = None
    supervisor: Supervisor | None = None
    spool: Spool | None = None
    link: ServerLink | None = None
    pool: ConverterPool | None = None
    intake: DynamicSupervisor | None = None
    intake_files: trio.MemorySendChannel[FileReady] | None = None
    health: FolderHealth = field(default_factory=FolderHealth)
    health_address: tuple[str, int] | None = None
    """Where the ``[health]`` endpoints listen (host, port) while they do, else ``None``."""
    started: float = field(default_factory=time.time)  # wall clock, when it was built
    started_monotonic: float = field(default_factory=time.monotonic)
    _work: trio.Event = field(default_factory=trio.Event)

    # -- used by the actors ------------------------------------------------------------------

    def work_arrived(self) -> None:
        """New reports are in the spool: wake idle uploaders."""
        self._work.set()
        self._work = trio.Event()

    def work_event(self) -> trio.Event:
        """The event the next :meth:`work_arrived` sets."""
        return self._work

    # -- the embedding API -------------------------------------------------------------------

    async def submit(self, report: Report | bytes, *, source: str = "<api>") -> Receipt:
        """Store a report built in code; returns once it is durable in the spool.

        Args:
            report: a report from :class:`~pywats_actors.report.ReportBuilder` (or decoded),
                or WSJF bytes already validated by the caller.
            source: a label for the report's origin, shown in the queue and the logs.

        Raises:
            SpoolFull: the spool is full (intake is paused).
            ReportIdConflict: a file's report that kept its own id (WSJF) holds this id with
                other content; nothing was stored.
            NodeNotRunning: the node is not running.

        Submitting the same report (same id) again stores nothing new.
        """
        spool = self.spool
        if spool is None:
            raise NodeNotRunning("the node is not running")
        if isinstance(report, bytes):
            from ..report import decode_report

            body, report_id = report, str(decode_report(report).id)
        else:
            body, report_id = encode_report(report), str(report.id)
        item = SpoolItem(
            report_id=report_id,
            body=body,
            source=SourceInfo(
                path=source,
                content_hash=hashlib.sha256(body).hexdigest(),
                converter="api",
                converter_version="1",
            ),
        )
        outcome = await spool.enqueue([item])
        if outcome.inserted:
            self.work_arrived()
        receipt = Receipt(report_id=report_id, new=bool(outcome.inserted))
        self.bus.publish(receipt)
        return receipt

    @property
    def health_url(self) -> str | None:
        """The base URL of the health endpoints (``http://127.0.0.1:PORT/``) while they
        listen, else ``None``; for the discovery file and the log."""
        if self.health_address is None:
            return None
        host, port = self.health_address
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def folder_status(self) -> dict[str, FolderStatus]:
        """Each watch folder's state (``ok`` or ``degraded``) and its files waiting for a retry
        (disposal, reading, conversion), by folder id."""
        return {folder.id: self.health.status(folder.id) for folder in self.config.watch}

    def statistics(self) -> SupervisorStatistics:
        """The whole supervision tree in one frozen snapshot: the node's children, and under
        each the supervisors it runs (uplink, conversion with the converter pool's workers,
        intake with one watcher per folder), each child with its real state, restarts, last
        exit and, for an OS process, its pid. ``find("conversion/pool/worker-0")`` and
        ``walk()`` reach any level."""
        if self.supervisor is None:
            raise NodeNotRunning("the node is not running")
        return self.supervisor.tree_statistics()

    async def stop(self, grace: float | None = None) -> None:
        """Stop in two phases: drain up to *grace* seconds, then cancel what is left."""
        if self.supervisor is not None:
            await self.supervisor.stop(grace)


def build_node(
    loaded: LoadedConfig | NodeConfig, *, watch_config_file: bool = True
) -> tuple[Node, Supervisor]:
    """The node and its (not yet running) top supervisor.

    With a :class:`LoadedConfig` and *watch_config_file*, the config actor watches the file
    and applies valid changes; with a bare :class:`NodeConfig` the configuration is fixed.
    """
    config = loaded.config if isinstance(loaded, LoadedConfig) else loaded
    path = loaded.path if isinstance(loaded, LoadedConfig) else None
    runtime_dir = loaded.runtime_dir if isinstance(loaded, LoadedConfig) else None
    node = Node(config=config, bus=EventBus(), config_path=path, runtime_dir=runtime_dir)
    observer = supervision_observer(node.bus)
    config_send, config_receive = trio.open_memory_channel[ConfigEvent](16)
    files_send, files_receive = trio.open_memory_channel[FileReady](_FILES_BUFFER)
    # health first: it outlives restarts of the parts after it (rest_for_one) and answers
    # /readyz with their state while they restart or stop
    children: list[ChildSpec] = [ChildSpec("health", run_health, (node,), shutdown=Timeout(5))]
    if path is not None and watch_config_file:
        actor = ConfigActor(path, instance=config.node.instance or None)
        children.append(ChildSpec("config", actor.run, (Clone(config_send),)))
    children += [
        ChildSpec("spool", _spool_child, (node,), shutdown=Timeout(30)),
        ChildSpec("uplink", _uplink_child, (node, observer), kind="supervisor"),
        ChildSpec(
            "conversion",
            _conversion_child,
            (node, observer, Clone(files_receive)),
            kind="supervisor",
        ),
        ChildSpec("intake", _intake_child, (node, observer, Clone(files_send)), kind="supervisor"),
        ChildSpec("control", _control_child, (node, Clone(config_receive))),
        # last: REST_FOR_ONE restarts it after any sibling, and its own trouble touches none
        ChildSpec("ipc", _ipc_child, (node, observer), kind="supervisor"),
    ]
    supervisor = Supervisor(
        children,
        name="node",
        strategy=Strategy.REST_FOR_ONE,
        intensity=3,
        period=60,
        observers=[observer],
        task_context=bind_child,
    )
    node.supervisor = supervisor
    return node, supervisor


@asynccontextmanager
async def open_node(
    config: LoadedConfig | NodeConfig, *, stop_grace: float = 30.0
) -> AsyncIterator[Node]:
    """Run a node for the length of an ``async with`` block (embedding in a test executive).

    The block starts once every part is ready. On leaving it the node stops in two phases:
    files and uploads in flight get *stop_grace* seconds, then the rest is cancelled; whatever
    was not uploaded stays in the spool for the next start.
    """
    node, supervisor = build_node(config)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        try:
            yield node
        finally:
            await supervisor.stop(stop_grace)


# -- the children ------------------------------------------------------------------------------


async def _spool_child(node: Node, *, task_status: trio.TaskStatus[None]) -> None:
    cfg = node.config.spool
    settings = SpoolSettings(
        max_bytes=cfg.max_bytes or None,
        max_reports=cfg.max_reports or None,
        sent_body_days=cfg.keep_sent_bodies_days,
        sent_metadata_days=cfg.keep_sent_days,
        acknowledged_days=cfg.keep_acknowledged_days,
        acknowledged_max=cfg.max_acknowledged,
    )

    def on_spool_event(event: SpoolEvent) -> None:
        if isinstance(event, IntakePaused):
            node.bus.publish(SpoolIntake(paused=True, reason=event.reason.value))
        elif isinstance(event, IntakeResumed):
            node.bus.publish(SpoolIntake(paused=False, reason=None))

    await trio.to_thread.run_sync(
        functools.partial(Path(cfg.path).parent.mkdir, parents=True, exist_ok=True)
    )
    async with open_spool(cfg.path, settings, observers=[on_spool_event]) as spool:
        node.spool = spool
        stats = spool.statistics()
        get_logger().info("spool open", path=cfg.path, pending=stats.pending)
        task_status.started()
        try:
            await current_child().wait_stop_requested()
        finally:
            node.spool = None


async def _uplink_child(
    node: Node,
    observer: Callable[..., None],
    *,
    task_status: trio.TaskStatus[Supervisor | None],
) -> None:
    cfg = node.config
    log = get_logger()
    if not cfg.server.base_url:
        log.warning("no server configured: reports stay in the spool")
        task_status.started()
        await current_child().wait_stop_requested()
        return
    token = await trio.to_thread.run_sync(read_token, cfg.server)
    verify = cfg.server.verify_tls
    settings = WatsClientSettings(
        base_url=cfg.server.base_url,
        token=token,
        connect_timeout=cfg.server.connect_timeout,
        read_timeout=cfg.server.read_timeout,
        write_timeout=cfg.server.write_timeout,
        pool_timeout=cfg.server.pool_timeout,
        attempt_timeout=cfg.upload.attempt_timeout,
        max_connections=max(4, cfg.upload.max_concurrency),
        max_keepalive_connections=max(4, cfg.upload.max_concurrency),
        verify_tls=verify,
        trust_env=cfg.server.trust_env,
    )
    spool = node.spool
    assert spool is not None
    async with open_wats_client(
        settings, separate_process=cfg.upload.separate_process, supervise_process=False
    ) as client:
        link = ServerLink(client, node.bus)
        node.link = link
        # The upload process (if any) starts first and stops last: the uploads that use it
        # drain before its input is closed. Its backoff keeps it below the intensity (at most
        # about 12 restarts a minute), so only the monitor or the uploader crash-looping
        # makes the uplink give up.
        process = client.upload_process_spec("upload-process")
        uplink = Supervisor(
            [
                *([process] if process is not None else []),
                ChildSpec(
                    "server",
                    functools.partial(run_server_monitor, link, interval=cfg.server.ping_interval),
                ),
                ChildSpec(
                    "uploader",
                    functools.partial(
                        run_uploader, link, spool, cfg.upload, work_arrived=node.work_event
                    ),
                    shutdown=Timeout(cfg.upload.attempt_timeout),
                ),
            ],
            name="uplink",
            intensity=20,
            period=60,
            observers=[observer],
            task_context=bind_child,
        )
        try:
            await uplink.run(task_status=task_status)
        finally:
            node.link = None


async def _conversion_child(
    node: Node,
    observer: Callable[..., None],
    files: trio.MemoryReceiveChannel[FileReady],
    *,
    task_status: trio.TaskStatus[Supervisor],
) -> None:
    """The converter pool and the pipeline, as a supervisor of their own.

    The pipeline starts after the pool and stops before it: on a stop the files in flight
    finish converting (the pool is still there for them), then the workers stop. Restart
    policy stays with the node: any failure in here ends this child (intensity 0), and the
    node restarts it with everything after it.
    """
    cfg = node.config
    settings = pool_settings(cfg, config_path=node.config_path, runtime_dir=node.runtime_dir)
    pipelines: list[Pipeline] = []  # the running pipeline, told when workers cannot start

    def on_workers(reason: str | None) -> None:
        for pipeline in pipelines:
            pipeline.workers_changed(reason)

    pool = ConverterPool(
        settings,
        converters=converter_set(cfg) + schedule_converters(cfg),
        station_namespace=uuid.UUID(cfg.node.station_namespace),
        on_workers=on_workers,
    )
    conversion = Supervisor(
        [
            # the pool stops its workers in phase one, each finishing its file
            ChildSpec(
                "pool",
                _pool_child,
                (node, pool),
                shutdown=Timeout(settings.stop_grace * 2 + 5),
                kind="supervisor",
            ),
            ChildSpec(
                "pipeline",
                _pipeline_child,
                (node, pool, pipelines, Clone(files)),
                shutdown=Timeout(60),
            ),
            # stops first: a run in flight finishes while the pool is there for it
            ChildSpec("schedules", _schedules_child, (node, pool, observer), kind="supervisor"),
        ],
        name="conversion",
        strategy=Strategy.ONE_FOR_ALL,
        intensity=0,
        observers=[observer],
        task_context=bind_child,
    )
    await conversion.run(task_status=task_status)


async def _pool_child(
    node: Node, pool: ConverterPool, *, task_status: trio.TaskStatus[None]
) -> None:
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(pool.run)  # stops on this child's stop request
            node.pool = pool
            sandbox = pool.sandbox
            if sandbox.note:  # a layer is missing or weaker: say which and why
                get_logger().warning(
                    "converter pool ready with a weaker sandbox",
                    sandbox=sandbox.level,
                    missing=sandbox.note,
                )
            else:
                get_logger().info("converter pool ready", sandbox=sandbox.level)
            task_status.started()
    finally:
        node.pool = None


async def _pipeline_child(
    node: Node,
    pool: ConverterPool,
    pipelines: list[Pipeline],
    files: trio.MemoryReceiveChannel[FileReady],
    *,
    task_status: trio.TaskStatus[None],
) -> None:
    spool = node.spool
    assert spool is not None
    pipeline = Pipeline(
        config=lambda: node.config,
        spool=spool,
        pool=pool,
        bus=node.bus,
        work_arrived=node.work_arrived,
        health=node.health,
    )
    # Files in flight: enough that while some wait for the spool's commit (an fsync) others
    # are converting, so the workers stay busy and commits are shared.
    concurrency = PIPELINE_FILES_PER_WORKER * node.config.conversion.workers
    pipelines.append(pipeline)
    try:
        await pipeline.run(files, concurrency, task_status=task_status)
    finally:
        pipelines.remove(pipeline)


async def _schedules_child(
    node: Node,
    pool: ConverterPool,
    observer: Callable[..., None],
    *,
    task_status: trio.TaskStatus[Supervisor],
) -> None:
    """One supervised actor per ``[[schedule]]``. Like the intake, it never gives up: a
    schedule that keeps failing is started again after its backoff, alone."""
    spool = node.spool
    assert spool is not None
    specs = [
        schedule_spec(
            item,
            pool=pool,
            spool=spool,
            data_dir=node.config.node.data_dir,
            publish=node.bus.publish,
            work_arrived=node.work_arrived,
        )
        for item in node.config.schedule
    ]
    schedules = Supervisor(
        specs,
        name="schedules",
        intensity=_INTAKE_INTENSITY,
        period=60,
        observers=[observer],
        task_context=bind_child,
    )
    await schedules.run(task_status=task_status)


PIPELINE_FILES_PER_WORKER = 4
"""Files the pipeline works on at once, per converter worker."""


WATCHER_BACKOFF = Backoff(min=2.0, max=60.0)
"""Delay before a failed watcher is started again: 2 s, doubling up to a minute."""

_INTAKE_INTENSITY = 1_000_000
"""The intake never gives up: each folder is retried on its own, paced by its backoff, so one
folder's trouble (a path that cannot be created, a share that went away) never stops the
others by escalating to the node."""


def watcher_spec(
    folder: WatchFolder,
    files: trio.MemorySendChannel[FileReady],
    publish: Callable[[NodeEvent], object] | None = None,
) -> ChildSpec:
    """The intake child that watches *folder*; its events (unreadable files, a missing folder)
    go to *publish*."""
    if folder.unit == "folder":
        units = UnitWatcherSettings(
            id=folder.id,
            path=Path(folder.path),
            rules=UnitRules.of(folder),
            error_dir=folder.error_folder,
        )
        return ChildSpec(
            folder.id,
            _watch,
            (units, Clone(files), publish),
            shutdown=Timeout(5),
            backoff=WATCHER_BACKOFF,
        )
    settings = WatcherSettings(
        id=folder.id,
        path=Path(folder.path),
        include=tuple(folder.include),
        exclude=tuple(folder.exclude),
        recursive=folder.recursive,
        settle=folder.settle,
        rescan_interval=folder.rescan_interval,
        skip_dirs=frozenset({folder.done_folder, folder.error_folder}),
        error_dir=folder.error_folder,
    )
    return ChildSpec(
        folder.id,
        _watch,
        (settings, Clone(files), publish),
        shutdown=Timeout(5),
        backoff=WATCHER_BACKOFF,
    )


async def _watch(
    settings: WatcherSettings | UnitWatcherSettings,
    files: trio.MemorySendChannel[FileReady],
    publish: Callable[[NodeEvent], object] | None,
    *,
    task_status: trio.TaskStatus[None],
) -> None:
    """Run the folder's watcher. A folder that cannot be watched yet fails as a crash after
    the start, not as a failed start: its supervisor then retries it with backoff, and the
    other folders (and the node's own start) go on. A watch folder that is missing while the
    watcher waits for it shows the child as degraded in the statistics, with the reason."""
    child = current_child()

    def report(event: NodeEvent) -> None:
        if isinstance(event, WatchFolderLost):
            child.report_degraded(f"watch folder {event.path} is missing: {event.error}")
        elif isinstance(event, WatchFolderBack):
            child.report_recovered()
        if publish is not None:
            publish(event)

    ready = _Readiness(task_status)
    try:
        async with stop_requested_cancels():
            if isinstance(settings, UnitWatcherSettings):
                await run_unit_watcher(settings, files, publish=report, task_status=ready)
            else:
                await run_watcher(settings, files, publish=report, task_status=ready)
    except Exception:
        if not ready.reported:
            task_status.started()
        raise


class _Readiness:
    """Passes ``started()`` on and remembers that it was called."""

    def __init__(self, inner: trio.TaskStatus[None]) -> None:
        self._inner = inner
        self.reported = False

    def started(self, value: None = None) -> None:
        self._inner.started(value)
        self.reported = True


async def _intake_child(
    node: Node,
    observer: Callable[..., None],
    files: trio.MemorySendChannel[FileReady],
    *,
    task_status: trio.TaskStatus[None],
) -> None:
    intake = DynamicSupervisor(
        name="intake",
        intensity=_INTAKE_INTENSITY,
        period=60,
        observers=[observer],
        task_context=bind_child,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(intake.run)
        node.intake, node.intake_files = intake, files
        try:
            for folder in node.config.watch:
                await intake.start_child(watcher_spec(folder, files, node.bus.publish))
            task_status.started()
            await intake.wait_stopped()  # it follows this child's stop request
        finally:
            node.intake = node.intake_files = None


async def _ipc_child(
    node: Node, observer: Callable[..., None], *, task_status: trio.TaskStatus[None]
) -> None:
    from ..ipc import run_ipc_server  # the ipc package uses the node's helpers

    await run_ipc_server(node, observer, bind_child, task_status=task_status)


async def _control_child(
    node: Node,
    events: trio.MemoryReceiveChannel[ConfigEvent],
    *,
    task_status: trio.TaskStatus[None],
) -> None:
    task_status.started()
    log = get_logger()
    async with stop_requested_cancels():
        async for event in events:
            if isinstance(event, ConfigRejected):
                problems = tuple(str(p) for p in event.problems)
                log.error("configuration change refused", path=event.path, problems=problems)
                node.bus.publish(ConfigRefused(path=event.path, problems=problems))
            elif isinstance(event, ConfigChanged):
                await _apply(node, event)


async def _apply(node: Node, change: ConfigChanged) -> None:
    log = get_logger()
    diff = change.diff
    old, new = change.old, change.new
    supervisor = node.supervisor
    assert supervisor is not None
    # The branches that take the new configuration by a restart go first: if one of them
    # cannot start with it (a converter that does not load with its new arguments), the whole
    # change is refused and the running configuration stays, before any folder was touched.
    branches = _branches_to_restart(old, new)
    node.config = new
    try:
        for branch in branches:
            await supervisor.restart_child(branch)
    except ChildStartError as exc:
        node.config = old
        for branch in branches:
            await supervisor.restart_child(branch)
        problems = (f"{exc.child_id} cannot start with it: {_root_cause(exc)}",)
        log.error("configuration change refused", path=change.path, problems=problems)
        node.bus.publish(ConfigRefused(path=change.path, problems=problems))
        return
    intake, files = node.intake, node.intake_files
    if intake is not None and files is not None:
        for folder_id in (*diff.watch_removed, *diff.watch_changed):
            if folder_id in intake.which_children():
                await intake.terminate_child(folder_id)
        for folder in new.watch:
            if folder.id in (*diff.watch_added, *diff.watch_changed):
                try:
                    await intake.start_child(watcher_spec(folder, files, node.bus.publish))
                except ChildStartError as exc:  # that folder's trouble; the others go on
                    log.error(
                        "watch folder could not start", folder=folder.id, reason=str(exc.cause)
                    )
    if diff.restart_required:
        log.warning("some changes take effect after a restart", keys=diff.restart_required)
    log.info("configuration applied", sections=diff.sections)
    node.bus.publish(
        ConfigApplied(
            keys=diff.keys,
            sections=diff.sections,
            watch_added=diff.watch_added,
            watch_removed=diff.watch_removed,
            watch_changed=diff.watch_changed,
            restart_required=diff.restart_required,
        )
    )


def _root_cause(error: ChildStartError) -> str:
    """What made a child fail to start, through the start errors of nested supervisors."""
    cause: BaseException | None = error
    while isinstance(cause, ChildStartError):
        cause = cause.cause
    return f"{type(cause).__name__}: {cause}" if cause is not None else str(error)


def _branches_to_restart(old: NodeConfig, new: NodeConfig) -> tuple[str, ...]:
    """The node's children that take a change from *old* to *new* by restarting."""
    branches: list[str] = []
    if (
        converter_set(old) != converter_set(new)
        or old.conversion != new.conversion
        or hidden_paths(old) != hidden_paths(new)  # the workers' hidden paths
        or old.schedule != new.schedule
    ):
        branches.append("conversion")
    if old.server != new.server or old.upload != new.upload:
        branches.append("uplink")
    if old.health != new.health:
        branches.append("health")
    if old.ipc != new.ipc:
        branches.append("ipc")
    return tuple(branches)
