"""The watcher actor: one per watch folder; finds files and hands them on once stable.

Two sources of candidates feed one stability tracker:

* watchdog events (inotify on Linux), bridged from the observer's thread into trio;
* a periodic full rescan, which also catches what inotify misses (network shares, a queue
  overflow, events lost while the watcher was restarting) and the files present at start.

A candidate is handed on as :class:`FileReady` only when its size and mtime have not changed for
the settle interval and it can be opened for reading: a file still being written is never
touched. A file handed on is not handed on again unless it changes (a new size or mtime) or
disappears and comes back; ``done/`` and ``error/`` folders inside the watch folder are never
scanned.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path

import trio
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from .._inotify import Inotify, inotify_available
from .._logging import get_logger
from .._watchdog import stop_observer
from ._messages import FileReady, FileSignature

__all__ = ["WatcherSettings", "run_watcher"]

_MARKER_SUFFIX = ".pywats-done"
_IGNORED_EVENTS = frozenset({"opened", "closed_no_write"})
_NOT_PLAIN = frozenset({"", ".", ".."})  # path parts that need Path's normalisation


@dataclass(frozen=True, slots=True)
class WatcherSettings:
    """What one watcher needs to know about its folder.

    Attributes:
        id: the watch folder's id (from the configuration).
        path: the folder; created when missing.
        include: glob patterns a file name must match (any of them).
        exclude: glob patterns that rule a file out (matched against the name and the relative
            path).
        recursive: whether sub-folders are watched too.
        settle: seconds a file's size and mtime must stay unchanged.
        rescan_interval: seconds between full rescans.
        skip_dirs: folder names never descended into (the done and error folders).
        use_events: set false to rely on rescans alone (for file systems without inotify).
        reoffer_after: seconds after which a file that was handed on but is still in the
            folder, unchanged, is handed on again (its processing was lost somewhere).
    """

    id: str
    path: Path
    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    recursive: bool = False
    settle: float = 1.0
    rescan_interval: float = 30.0
    skip_dirs: frozenset[str] = field(default_factory=lambda: frozenset({"done", "error"}))
    use_events: bool = True
    reoffer_after: float = 300.0

    def matches(self, relative: str) -> bool:
        """Whether a file at *relative* (``sub/x.csv``) is one this folder takes."""
        name = relative.rsplit("/", 1)[-1]
        if name.startswith(".") or name.endswith(_MARKER_SUFFIX):
            return False
        if not any(fnmatch.fnmatch(name, pattern) for pattern in self.include):
            return False
        return not any(
            fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(relative, pattern)
            for pattern in self.exclude
        )


def marker_path(path: Path) -> Path:
    """The marker that records a kept file as done (``x.csv`` → ``.x.csv.pywats-done``)."""
    return path.with_name(f".{path.name}{_MARKER_SUFFIX}")


def _read_marker(path: Path) -> FileSignature | None:
    """The signature recorded when the file was kept as done (``size mtime_ns [ino dev]``)."""
    try:
        fields = [int(value) for value in marker_path(path).read_text().split()]
    except (OSError, ValueError):
        return None
    if len(fields) == 2:  # written before markers recorded the inode
        return FileSignature(size=fields[0], mtime_ns=fields[1])
    if len(fields) == 4:
        return FileSignature(size=fields[0], mtime_ns=fields[1], ino=fields[2], dev=fields[3])
    return None


def _kept(marker: FileSignature | None, signature: FileSignature) -> bool:
    """Whether a kept file's marker still describes *signature* (the same file, unchanged)."""
    if marker is None or (marker.size, marker.mtime_ns) != (signature.size, signature.mtime_ns):
        return False
    return marker.ino == 0 or (marker.ino, marker.dev) == (signature.ino, signature.dev)


class _Bridge(FileSystemEventHandler):
    """Receives watchdog events on the observer's thread and hands them to the trio side.

    The handoff never waits for trio (``run_sync_soon`` only queues a callback): the observer
    thread holds watchdog's lock while it dispatches, and stopping the observer takes that
    lock, so a handoff that waited for the trio thread could deadlock with a stop.
    """

    def __init__(self, token: trio.lowlevel.TrioToken, inbox: set[str], wake: trio.Event) -> None:
        self._token = token
        self._inbox = inbox
        self.wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        # Opening and reading (our own stability check included) is not a change.
        if event.is_directory or event.event_type in _IGNORED_EVENTS:
            return
        paths = [event.src_path, getattr(event, "dest_path", "")]
        with contextlib.suppress(trio.RunFinishedError):  # the node is shutting down
            self._token.run_sync_soon(self._deliver, paths)

    def _deliver(self, paths: list[str | bytes]) -> None:
        for p in paths:
            if p:
                self._inbox.add(os.fsdecode(p))
        self.wake.set()


