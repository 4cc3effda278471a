"""The watcher actor: one per watch folder; finds files and hands them on once complete.

Two sources of candidates feed one stability tracker:

* file events (:class:`~pywats_actors._filewatch.FileWatch`: inotify on the trio loop, or
  watchdog), which also watch the folder again when it is deleted and comes back;
* a periodic full rescan, which also catches what events miss (network shares, a queue
  overflow, folders beyond inotify's watch limit, events lost while the watcher was restarting)
  and the files present at start.

A candidate is handed on as :class:`FileReady` only when

* its size, mtime and inode have not changed for the settle interval,
* the node may read it: a file that cannot be opened (permission denied) is reported with a
  warning and a :class:`FileUnreadable` event once per version of the file, and looked at again
  with backoff, so a fixed permission is picked up;
* no process holds it open for writing, on a local file system where the node owns the file or
  has ``CAP_LEASE`` (a read lease, see :mod:`._probe`). Elsewhere on a local file system a file
  whose last inotify event was a write, not yet followed by a close, waits; on network and FUSE
  file systems the settle interval alone applies.

A file handed on is not handed on again unless it changes (a new size, mtime or inode) or
disappears and comes back; ``done/`` and ``error/`` folders inside the watch folder are never
scanned.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import trio
from structlog.typing import FilteringBoundLogger

from .._filewatch import FileWatch
from .._inotify import inotify_available
from .._logging import get_logger
from ._bus import NodeEvent
from ._fs import is_local
from ._messages import FileReady, FileSignature
from ._probe import Probe, Verdict, probe

__all__ = ["FileUnreadable", "WatchFolderMissing", "WatcherSettings", "run_watcher"]

_MARKER_SUFFIX = ".pywats-done"
_NOT_PLAIN = frozenset({"", ".", ".."})  # path parts that need Path's normalisation
_UNREADABLE_BACKOFF_CAP = 60.0  # seconds between looks at a file the node may not read


class FileUnreadable(NodeEvent, frozen=True, kw_only=True):
    """A file in a watch folder cannot be read by the node (once per version of the file).

    It stays in the folder and is looked at again with backoff; it is taken as soon as it can
    be read.
    """

    topic: ClassVar[str] = "intake"
    folder: str
    path: str
    error: str


class WatchFolderMissing(NodeEvent, frozen=True, kw_only=True):
    """A watch folder went missing or cannot be listed (``present=False``), or is back."""

    topic: ClassVar[str] = "intake"
    folder: str
    path: str
    present: bool
    error: str = ""


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


class _Tracker:
    """Candidates and their last-seen signature, what was already handed on, and what is known
    about the folder and its writers."""

    def __init__(
        self,
        settings: WatcherSettings,
        log: FilteringBoundLogger,
        publish: Callable[[NodeEvent], object],
        *,
        lease: bool,
    ) -> None:
        self.settings = settings
        self.root = settings.path
        self.log = log
        self.publish = publish
        self.lease = lease  # ask the kernel for a read lease (a local file system)
        self._prefix = str(settings.path).rstrip(os.sep) + os.sep
        # path -> (signature, trio time since when it has been unchanged)
        self.candidates: dict[str, tuple[FileSignature, float]] = {}
        # path -> (signature, trio time it was handed on)
        self.handed_on: dict[str, tuple[FileSignature, float]] = {}
        self.folders: list[str] = []  # sub-folders seen by the last scan (recursive only)
        self.rescan_now = False
        self.wake = trio.Event()  # set by file events; replaced every round
        # files whose last inotify event was a write not yet followed by a close
        self.writing: set[str] = set()
        # path -> (the version warned about, the current backoff in seconds)
        self.unreadable: dict[str, tuple[FileSignature, float]] = {}
        # path -> trio time a writer was first seen holding it (and whether that was logged)
        self.held: dict[str, tuple[float, bool]] = {}
        self.root_error = ""  # why the last scan could not list the folder
        self.root_reported = ""

    def takes(self, path: str) -> bool:
        """Whether *path* is a file this folder takes (location and patterns)."""
        relative = self.relative(path)
        return relative is not None and self.settings.matches(relative)

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
        self.root_error = ""
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as entries:
                    for entry in entries:
                        self._visit(entry, found, stack)
            except OSError as exc:  # vanished or unreadable; the next rescan tries again
                if folder == self.root:
                    self.root_error = exc.strerror or str(exc)
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

    def report_root(self) -> None:
        """Log and publish a change in whether the folder can be listed (once per change)."""
        if self.root_error == self.root_reported:
            return
        self.root_reported = self.root_error
        folder, path = self.settings.id, str(self.root)
        if self.root_error:
            self.log.warning(
                "watch folder missing or unreadable; waiting for it", error=self.root_error
            )
        else:
            self.log.info("watch folder is back")
        self.publish(
            WatchFolderMissing(
                folder=folder, path=path, present=not self.root_error, error=self.root_error
            )
        )

    def forget(self, path: str) -> None:
        """*path* is gone: drop everything known about it."""
        self.candidates.pop(path, None)
        self.handed_on.pop(path, None)
        self.writing.discard(path)
        self.unreadable.pop(path, None)
        self.held.pop(path, None)

    def still_written(self, path: str, signature: FileSignature, now: float) -> None:
        """A writer holds *path* open: look again after the settle interval."""
        self.candidates[path] = (signature, now)
        since, logged = self.held.setdefault(path, (now, False))
        if not logged and now - since >= self.settings.reoffer_after:
            self.held[path] = (since, True)
            self.log.warning(
                "a file has been held open for writing for a long time; it is taken once its "
                "writer closes it",
                file=path,
                seconds=round(now - since),
            )

    def cannot_read(self, path: str, signature: FileSignature, error: str, now: float) -> None:
        """*path* cannot be read: report it once per version, and look again with backoff."""
        known = self.unreadable.get(path)
        if known is None or known[0] != signature:
            delay = max(self.settings.settle, 1.0)
            self.log.warning(
                "file cannot be read; it stays in the folder and is tried again",
                file=path,
                error=error,
            )
            self.publish(FileUnreadable(folder=self.settings.id, path=path, error=error))
        else:
            delay = min(known[1] * 2, max(_UNREADABLE_BACKOFF_CAP, self.settings.settle))
        self.unreadable[path] = (signature, delay)
        # due again (settled) once *delay* has passed
        self.candidates[path] = (signature, now + delay - self.settings.settle)

    def taken(self, path: str, signature: FileSignature, now: float) -> None:
        self.candidates.pop(path, None)
        self.held.pop(path, None)
        self.writing.discard(path)
        if self.unreadable.pop(path, None) is not None:
            self.log.info("file can be read now", file=path)
        self.handed_on[path] = (signature, now)


def _ignore(event: NodeEvent) -> None:
    """The default *publish*: events go nowhere."""


async def run_watcher(
    settings: WatcherSettings,
    out: trio.MemorySendChannel[FileReady],
    *,
    publish: Callable[[NodeEvent], object] | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Watch one folder and send a :class:`FileReady` for each complete, matching file.

    Ready once the folder exists, file events are on and the first full scan is done. File
    events come from inotify read on the trio loop (Linux), else from watchdog. Runs until
    cancelled or until *out* is closed by the receiver.

    Args:
        settings: the folder and how it is watched.
        out: where :class:`FileReady` is sent.
        publish: called with :class:`FileUnreadable` and :class:`WatchFolderMissing` events
            (the node's event bus); they are logged either way.

    Cancellation: stops the event source (a watchdog observer is joined in a worker thread).
    """
    log = get_logger(actor=f"watcher[{settings.id}]", folder=str(settings.path))
    await trio.to_thread.run_sync(lambda: settings.path.mkdir(parents=True, exist_ok=True))
    local = await trio.to_thread.run_sync(is_local, str(settings.path))
    tracker = _Tracker(settings, log, publish or _ignore, lease=local)
    inbox: set[str] = set()
    watch = FileWatch(
        [settings.path],
        log=log,
        recursive=settings.recursive,
        use_inotify=inotify_available(),
        retry=min(1.0, settings.rescan_interval),
    )
    async with (
        watch if settings.use_events else contextlib.nullcontext(),
        trio.open_nursery() as nursery,
    ):
        events = watch if watch.source != "none" else None
        await _rescan(tracker, inbox, events)
        if events is not None:
            nursery.start_soon(_pump, events, tracker, inbox)
        task_status.started()
        log.info(
            "watching",
            recursive=settings.recursive,
            events=watch.source,
            writers="lease" if local else "settle",
        )
        await _watch_loop(tracker, inbox, events, out)


