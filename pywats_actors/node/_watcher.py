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

Files are handed on oldest first (modification time, then relative path; see
:mod:`._handoff`), so a backlog is converted in the order its results were made.

A file handed on is not handed on again unless it changes (a new size, mtime or inode) or
disappears and comes back; ``done/`` and ``error/`` folders inside the watch folder are never
scanned.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable
from pathlib import Path

import trio
from structlog.typing import FilteringBoundLogger

from .._filewatch import FileWatch
from .._inotify import inotify_available
from .._logging import get_logger
from ._bus import NodeEvent
from ._file_events import FileUnreadable
from ._fs import is_local
from ._handoff import Handoff
from ._leftovers import Leftovers, recover_leftovers
from ._messages import FileReady, FileSignature
from ._probe import Probe, Verdict
from ._tracker import (
    KEPT_LOOK,
    Tracker,
    WatcherSettings,
    WatchFolderBack,
    WatchFolderLost,
    examine,
)
from ._tracker import marker_path as marker_path

__all__ = [
    "FileUnreadable",
    "WatchFolderBack",
    "WatchFolderLost",
    "WatcherSettings",
    "run_watcher",
]


def _make_folder(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.mkdir(parents=True, exist_ok=True)


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

    Ready once the folder is made (if it can be), file events are on and the first full scan
    is done; a folder that is missing or cannot be listed is reported and waited for. File
    events come from inotify read on the trio loop (Linux), else from watchdog. Runs until
    cancelled or until *out* is closed by the receiver.

    Args:
        settings: the folder and how it is watched.
        out: where :class:`FileReady` is sent.
        publish: called with :class:`FileUnreadable`, :class:`WatchFolderLost` and
            :class:`WatchFolderBack` events
            (the node's event bus); they are logged either way.

    Cancellation: stops the event source (a watchdog observer is joined in a worker thread).
    """
    log = get_logger(actor=f"watcher[{settings.id}]", folder=str(settings.path))
    # A folder that cannot be made now (its share is away, access denied) is reported by the
    # first scan and looked for until it is there: never a crash and a restart loop.
    await trio.to_thread.run_sync(_make_folder, settings.path)
    leftovers = await trio.to_thread.run_sync(
        functools.partial(
            recover_leftovers,
            settings.path,
            recursive=settings.recursive,
            skip_dirs=settings.skip_dirs,
            error_dir=settings.error_dir,
        )
    )
    _report_leftovers(log, leftovers)
    local = await trio.to_thread.run_sync(is_local, str(settings.path))
    tracker = Tracker(settings, log, publish or _ignore, lease=local)
    handoff = Handoff(on_sent=functools.partial(_sent, tracker))
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
        await _rescan(tracker, inbox, events, handoff)
        if events is not None:
            nursery.start_soon(_pump, events, tracker, inbox)
        nursery.start_soon(handoff.run, out)
        task_status.started()
        log.info(
            "watching",
            recursive=settings.recursive,
            events=watch.source,
            writers="lease" if local else "settle",
        )
        await _watch_loop(tracker, inbox, events, handoff)


def _report_leftovers(log: FilteringBoundLogger, leftovers: Leftovers) -> None:
    for hidden, back in leftovers.restored:
        log.info(
            "a delete interrupted by a crash was undone; the file is taken again",
            file=back,
            leftover=hidden,
        )
    for path in leftovers.removed:
        log.info("removed a file half-written when the node stopped", file=path)
    for path, error in leftovers.failed:
        log.warning("cannot put right a file left by a crash", file=path, error=error)


def _sent(tracker: Tracker, item: FileReady) -> None:
    """*item* left the hand-off: from now on ``reoffer_after`` counts for it."""
    if tracker.handed_on.get(item.path, (None, 0.0))[0] == item.signature:
        tracker.handed_on[item.path] = (item.signature, trio.current_time())


async def _watch_loop(
    tracker: Tracker,
    inbox: set[str],
    watch: FileWatch | None,
    handoff: Handoff,
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
            await _rescan(tracker, inbox, watch, handoff)
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
            _check_candidates(tracker, handoff, await _examine(tracker))
        after = trio.current_time() + gap
        if tracker.candidates:
            due = min(since for _, since in tracker.candidates.values()) + settings.settle
            with trio.move_on_at(min(max(due, after), next_rescan)):
                await tracker.wake.wait()  # a new file: look at it soon
        else:
            with trio.move_on_at(next_rescan):
                await tracker.wake.wait()
        await trio.sleep_until(min(after, next_rescan))  # let a burst of events gather


async def _pump(watch: FileWatch, tracker: Tracker, inbox: set[str]) -> None:
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


async def _rescan(
    tracker: Tracker, inbox: set[str], watch: FileWatch | None, handoff: Handoff
) -> None:
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
    # report ids are the same and the spool stores nothing twice. A file still waiting in the
    # hand-off was not handed on yet (its time is infinite until it is sent).
    stale = trio.current_time() - tracker.settings.reoffer_after
    for p in tracker.handed_on.keys() - found.keys():
        handoff.discard(p)
    tracker.handed_on = {
        p: (sig, when)
        for p, (sig, when) in tracker.handed_on.items()
        if p in found and when > stale
    }
    inbox.update(p for p, sig in found.items() if tracker.handed_on.get(p, (None, 0.0))[0] != sig)


_Looks = dict[str, tuple[FileSignature | None, Probe | None]]


async def _examine(tracker: Tracker) -> tuple[float, dict[str, str], _Looks]:
    """One round's look at every candidate (all file-system calls in one worker-thread call):
    the time, the candidates due (unchanged for the settle interval, by the stats of earlier
    rounds) with their relative paths, and what was found."""
    now = trio.current_time()
    settle = tracker.settings.settle
    # Candidates match the folder's patterns (checked when they were added).
    due = {
        path: relative
        for path, (_, since) in tracker.candidates.items()
        if now - since >= settle and (relative := tracker.relative(path)) is not None
    }
    looks = await trio.to_thread.run_sync(
        examine, list(tracker.candidates), set(due), tracker.lease
    )
    return now, due, looks


def _check_candidates(
    tracker: Tracker, handoff: Handoff, round_: tuple[float, dict[str, str], _Looks]
) -> None:
    """Hand on the candidates that stayed unchanged for the settle interval, can be read and
    are not held open by a writer; note what changed."""
    now, due, looks = round_
    for path, (signature, look) in looks.items():
        if signature is None or (look is not None and look.verdict is Verdict.GONE):
            tracker.forget(path)
            handoff.discard(path)
            continue
        if signature != tracker.candidates[path][0]:
            tracker.candidates[path] = (signature, now)
            continue
        relative = due.get(path)
        if relative is None or look is None:
            continue  # not settled yet
        if tracker.handed_on.get(path, (None, 0.0))[0] == signature or look is KEPT_LOOK:
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
        tracker.taken(path, signature, math.inf)  # its time starts when it is sent
        handoff.put(
            FileReady(folder=tracker.settings.id, path=path, relative=relative, signature=signature)
        )
