"""What a watcher knows about its folder's files: the candidates and their state.

A candidate is a file that matches the folder's patterns and has not been handed on in its
current version. :class:`Tracker` keeps each one's last signature and since when it has been
unchanged, what was handed on, which files inotify last saw written but not closed, which
cannot be read (and the backoff before the next look), and whether the folder itself can be
listed. :func:`examine` is the one blocking look per round (run in a worker thread).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import trio
from structlog.typing import FilteringBoundLogger

from ._bus import NodeEvent
from ._file_events import FileUnreadable
from ._messages import FileSignature
from ._probe import Probe, Verdict, probe

__all__ = [
    "KEPT_LOOK",
    "Tracker",
    "WatchFolderBack",
    "WatchFolderLost",
    "WatcherSettings",
    "examine",
    "marker_path",
]

_MARKER_SUFFIX = ".pywats-done"
_NOT_PLAIN = frozenset({"", ".", ".."})  # path parts that need Path's normalisation
_UNREADABLE_BACKOFF_CAP = 60.0  # seconds between looks at a file the node may not read


class WatchFolderLost(NodeEvent, frozen=True, kw_only=True):
    """A watch folder went missing, or can no longer be listed; the watcher waits for it."""

    topic: ClassVar[str] = "intake"
    folder: str
    path: str
    error: str


class WatchFolderBack(NodeEvent, frozen=True, kw_only=True):
    """A watch folder that was lost can be listed again; its files are taken again."""

    topic: ClassVar[str] = "intake"
    folder: str
    path: str


@dataclass(frozen=True, slots=True)
class WatcherSettings:
    """What one watcher needs to know about its folder.

    Attributes:
        id: the watch folder's id (from the configuration).
        path: the folder; made at start when missing (if it can be: else it is waited for).
        include: glob patterns a file name must match (any of them).
        exclude: glob patterns that rule a file out (matched against the name and the relative
            path).
        recursive: whether sub-folders are watched too.
        settle: seconds a file's size, mtime and inode must stay unchanged.
        rescan_interval: seconds between full rescans.
        skip_dirs: folder names never descended into (the done and error folders).
        use_events: set false to rely on rescans alone (for file systems without inotify).
        reoffer_after: seconds after which a file that was handed on but is still in the
            folder, unchanged, is handed on again (its processing was lost somewhere).
        error_dir: the error folder's name (one of *skip_dirs*); half-written sidecars left
            there by a crash are removed at start.
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
    error_dir: str = "error"

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


class Tracker:
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
        # a local file system: ask the kernel for a read lease, and trust inode numbers
        # (on network and FUSE file systems they may change under a file that did not)
        self.lease = lease
        self._prefix = str(settings.path).rstrip(os.sep) + os.sep
        # path -> (signature, trio time since when it has been unchanged)
        self.candidates: dict[str, tuple[FileSignature, float]] = {}
        # path -> (signature, trio time it was handed on: inf while it waits to be sent)
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
        self.sub_errors: dict[str, str] = {}  # sub-folders the last scan could not list
        self.sub_reported: set[str] = set()

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
        self.sub_errors = {}
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as entries:
                    for entry in entries:
                        self._visit(entry, found, stack)
            except OSError as exc:  # vanished or unreadable; the next rescan tries again
                if folder == self.root:
                    self.root_error = exc.strerror or str(exc)
                elif not isinstance(exc, FileNotFoundError):
                    self.sub_errors[str(folder)] = exc.strerror or str(exc)
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
                found[entry.path] = FileSignature.from_stat(st, inode=self.lease)
        except OSError:
            pass  # gone between listing and stat

    def report_root(self) -> None:
        """Log and publish a change in whether the folder can be listed (once per change);
        log each sub-folder that cannot be listed once (until it can be again)."""
        for sub, error in self.sub_errors.items():
            if sub not in self.sub_reported:
                self.log.warning(
                    "a sub-folder cannot be listed; its files wait", sub=sub, error=error
                )
        self.sub_reported = set(self.sub_errors)
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
        if self.root_error:
            self.publish(WatchFolderLost(folder=folder, path=path, error=self.root_error))
        else:
            self.publish(WatchFolderBack(folder=folder, path=path))

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
            self.publish(FileUnreadable(folder=self.settings.id, source=path, error=error))
        else:
            delay = min(known[1] * 2, max(_UNREADABLE_BACKOFF_CAP, self.settings.settle))
        self.unreadable[path] = (signature, delay)
        # due again (settled) once *delay* has passed
        self.candidates[path] = (signature, now + delay - self.settings.settle)

    def taken(self, path: str, signature: FileSignature, now: float) -> None:
        """*path* is handed on in this version, at trio time *now* (``inf`` while it waits in
        the hand-off; ``reoffer_after`` counts from the time it is sent)."""
        self.candidates.pop(path, None)
        self.held.pop(path, None)
        self.writing.discard(path)
        if self.unreadable.pop(path, None) is not None:
            self.log.info("file can be read now", file=path)
        self.handed_on[path] = (signature, now)


KEPT_LOOK = Probe(Verdict.FREE, "kept as done")  # a kept file's marker matches it


def examine(
    paths: list[str], due: set[str], lease: bool
) -> dict[str, tuple[FileSignature | None, Probe | None]]:
    """Blocking: each path's signature, and for the *due* ones a look at whether the file can
    be taken (:func:`probe`), or ``KEPT_LOOK`` if it was kept as done. *lease*: a local file
    system (leases are asked for, and signatures carry the inode)."""
    result: dict[str, tuple[FileSignature | None, Probe | None]] = {}
    for path in paths:
        signature = _signature(path, lease)
        look = None
        if signature is not None and path in due:
            if _kept(_read_marker(Path(path)), signature):
                look = KEPT_LOOK
            else:
                look = probe(path, lease=lease)
                after = _signature(path, lease)
                if after != signature:  # written between the stat and the look: not settled
                    signature, look = after, None
        result[path] = (signature, look)
    return result


def _signature(path: str, inode: bool) -> FileSignature | None:
    try:
        return FileSignature.from_stat(os.stat(path), inode=inode)
    except OSError:
        return None