async def _watch_loop(
    tracker: _Tracker,
    inbox: set[str],
    watch: FileWatch | None,
    out: trio.MemorySendChannel[FileReady],
) -> None:
    """Stability rounds, each one trip to a worker thread that looks at every candidate.

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
            await _rescan(tracker, inbox, watch)
            next_rescan = now + settings.rescan_interval
        if inbox:
            fresh = [p for p in inbox if tracker.takes(p)]
            inbox.clear()
            for p in fresh:
                if p in tracker.unreadable:  # touched (a chmod, say): look again soon
                    tracker.candidates[p] = (unknown, now)
                else:
                    tracker.candidates.setdefault(p, (unknown, now))
        tracker.wake = trio.Event()  # events from here on wake the wait below
        if tracker.candidates:
            await _check_candidates(tracker, out)
        after = trio.current_time() + gap
        if tracker.candidates:
            due = min(since for _, since in tracker.candidates.values()) + settings.settle
            with trio.move_on_at(min(max(due, after), next_rescan)):
                await tracker.wake.wait()  # a new file: look at it soon
        else:
            with trio.move_on_at(next_rescan):
                await tracker.wake.wait()
        await trio.sleep_until(min(after, next_rescan))  # let a burst of events gather


async def _pump(watch: FileWatch, tracker: _Tracker, inbox: set[str]) -> None:
    """Move file events into the inbox and the writers' state; a new sub-folder, an overflow
    or a folder watched again triggers a rescan."""
    while True:
        changes = await watch.next()
        inbox.update(changes.paths)
        if changes.overflowed:
            tracker.writing.clear()  # writes and closes were lost: unknown again
        tracker.writing.difference_update(changes.closed)
        tracker.writing.update(p for p in changes.written if tracker.takes(p))
        if changes.rescan or (tracker.settings.recursive and changes.folders):
            tracker.rescan_now = True  # a new folder may hold files already; it gets watched
        tracker.wake.set()


async def _rescan(tracker: _Tracker, inbox: set[str], watch: FileWatch | None) -> None:
    found = await trio.to_thread.run_sync(tracker.scan)
    tracker.report_root()
    if watch is not None:
        if tracker.settings.recursive:
            watch.watch_subfolders(tracker.folders)
        if await watch.check():  # the folder was replaced: what arrived meanwhile is found next
            tracker.rescan_now = True
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


_KEPT_LOOK = Probe(Verdict.FREE, "kept as done")  # a kept file's marker matches it


async def _check_candidates(tracker: _Tracker, out: trio.MemorySendChannel[FileReady]) -> None:
    """Stat every candidate, and hand on those that stayed unchanged for the settle interval,
    can be read and are not held open by a writer.

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
    looks = await trio.to_thread.run_sync(
        _examine, list(tracker.candidates), set(due), tracker.lease
    )
    ready: list[FileReady] = []
    for path, (signature, look) in looks.items():
        if signature is None or (look is not None and look.verdict is Verdict.GONE):
            tracker.forget(path)
            continue
        if signature != tracker.candidates[path][0]:
            tracker.candidates[path] = (signature, now)
            continue
        relative = due.get(path)
        if relative is None or look is None:
            continue  # not settled yet
        if tracker.handed_on.get(path, (None, 0.0))[0] == signature or look is _KEPT_LOOK:
            del tracker.candidates[path]
            continue
        if look.verdict is Verdict.UNREADABLE:
            tracker.cannot_read(path, signature, look.error, now)
            continue
        if look.verdict is Verdict.WRITING or (
            look.verdict is Verdict.READABLE and path in tracker.writing
        ):
            tracker.still_written(path, signature, now)
            continue
        tracker.taken(path, signature, now)
        ready.append(
            FileReady(folder=tracker.settings.id, path=path, relative=relative, signature=signature)
        )
    for item in ready:
        await out.send(item)


def _examine(
    paths: list[str], due: set[str], lease: bool
) -> dict[str, tuple[FileSignature | None, Probe | None]]:
    """Blocking: each path's signature, and for the *due* ones a look at whether the file can
    be taken (:func:`probe`), or ``_KEPT_LOOK`` if it was kept as done."""
    result: dict[str, tuple[FileSignature | None, Probe | None]] = {}
    for path in paths:
        signature = _signature(path)
        look = None
        if signature is not None and path in due:
            if _kept(_read_marker(Path(path)), signature):
                look = _KEPT_LOOK
            else:
                look = probe(path, lease=lease)
                after = _signature(path)
                if after != signature:  # written between the stat and the look: not settled
                    signature, look = after, None
        result[path] = (signature, look)
    return result


def _signature(path: str) -> FileSignature | None:
    try:
        return FileSignature.from_stat(os.stat(path))
    except OSError:
        return None
