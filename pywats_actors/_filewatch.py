"""File events for a few folders, on the trio loop: the one primitive the node watches with.

Both the node's watchers and the config actor use :class:`FileWatch`. It tells its owner
*that something happened* to paths in its folders, never what exactly; the owner looks at the
files itself. What it takes care of:

* the event source: inotify read on the trio loop where it exists (Linux), watchdog's observer
  elsewhere, none when neither can be set up (the owner's rescans or polls then do the work);
* folders that go away. A watched folder that is deleted, moved away or unmounted is noticed
  from its own events (or, by :meth:`FileWatch.check`, from a changed inode), is looked for every
  *retry* seconds while it is missing, and is watched again as soon as it is back. Its owner is
  told to look again then (:attr:`Changes.rescan`), since files may have arrived meanwhile;
* inotify's limits. When the watch limit is reached (``ENOSPC``: a recursive watch on a big
  tree), the folders beyond it go unwatched with one warning and the owner's rescans serve
  them; a queue overflow is reported as :attr:`Changes.rescan`.

Writes are reported too (inotify only): :attr:`Changes.written` and :attr:`Changes.closed` say
whether a file's last event was a write or a close after writing, which lets a watcher tell a
file whose writer still holds it open where nothing better is available.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType

import trio
from structlog.typing import FilteringBoundLogger
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

from ._inotify import FOLDER_EVENTS, Batch, Inotify, inotify_available
from ._watchdog import stop_observer

__all__ = ["Changes", "FileWatch"]

_IGNORED_EVENTS = frozenset({"opened", "closed_no_write"})
_GONE_EVENTS = frozenset({"deleted", "moved"})
_Identity = tuple[int, int]  # device, inode


@dataclass(slots=True)
class Changes:
    """What happened since the last :meth:`FileWatch.next`.

    Attributes:
        paths: files in the watched folders that changed (created, written, closed after
            writing, renamed, deleted, changed in their attributes).
        folders: sub-folders created in, or moved into, a watched folder.
        written: files whose last event was a write: their writer had them open then.
        closed: files whose last event was a close after writing.
        rescan: events may have been missed (a queue overflow, a folder watched again after it
            was gone or replaced): look at everything again.
        overflowed: the kernel's queue overflowed; what :attr:`written` said before is unknown.
    """

    paths: set[str] = field(default_factory=set)
    folders: list[str] = field(default_factory=list)
    written: set[str] = field(default_factory=set)
    closed: set[str] = field(default_factory=set)
    rescan: bool = False
    overflowed: bool = False

    def __bool__(self) -> bool:
        return bool(self.paths or self.folders or self.written or self.closed or self.rescan)

    def add(self, batch: Batch) -> None:
        """Merge one inotify batch (later events win over earlier ones)."""
        self.paths.update(batch.paths)
        self.folders.extend(batch.folders)
        self.written.difference_update(batch.closed)
        self.closed.difference_update(batch.written)
        self.written.update(batch.written)
        self.closed.update(batch.closed)


class _Handler(FileSystemEventHandler):
    """Runs on watchdog's observer thread; queues each event's paths for the trio side.

    It never waits for trio: the observer thread holds watchdog's lock while it dispatches, and
    stopping the observer takes that lock, so a handoff that waited could deadlock with a stop.
    """

    def __init__(self, watch: FileWatch, token: trio.lowlevel.TrioToken) -> None:
        self._watch = watch
        self._token = token

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            if event.event_type in _GONE_EVENTS:  # the watched folder itself, perhaps
                folder = os.fsdecode(event.src_path)
                with contextlib.suppress(trio.RunFinishedError):
                    self._token.run_sync_soon(self._watch._gone, folder)
            return
        # Opening and reading (the owner's own look at a file included) is not a change.
        if event.event_type in _IGNORED_EVENTS:
            return
        paths = [os.fsdecode(p) for p in (event.src_path, event.dest_path) if p]
        with contextlib.suppress(trio.RunFinishedError):  # the node is shutting down
            self._token.run_sync_soon(self._watch._deliver, paths)


class FileWatch:
    """Events for the files in *roots*; use as ``async with FileWatch(...) as watch``.

    Args:
        roots: the folders watched (each should exist; one that is missing is looked for every
            *retry* seconds and watched once it is there).
        mask: the inotify events read (see :mod:`pywats_actors._inotify`).
        recursive: for watchdog, whether sub-folders are watched too; with inotify the owner
            adds sub-folders itself (:meth:`watch_subfolders`), since it finds them anyway.
        use_inotify: read inotify where available; ``False`` uses watchdog.
        watchdog_events: the watchdog event classes delivered (all file events by default).
        retry: seconds between looks for a missing folder.
        log: the owner's logger.
    """

    def __init__(
        self,
        roots: Sequence[str | os.PathLike[str]],
        *,
        log: FilteringBoundLogger,
        mask: int = FOLDER_EVENTS,
        recursive: bool = False,
        use_inotify: bool = True,
        watchdog_events: Sequence[type[FileSystemEvent]] | None = None,
        retry: float = 1.0,
    ) -> None:
        self._roots = [os.fspath(root) for root in roots]
        self._log = log
        self._mask = mask
        self._recursive = recursive
        self._use_inotify = use_inotify
        self._watchdog_events = list(watchdog_events) if watchdog_events is not None else None
        self._retry = retry
        self._notify: Inotify | None = None
        self._observer: BaseObserver | None = None
        self._handler: _Handler | None = None
        self._scheduled: dict[str, ObservedWatch] = {}
        self._identity: dict[str, _Identity] = {}
        self._missing: set[str] = set(self._roots)
        self._pending = Changes()
        self._wake = trio.Event()
        self._limit_warned = False
        self._unwatchable: set[str] = set()

    @property
    def source(self) -> str:
        """``"inotify"``, ``"watchdog"`` or ``"none"`` (no events: rescans and polls only)."""
        if self._notify is not None:
            return "inotify"
        return "watchdog" if self._observer is not None else "none"

    @property
    def missing(self) -> frozenset[str]:
        """The roots not watched now (missing, or beyond a limit); each is looked for again."""
        return frozenset(self._missing)

    async def __aenter__(self) -> FileWatch:
        if self._use_inotify and inotify_available():
            try:
                self._notify = Inotify(self._mask)
            except OSError as exc:  # the limit of inotify instances is reached
                self._log.warning("inotify unavailable; trying watchdog", error=str(exc))
        if self._notify is None:
            self._observer = Observer()
            self._observer.daemon = True
            self._handler = _Handler(self, trio.lowlevel.current_trio_token())
            try:
                self._observer.start()
            except OSError as exc:
                self._log.warning("file events unavailable", error=str(exc))
                self._observer = None
        if self.source == "none":
            self._missing.clear()  # nothing to look for: the owner relies on rescans
        for root in self._roots if self.source != "none" else ():
            self._arm(root)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the events (a watchdog observer is joined in a worker thread).

        Cancellation: shielded; the observer is stopped (or abandoned after 6 s) either way.
        """
        if self._notify is not None:
            self._notify.close()
            self._notify = None
        if self._observer is not None:
            observer, self._observer = self._observer, None
            await stop_observer(observer)

    def watch_subfolders(self, folders: Sequence[str]) -> None:
        """Watch these sub-folders too (inotify; watchdog watches them itself when recursive).

        A folder that vanished meanwhile is skipped; past inotify's watch limit the rest stay
        unwatched, with one warning (the owner's rescans find their files).
        """
        if self._notify is None:
            return
        for folder in folders:
            try:
                self._notify.watch(folder)
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    self._warn_limit(exc)
                    return
                if folder not in self._unwatchable:  # once per folder, not every rescan
                    self._unwatchable.add(folder)
                    self._log.warning(
                        "cannot watch a sub-folder; rescans serve it", folder=folder, error=str(exc)
                    )

    async def next(self) -> Changes:
        """Wait until something happened, and return it.

        Cancellation: safe; nothing is lost by a cancelled wait.
        """
        while True:
            if self._pending:
                changes, self._pending = self._pending, Changes()
                return changes
            notify = self._notify
            with trio.move_on_after(self._retry if self._missing else math.inf):
                if notify is not None:
                    self._absorb(await notify.read_batch())
                else:
                    await self._wake.wait()
                    self._wake = trio.Event()
            if self._missing and self.source != "none" and self._arm_missing():
                self._pending.rescan = True

    async def check(self) -> bool:
        """Compare each root with the folder that is watched; watch again what was replaced.

        Returns whether a root is watched afresh (its owner should look at it again). The stat
        runs in a worker thread (a folder on a network share may hang).

        Cancellation: safe; a cancelled check changes nothing.
        """
        if self.source == "none":
            return False
        roots = [root for root in self._roots if root not in self._missing]
        found = await trio.to_thread.run_sync(_identities, roots)
        for root in roots:
            if found.get(root) != self._identity.get(root):
                self._disarm(root)
        return self._arm_missing()

    def _absorb(self, batch: Batch) -> None:
        assert self._notify is not None
        self._pending.add(batch)
        if self._notify.overflowed:
            self._notify.overflowed = False
            self._pending.rescan = self._pending.overflowed = True
        self._notify.lost_watch = False
        for folder in batch.ended:
            if folder in self._roots:
                self._log.debug("a watched folder went away", folder=folder)
                self._disarm(folder)
                self._pending.rescan = True
        if self._missing and self._arm_missing():  # a replaced folder may be back already
            self._pending.rescan = True

    def _arm_missing(self) -> bool:
        armed = False
        for root in sorted(self._missing):
            if self._arm(root):
                self._log.info("watching a folder again", folder=root)
                armed = True
        return armed

    def _arm(self, root: str) -> bool:
        """Watch *root*; ``False`` (and it stays missing) if it is not there or cannot be."""
        try:
            if self._notify is not None:
                self._notify.watch(root)
            elif self._observer is not None and self._handler is not None:
                self._scheduled[root] = self._observer.schedule(
                    self._handler,
                    root,
                    recursive=self._recursive,
                    event_filter=self._watchdog_events,
                )
            identity = _identity(root)
        except (FileNotFoundError, NotADirectoryError):
            self._disarm(root)
            return False
        except OSError as exc:
            self._disarm(root)
            if exc.errno == errno.ENOSPC:
                self._warn_limit(exc)
            return False
        if identity is None:
            self._disarm(root)
            return False
        self._identity[root] = identity
        self._missing.discard(root)
        return True

    def _disarm(self, root: str) -> None:
        self._missing.add(root)
        self._identity.pop(root, None)
        if self._notify is not None:
            self._notify.unwatch(root)
        watch = self._scheduled.pop(root, None)
        if watch is not None and self._observer is not None:
            with contextlib.suppress(KeyError, OSError):
                self._observer.unschedule(watch)

    def _warn_limit(self, exc: OSError) -> None:
        if not self._limit_warned:
            self._limit_warned = True
            self._log.warning(
                "inotify watch limit reached; folders beyond it are found by rescans only "
                "(raise fs.inotify.max_user_watches)",
                error=str(exc),
            )

    def _gone(self, folder: str) -> None:
        """watchdog saw a folder deleted or moved away; if it is a root, watch it afresh."""
        if folder in self._roots and folder not in self._missing:
            self._disarm(folder)
            self._pending.rescan = True
            self._wake.set()

    def _deliver(self, paths: list[str]) -> None:
        self._pending.paths.update(paths)
        self._wake.set()


def _identity(folder: str) -> _Identity | None:
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _identities(folders: list[str]) -> dict[str, _Identity]:
    found: dict[str, _Identity] = {}
    for folder in folders:
        identity = _identity(folder)
        if identity is not None:
            found[folder] = identity
    return found