class _Tracker:
    """Candidates and their last-seen signature, and what was already handed on."""

    def __init__(self, settings: WatcherSettings) -> None:
        self.settings = settings
        self.root = settings.path
        self._prefix = str(settings.path).rstrip(os.sep) + os.sep
        # path -> (signature, trio time since when it has been unchanged)
        self.candidates: dict[str, tuple[FileSignature, float]] = {}
        # path -> (signature, trio time it was handed on)
        self.handed_on: dict[str, tuple[FileSignature, float]] = {}
        self.folders: list[str] = []  # sub-folders seen by the last scan (recursive only)
        self.rescan_now = False

    def relative(self, path: str) -> str | None:
        """*path* relative to the folder (``sub/x.csv``), or ``None`` if it is not a file
        this folder takes (outside it, too deep without recursion, or in a skipped folder)."""
        parts: tuple[str, ...] = ()
        if path.startswith(self._prefix):  # the usual case, done without Path objects
            parts = tuple(path[len(self._prefix) :].split(os.sep))
        if not parts or any(part in _NOT_PLAIN for part in parts):
            try:
                parts = Path(path).relative_to(self.root).parts
            except ValueError:
                return None
        if not parts:
            return None
        if len(parts) > 1 and (not self.settings.recursive or parts[0] in self.settings.skip_dirs):
            return None
        if any(part in self.settings.skip_dirs for part in parts[:-1]):
            return None
        return "/".join(parts)

    def scan(self) -> dict[str, FileSignature]:
        """Every file under the folder with its signature (blocking; run in a thread)."""
        found: dict[str, FileSignature] = {}
        stack = [self.root]
        self.folders = []
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as entries:
                    for entry in entries:
                        self._visit(entry, found, stack)
            except OSError:
                continue  # the folder vanished or is unreadable; the next rescan tries again
        return found

    def _visit(
        self, entry: os.DirEntry[str], found: dict[str, FileSignature], stack: list[Path]
    ) -> None:
        try:
            if entry.is_dir(follow_symlinks=False):
                if self.settings.recursive and entry.name not in self.settings.skip_dirs:
                    stack.append(Path(entry.path))
                    self.folders.append(entry.path)
            elif entry.is_file():
                st = entry.stat()
                found[entry.path] = FileSignature.from_stat(st)
        except OSError:
            pass  # gone between listing and stat

    @staticmethod
    def openable(path: str) -> bool:
        try:
            with open(path, "rb") as f:
                f.read(1)
        except OSError:
            return False
        return True


async def run_watcher(
    settings: WatcherSettings,
    out: trio.MemorySendChannel[FileReady],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Watch one folder and send a :class:`FileReady` for each stable, matching file.

    Ready once the folder exists, file events are on and the first full scan is done. File
    events come from inotify read on the trio loop (Linux), else from watchdog. Runs until
    cancelled or until *out* is closed by the receiver.

    Cancellation: stops the event source (a watchdog observer is joined in a worker thread).
    """
    log = get_logger(actor=f"watcher[{settings.id}]", folder=str(settings.path))
    await trio.to_thread.run_sync(lambda: settings.path.mkdir(parents=True, exist_ok=True))
    tracker = _Tracker(settings)
    inbox: set[str] = set()
    bridge = _Bridge(trio.lowlevel.current_trio_token(), inbox, trio.Event())
    notify: Inotify | None = None
    observer = None
    if settings.use_events and inotify_available():
        try:
            notify = Inotify()
            notify.watch(settings.path)
        except OSError as exc:  # e.g. the inotify watch limit is reached
            log.warning("inotify unavailable, trying watchdog", error=str(exc))
            if notify is not None:
                notify.close()
            notify = None
    if settings.use_events and notify is None:
        observer = Observer()
        observer.schedule(bridge, str(settings.path), recursive=settings.recursive)
        observer.daemon = True
        try:
            observer.start()
        except OSError as exc:
            log.warning("file events unavailable, relying on rescans", error=str(exc))
            observer = None
    try:
        async with trio.open_nursery() as nursery:
            await _rescan(tracker, inbox, notify)
            if notify is not None:
                nursery.start_soon(_pump_inotify, notify, tracker, inbox, bridge)
            task_status.started()
            events = "inotify" if notify else "watchdog" if observer else "none"
            log.info("watching", recursive=settings.recursive, events=events)
            await _watch_loop(tracker, inbox, bridge, notify, out)
    finally:
        if notify is not None:
            notify.close()
        if observer is not None:
            await stop_observer(observer)


async def _watch_loop(
    tracker: _Tracker,
    inbox: set[str],
    bridge: _Bridge,
    notify: Inotify | None,
    out: trio.MemorySendChannel[FileReady],
) -> None:
    """Stability rounds, each one trip to a worker thread that stats every candidate.

    A round runs when the earliest candidate's settle interval ends (it is handed on then, not
    up to a tick later), and soon after new files appear (their first look starts their settle
    interval), but never more often than every *gap* seconds, so a burst of events costs a few
    rounds rather than one per file.
    """
    settings = tracker.settings
    next_rescan = trio.current_time() + settings.rescan_interval
    gap = max(min(settings.settle / 10, 0.05), 0.005)
    unknown = FileSignature(size=-1, mtime_ns=-1)
    while True:
        now = trio.current_time()
        if now >= next_rescan or tracker.rescan_now:
            tracker.rescan_now = False
            await _rescan(tracker, inbox, notify)
            next_rescan = now + settings.rescan_interval
        if inbox:
            fresh = [
                p
                for p in inbox
                if (relative := tracker.relative(p)) is not None and settings.matches(relative)
            ]
            inbox.clear()
            for p in fresh:
                tracker.candidates.setdefault(p, (unknown, now))
        bridge.wake = trio.Event()  # events from here on wake the wait below
        if tracker.candidates:
            await _check_candidates(tracker, out)
        after = trio.current_time() + gap
        if tracker.candidates:
            due = min(since for _, since in tracker.candidates.values()) + settings.settle
            with trio.move_on_at(min(max(due, after), next_rescan)):
                await bridge.wake.wait()  # a new file: look at it soon
        else:
            with trio.move_on_at(next_rescan):
                await bridge.wake.wait()
        await trio.sleep_until(min(after, next_rescan))  # let a burst of events gather


async def _pump_inotify(
    notify: Inotify, tracker: _Tracker, inbox: set[str], bridge: _Bridge
) -> None:
    """Move inotify's events into the inbox; new sub-folders and overflows trigger a rescan."""
    while True:
        paths, folders = await notify.read()
        inbox.update(paths)
        if tracker.settings.recursive and folders:
            tracker.rescan_now = True  # a new folder may hold files already; it gets watched
        if notify.overflowed:
            notify.overflowed = False
            tracker.rescan_now = True
        bridge.wake.set()


