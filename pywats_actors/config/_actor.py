"""The config actor: loads the configuration, watches its file, publishes changes.

A supervised child (``ChildSpec("config", actor.run, (Clone(updates_send),))``). It is ready
once the file has loaded and passed every check; a file that does not is a start failure with
a :class:`ConfigInvalid` that names every problem. From then on:

* the file's folder is watched (so that an editor's or :func:`write_config_atomically`'s
  write-then-rename is seen) with the node's file-watching primitive
  (:class:`~pywats_actors._filewatch.FileWatch`). On Linux this is inotify read on the trio
  loop, with a narrow mask: a file closed after writing, renamed, created, deleted or changed
  in its attributes, never each ``write()``. So another file written in the same folder (a log
  next to the config) costs the actor almost nothing, and only events for the config file's
  own name wake it. A queue overflow, or the folder itself going away and coming back (it is
  then watched again), wakes it too. Where inotify is unavailable, watchdog watches the folder;
* a burst of events (an editor saving in several steps, a script writing twice) is coalesced:
  the actor waits until the events have been quiet for ``settle`` seconds (at most
  ``max_settle``) and looks once;
* every ``poll_interval`` seconds it also compares the file's ``stat()``, which catches what
  file events miss (network shares, events that could not be set up);
* the file is read and checked whole. If its bytes did not change, nothing happens. If the new
  configuration is valid and differs, it becomes :attr:`ConfigActor.current` and
  :class:`ConfigChanged` is published; if it is not valid, :class:`ConfigRejected` is
  published and the current configuration stays. While a file is rejected, each poll checks
  it again (it may depend on a token file or a folder that an operator is fixing), and a new
  :class:`ConfigRejected` is published only if the problems are different.

It stops, and returns, as soon as its supervisor requests a stop. When its supervisor runs it
again (a restart), it keeps the configuration it had and looks at the file at once, so a file
broken while it was down is reported rather than failing the restart.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import trio
from watchdog.events import (
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
)

from supervisors import ChildContext, current_child_or_none

from .._filewatch import FileWatch
from .._inotify import (
    IN_ATTRIB,
    IN_CLOSE_WRITE,
    IN_CREATE,
    IN_DELETE,
    IN_DELETE_SELF,
    IN_MOVE_SELF,
    IN_MOVED_FROM,
    IN_MOVED_TO,
)
from .._logging import get_logger
from ._diff import diff_configs
from ._errors import ConfigError, ConfigInvalid, ConfigNotFound
from ._load import LoadedConfig, parse_config
from ._messages import ConfigChanged, ConfigEvent, ConfigRejected
from ._problems import ConfigProblem
from ._schema import NodeConfig

__all__ = ["ConfigActor"]

_log = get_logger(component="config")

_Signature = tuple[int, int, int, int, int]  # inode, size, mtime_ns, ctime_ns, mode
_EVENT_TYPES: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    FileClosedEvent,
]
# What the trio-loop inotify reads: no IN_MODIFY, so writes to any file in the folder do not
# wake the actor; a file written in place is seen when it is closed (IN_CLOSE_WRITE), an atomic
# replacement when it is renamed into place (IN_MOVED_TO).
_CONFIG_EVENTS = (
    IN_CLOSE_WRITE
    | IN_MOVED_TO
    | IN_MOVED_FROM
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ATTRIB
)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """The file as read once: its stat signature and bytes, or why it could not be read."""

    signature: _Signature | None
    data: bytes | None
    error: str = ""
    missing: bool = False


def _signature(info: os.stat_result) -> _Signature:
    return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_mode)


def _stat(path: Path) -> _Signature | None:
    try:
        return _signature(os.stat(path))
    except OSError:
        return None


def _read(path: Path) -> _Snapshot:
    try:
        with open(path, "rb") as file:
            info = os.fstat(file.fileno())
            return _Snapshot(_signature(info), file.read())
    except FileNotFoundError:
        return _Snapshot(None, None, "the file is gone", missing=True)
    except OSError as exc:
        return _Snapshot(None, None, f"the file cannot be read: {exc.strerror}")


class ConfigActor:
    """Owns the node's configuration: the file's current valid content, kept up to date.

    Args:
        path: the configuration file.
        instance: the instance it is loaded as (see :func:`load_config`).
        env: the environment for the XDG defaults (``os.environ`` by default).
        settle: seconds of quiet after a file event before the file is read.
        max_settle: the longest a continuous burst of events can delay the read.
        poll_interval: seconds between ``stat()`` checks of the file (the safety net).
        use_events: watch the folder for file events; ``False`` relies on polling alone.
        use_inotify: read the events from inotify on the trio loop where it is available
            (Linux); ``False`` uses watchdog's observer threads, as on other systems.

    Usage::

        actor = ConfigActor(path, instance="default")
        spec = ChildSpec("config", actor.run, (Clone(config_events_send),))
        ...
        actor.current.upload.concurrency
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        instance: str | None = None,
        env: Mapping[str, str] | None = None,
        settle: float = 0.25,
        max_settle: float = 2.0,
        poll_interval: float = 10.0,
        use_events: bool = True,
        use_inotify: bool = True,
    ) -> None:
        self._path = Path(os.path.abspath(Path(path).expanduser()))
        self._instance = instance
        self._env = env
        self._settle = settle
        self._max_settle = max(max_settle, settle)
        self._poll_interval = poll_interval
        self._use_events = use_events
        self._use_inotify = use_inotify
        self._file_watch: FileWatch | None = None
        self._checks = 0
        self._loaded: LoadedConfig | None = None
        self._signature: _Signature | None = None
        self._seen: bytes | None = None
        self._rejected: tuple[ConfigProblem, ...] | None = None
        self._wake: trio.MemorySendChannel[None] | None = None

    @property
    def path(self) -> Path:
        """The configuration file."""
        return self._path

    @property
    def loaded(self) -> LoadedConfig:
        """The current configuration with its origin and notes.

        Raises:
            RuntimeError: the actor has not loaded the file yet.
        """
        if self._loaded is None:
            raise RuntimeError("the config actor has not loaded its file yet")
        return self._loaded

    @property
    def current(self) -> NodeConfig:
        """The current configuration: the last one that passed every check."""
        return self.loaded.config

    @property
    def event_source(self) -> str:
        """What tells the running actor that the file changed, besides polling.

        ``"inotify"`` (read on the trio loop), ``"watchdog"``, or ``"none"``: polling alone, or
        the actor is not running.
        """
        return self._file_watch.source if self._file_watch is not None else "none"

    @property
    def checks(self) -> int:
        """How many times the actor has looked at the file since it loaded it.

        Each poll, each file event for the file (once per burst), each :meth:`request_reload`
        and each restart counts one, whether or not the file had changed.
        """
        return self._checks

    def request_reload(self) -> None:
        """Look at the file again soon, as if it had changed (from the trio thread only)."""
        if self._wake is not None:
            with contextlib.suppress(trio.WouldBlock, trio.ClosedResourceError):
                self._wake.send_nowait(None)

    async def run(
        self,
        updates: trio.MemorySendChannel[ConfigEvent],
        *,
        task_status: trio.TaskStatus[NodeConfig] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Load the file, report ready with the configuration, then watch the file.

        Args:
            updates: where :class:`ConfigChanged` and :class:`ConfigRejected` are sent.
            task_status: ``started()`` is called with the loaded :class:`NodeConfig`.

        Raises:
            ConfigNotFound, ConfigInvalid, ConfigError: before ``started()``, when the file
                is missing, invalid or unreadable at the first start. A restarted actor (its
                supervisor runs it again) starts with the configuration it already had, then
                looks at the file as if it had changed, so a file broken in the meantime is
                reported as :class:`ConfigRejected` instead of failing the restart.

        Cancellation: safe at any point; the inotify descriptor is closed, or the observer
        thread stopped, before returning.
        Under a supervisor, a stop request ends the watch and the function returns.
        """
        restarted = self._loaded is not None
        if not restarted:
            await self._load_initial()
        wake_send, wake_receive = trio.open_memory_channel[None](1)
        self._wake = wake_send
        folders, targets = self._watched_paths()
        watch = FileWatch(
            folders,
            log=_log.bind(path=str(self._path)),
            mask=_CONFIG_EVENTS,
            use_inotify=self._use_inotify,
            watchdog_events=_EVENT_TYPES,
            retry=min(self._poll_interval, 1.0),
        )
        try:
            async with (
                watch if self._use_events else contextlib.nullcontext(),
                trio.open_nursery() as nursery,
            ):
                if self._use_events:
                    self._file_watch = watch
                _log.debug(
                    "watching the config file", path=str(self._path), events=self.event_source
                )
                child = current_child_or_none()
                if child is not None:
                    nursery.start_soon(_stop_when_requested, child, nursery.cancel_scope)
                if self.event_source != "none":
                    nursery.start_soon(_follow, watch, targets, wake_send)
                task_status.started(self.current)
                if restarted:
                    await self._check(updates, polling=False)
                await self._watch(updates, wake_receive)
        finally:
            self._wake = None
            self._file_watch = None
            wake_send.close()

    async def _load_initial(self) -> None:
        snapshot = await trio.to_thread.run_sync(_read, self._path)
        if snapshot.data is None:
            if snapshot.missing:
                raise ConfigNotFound(self._path)
            raise ConfigError(f"cannot load {self._path}: {snapshot.error}", path=self._path)
        assert snapshot.signature is not None
        self._loaded = await trio.to_thread.run_sync(self._parse, snapshot)
        self._signature = snapshot.signature
        self._seen = snapshot.data
        self._rejected = None
        for note in self._loaded.notes:
            _log.warning("config note", path=str(self._path), note=note)

    def _parse(self, snapshot: _Snapshot) -> LoadedConfig:
        assert snapshot.data is not None
        assert snapshot.signature is not None
        return parse_config(
            snapshot.data,
            path=self._path,
            instance=self._instance,
            env=self._env,
            file_mode=snapshot.signature[4] & 0o777,
        )

    def _watched_paths(self) -> tuple[list[str], frozenset[str]]:
        """The folders to watch and the paths whose events concern the actor.

        Both the file as named and, if that is a symbolic link, the file it points to.
        """
        real = Path(os.path.realpath(self._path))
        folders = sorted({str(self._path.parent), str(real.parent)})
        return folders, frozenset({str(self._path), str(real)})

    async def _watch(
        self, updates: trio.MemorySendChannel[ConfigEvent], wake: trio.MemoryReceiveChannel[None]
    ) -> None:
        next_poll = trio.current_time() + self._poll_interval
        while True:
            woken = False
            with trio.move_on_at(next_poll):
                await wake.receive()
                woken = True
            if woken:
                await self._wait_quiet(wake)
                await self._check(updates, polling=False)
            else:
                next_poll = trio.current_time() + self._poll_interval
                await self._check(updates, polling=True)

    async def _wait_quiet(self, wake: trio.MemoryReceiveChannel[None]) -> None:
        """Let a burst of events end: return after ``settle`` quiet seconds, or ``max_settle``."""
        give_up = trio.current_time() + self._max_settle
        while True:
            with trio.move_on_at(min(trio.current_time() + self._settle, give_up)) as quiet:
                await wake.receive()
            if quiet.cancelled_caught:
                return

    async def _check(self, updates: trio.MemorySendChannel[ConfigEvent], *, polling: bool) -> None:
        self._checks += 1
        if polling and self._rejected is None:
            signature = await trio.to_thread.run_sync(_stat, self._path)
            if signature == self._signature:
                return
        snapshot = await trio.to_thread.run_sync(_read, self._path)
        self._signature = snapshot.signature
        if snapshot.data is None:
            problem = ConfigProblem(
                path="$", message=f"{snapshot.error}; the running configuration stays"
            )
            await self._reject(updates, (problem,))
            self._seen = None
            return
        if snapshot.data == self._seen and self._rejected is None:
            return  # touched, not changed
        self._seen = snapshot.data
        try:
            loaded = await trio.to_thread.run_sync(partial(self._parse, snapshot))
        except ConfigInvalid as exc:
            await self._reject(updates, exc.problems)
            return
        await self._apply(updates, loaded)

    async def _reject(
        self, updates: trio.MemorySendChannel[ConfigEvent], problems: tuple[ConfigProblem, ...]
    ) -> None:
        if problems == self._rejected:
            return
        self._rejected = problems
        _log.warning(
            "config file rejected; the running configuration stays",
            path=str(self._path),
            problems=[str(problem) for problem in problems],
        )
        await updates.send(ConfigRejected(path=str(self._path), problems=problems))

    async def _apply(
        self, updates: trio.MemorySendChannel[ConfigEvent], loaded: LoadedConfig
    ) -> None:
        self._rejected = None
        old = self.loaded
        self._loaded = loaded
        diff = diff_configs(old.config, loaded.config)
        if diff.empty:
            _log.info("config file changed; no setting changed", path=str(self._path))
            return
        _log.info(
            "config reloaded",
            path=str(self._path),
            changed=list(diff.keys),
            restart_required=list(diff.restart_required),
        )
        await updates.send(
            ConfigChanged(
                path=str(self._path),
                old=old.config,
                new=loaded.config,
                diff=diff,
                notes=loaded.notes,
            )
        )


async def _stop_when_requested(child: ChildContext, scope: trio.CancelScope) -> None:
    await child.wait_stop_requested()
    scope.cancel(reason="the config actor was asked to stop")


async def _follow(
    watch: FileWatch, targets: frozenset[str], wake: trio.MemorySendChannel[None]
) -> None:
    """Wake the actor for file events that concern the config file.

    Events for other names in the folder are dropped. Events that may have been missed (a queue
    overflow; a folder deleted or replaced, and watched again when it is back) wake it too.
    """
    while True:
        changes = await watch.next()
        if changes.rescan or not targets.isdisjoint(changes.paths):
            # a full buffer means a wake-up is already pending: that is the coalescing
            with contextlib.suppress(trio.WouldBlock, trio.ClosedResourceError):
                wake.send_nowait(None)
