"""The unit watcher actor: one per ``unit = "folder"`` watch folder; hands on complete units.

Where the file watcher hands on files, this one hands on folder units (see ``_units``): a
sub-folder of the watch folder with its sibling files, handed on as one :class:`FileReady` whose
``unit`` lists every file, once the unit is complete (its marker is there, or it has enough
files) and none of its files appeared, changed or went for the quiet time.

It looks by polling: every round lists the watch folder and each unit's files (in a worker
thread), a round every quarter of the quiet time, at least every second and at most 20 times a
second. A unit is handed on once per version: not again while its file list stays the same,
unless it is still there unchanged ``reoffer_after`` seconds later (its processing was lost; a
second conversion stores nothing twice, its report ids being the same). A unit that goes (moved
to ``done/``) is forgotten, so a new unit of the same name later is a new unit.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import trio
from structlog.typing import FilteringBoundLogger

from .._logging import get_logger
from ._bus import NodeEvent
from ._leftovers import recover_leftovers
from ._messages import FileReady
from ._tracker import WatchFolderBack, WatchFolderLost
from ._unit_disposal import UNIT_DELETING_SUFFIX, remove_deleting
from ._units import UnitListing, UnitRules, complete, list_root, list_unit, unit_signature

__all__ = ["UnitWatcherSettings", "run_unit_watcher"]


@dataclass(frozen=True, slots=True)
class UnitWatcherSettings:
    """What one unit watcher needs to know about its folder.

    Attributes:
        id: the watch folder's id.
        path: the watch folder.
        rules: how its units are recognised and when they are complete.
        reoffer_after: seconds after which a unit handed on but still there unchanged is
            handed on again.
        error_dir: the error folder's name; half-written sidecars left there by a crash are
            removed at start.
    """

    id: str
    path: Path
    rules: UnitRules = field(default_factory=UnitRules)
    reoffer_after: float = 300.0
    error_dir: str = "error"

    @property
    def poll(self) -> float:
        """Seconds between two looks at the folder."""
        return min(1.0, max(0.05, self.rules.wait / 4))


@dataclass
class _Seen:
    """A unit's file list at the last look and since when it has been so."""

    listing: UnitListing
    since: float


@dataclass
class _State:
    seen: dict[str, _Seen] = field(default_factory=dict)
    handed: dict[str, tuple[UnitListing, float]] = field(default_factory=dict)
    root_error: str | None = None
    unit_errors: dict[str, str] = field(default_factory=dict)


def _look(settings: UnitWatcherSettings) -> dict[str, UnitListing | str]:
    """One look at every unit (blocking): its file list, or why it cannot be listed; raises
    ``OSError`` when the watch folder itself cannot be listed."""
    folders, files = list_root(settings.path, settings.rules)
    looks: dict[str, UnitListing | str] = {}
    for name in folders:
        try:
            looks[name] = list_unit(settings.path, name, files, settings.rules)
        except OSError as exc:
            looks[name] = f"{exc.strerror or exc}"
    return looks


def _clean_leftovers(root: Path) -> list[str]:
    """Remove unit folders whose deletion a crash interrupted; their names."""
    removed: list[str] = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for entry in entries:
        if entry.name.startswith(".") and entry.name.endswith(UNIT_DELETING_SUFFIX):
            with contextlib.suppress(OSError):
                remove_deleting(entry)
                removed.append(entry.name)
    return removed


async def run_unit_watcher(
    settings: UnitWatcherSettings,
    out: trio.MemorySendChannel[FileReady],
    *,
    publish: Callable[[NodeEvent], object] | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Watch one folder and send a :class:`FileReady` for each complete unit.

    Ready once the folder is made (if it can be) and the first look is done. Runs until
    cancelled or until *out* is closed by the receiver.

    Args:
        settings: the folder and how its units are recognised.
        out: where units are sent.
        publish: called with :class:`WatchFolderLost` and :class:`WatchFolderBack`.
    """
    log = get_logger(actor=f"watcher[{settings.id}]", folder=str(settings.path))
    with contextlib.suppress(OSError):
        await trio.to_thread.run_sync(functools.partial(settings.path.mkdir, parents=True))
    for name in await trio.to_thread.run_sync(_clean_leftovers, settings.path):
        log.info("removed a unit whose deletion was interrupted by a crash", unit=name)
    leftovers = await trio.to_thread.run_sync(
        functools.partial(
            recover_leftovers,
            settings.path,
            recursive=False,
            skip_dirs=settings.rules.skip_dirs,
            error_dir=settings.error_dir,
        )
    )
    for path in leftovers.removed:
        log.info("removed a file half-written when the node stopped", file=path)
    state = _State()
    send = publish or (lambda event: None)
    await _round(settings, state, out, log, send)
    task_status.started()
    log.info("watching folder units", poll=settings.poll, wait=settings.rules.wait)
    while True:
        await trio.sleep(settings.poll)
        await _round(settings, state, out, log, send)


async def _round(
    settings: UnitWatcherSettings,
    state: _State,
    out: trio.MemorySendChannel[FileReady],
    log: FilteringBoundLogger,
    publish: Callable[[NodeEvent], object],
) -> None:
    try:
        looks = await trio.to_thread.run_sync(_look, settings)
    except OSError as exc:
        error = exc.strerror or str(exc)
        if state.root_error is None:
            log.warning("watch folder missing or unreadable; waiting for it", error=error)
            publish(WatchFolderLost(folder=settings.id, path=str(settings.path), error=error))
        state.root_error = error
        return
    if state.root_error is not None:
        state.root_error = None
        log.info("watch folder is back")
        publish(WatchFolderBack(folder=settings.id, path=str(settings.path)))
    now = trio.current_time()
    for name in state.seen.keys() - looks.keys():
        del state.seen[name]
    for name in state.handed.keys() - looks.keys():
        del state.handed[name]
    for name in state.unit_errors.keys() - looks.keys():
        del state.unit_errors[name]
    for name, look in looks.items():
        if isinstance(look, str):
            if state.unit_errors.get(name) != look:
                log.warning("a unit cannot be listed; it waits", unit=name, error=look)
            state.unit_errors[name] = look
            continue
        state.unit_errors.pop(name, None)
        seen = state.seen.get(name)
        if seen is None or seen.listing != look:
            state.seen[name] = _Seen(look, now)
            continue
        if now - seen.since < settings.rules.wait or not complete(name, look, settings.rules):
            continue
        handed = state.handed.get(name)
        if handed is not None and handed[0] == look and now - handed[1] < settings.reoffer_after:
            continue
        ready = FileReady(
            folder=settings.id,
            path=str(settings.path / name),
            relative=name,
            signature=unit_signature(look),
            unit=look,
        )
        await out.send(ready)
        state.handed[name] = (look, trio.current_time())