async def _rescan(tracker: _Tracker, inbox: set[str], notify: Inotify | None = None) -> None:
    found = await trio.to_thread.run_sync(tracker.scan)
    if notify is not None and tracker.settings.recursive:
        notify.watch_all(tracker.folders)
    # Forget what was handed on and has gone since (moved to done/, deleted).
    # Forget what was handed on and has gone since (moved to done/, deleted); and offer again
    # what was handed on long ago and is still here unchanged: its processing was lost (a
    # read error, a restart of the conversion branch). A second conversion is harmless: the
    # report ids are the same and the spool stores nothing twice.
    stale = trio.current_time() - tracker.settings.reoffer_after
    tracker.handed_on = {
        p: (sig, when)
        for p, (sig, when) in tracker.handed_on.items()
        if p in found and when > stale
    }
    inbox.update(p for p, sig in found.items() if tracker.handed_on.get(p, (None, 0.0))[0] != sig)


async def _check_candidates(tracker: _Tracker, out: trio.MemorySendChannel[FileReady]) -> None:
    """Stat every candidate, and hand on those that stayed unchanged for the settle interval.

    All file-system calls of one round happen in one worker-thread call.
    """
    now = trio.current_time()
    settle = tracker.settings.settle
    # Candidates match the folder's patterns (checked when they were added); these have been
    # unchanged for the settle interval, by the stats of earlier rounds.
    due = {
        path: relative
        for path, (_, since) in tracker.candidates.items()
        if now - since >= settle and (relative := tracker.relative(path)) is not None
    }
    stats = await trio.to_thread.run_sync(_examine, list(tracker.candidates), set(due))
    ready: list[FileReady] = []
    for path, (signature, takeable) in stats.items():
        if signature is None:
            tracker.candidates.pop(path, None)
            tracker.handed_on.pop(path, None)
            continue
        if signature != tracker.candidates[path][0]:
            tracker.candidates[path] = (signature, now)
            continue
        relative = due.get(path)
        if relative is None:
            continue  # not settled yet
        del tracker.candidates[path]
        if tracker.handed_on.get(path, (None, 0.0))[0] == signature or takeable == "kept":
            continue
        if takeable == "locked":
            tracker.candidates[path] = (signature, now)  # the writer still holds it: later
            continue
        tracker.handed_on[path] = (signature, now)
        ready.append(
            FileReady(folder=tracker.settings.id, path=path, relative=relative, signature=signature)
        )
    for item in ready:
        await out.send(item)


def _examine(paths: list[str], due: set[str]) -> dict[str, tuple[FileSignature | None, str | None]]:
    """Blocking: each path's signature, and for the *due* ones whether the file can be taken
    (``"ok"``), is still locked by its writer (``"locked"``) or was kept as done (``"kept"``)."""
    result: dict[str, tuple[FileSignature | None, str | None]] = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            result[path] = (None, None)
            continue
        signature = FileSignature.from_stat(st)
        verdict = None
        if path in due:
            if _kept(_read_marker(Path(path)), signature):
                verdict = "kept"
            else:
                verdict = "ok" if _Tracker.openable(path) else "locked"
        result[path] = (signature, verdict)
    return result
