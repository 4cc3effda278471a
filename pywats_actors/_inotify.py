"""File events from Linux inotify, read on the trio loop itself (no threads).

Used through :class:`~pywats_actors._filewatch.FileWatch` by the node's watchers and the config
actor. Callers need only "something happened to this path" (and whether a file's last event
was a write or a close after writing): no event objects, no pairing of moves. watchdog's inotify
backend does both on three threads per folder, and its pairing of renames is a linear search per
event, which made it the largest cost of the node under a burst of atomically written (renamed)
files. Here the inotify descriptor is polled by trio (``wait_readable``) and each read returns a
batch of raw events (:class:`Batch`); a queue overflow says so, and the caller looks again; a
watched folder that is deleted, moved away or unmounted is named in :attr:`Batch.ended`.
Elsewhere (and if inotify is unavailable) ``FileWatch`` uses watchdog.

Which events are read is the *mask* given to :class:`Inotify`: :data:`FOLDER_EVENTS` (the
default, every change to a folder's entries, writes included) or a narrower combination of the
``IN_*`` constants, such as the config actor's (no ``IN_MODIFY``: the kernel then does not wake
the reader for each ``write()`` to a file in the folder).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import struct
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

import trio

__all__ = [
    "FOLDER_EVENTS",
    "IN_ATTRIB",
    "IN_CLOSE_WRITE",
    "IN_CREATE",
    "IN_DELETE",
    "IN_DELETE_SELF",
    "IN_MODIFY",
    "IN_MOVED_FROM",
    "IN_MOVED_TO",
    "IN_MOVE_SELF",
    "Batch",
    "Inotify",
    "inotify_available",
]

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
_IN_UNMOUNT = 0x00002000
_IN_Q_OVERFLOW = 0x00004000
_IN_IGNORED = 0x00008000
_IN_ISDIR = 0x40000000
_IN_ONLYDIR = 0x01000000
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC

FOLDER_EVENTS = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
)
"""Every change to a folder's entries, each write to a file in it included (the default)."""

_LOST = IN_DELETE_SELF | IN_MOVE_SELF | _IN_UNMOUNT | _IN_IGNORED
_HEADER = struct.Struct("iIII")


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


@dataclass(slots=True)
class Batch:
    """What one read of the descriptor returned.

    Attributes:
        paths: entries of watched folders that changed (files; not sub-folders).
        folders: sub-folders created in, or moved into, a watched folder.
        written: files whose last event in this batch was a write (``IN_MODIFY``): their
            writer had them open then.
        closed: files whose last event in this batch was a close after writing
            (``IN_CLOSE_WRITE``).
        ended: watched folders whose watch ended: deleted, moved away (its watch is removed,
            so that its events are never reported under the old path) or unmounted.
    """

    paths: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    written: set[str] = field(default_factory=set)
    closed: set[str] = field(default_factory=set)
    ended: list[str] = field(default_factory=list)


def inotify_available() -> bool:
    """Whether this system offers inotify (Linux)."""
    return _LIBC is not None


class Inotify:
    """One inotify descriptor watching folders; :meth:`read` yields changed paths.

    Args:
        mask: the events read, a combination of the ``IN_*`` constants (every folder watched
            by this descriptor gets the same mask); :data:`FOLDER_EVENTS` by default.

    Attributes:
        overflowed: set when the kernel's queue overflowed (events were lost: look again).
            The caller clears it.
        lost_watch: set when a watched folder was deleted, moved away or unmounted: its events
            stop, or no longer belong to its path. The caller clears it (and watches again).

    Raises:
        OSError: inotify is unavailable, or the descriptor limit is reached.
    """

    def __init__(self, mask: int = FOLDER_EVENTS) -> None:
        if _LIBC is None:
            raise OSError(errno.ENOSYS, "inotify is not available on this system")
        fd = _LIBC.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, f"inotify_init1: {os.strerror(code)}")
        self._fd = fd
        self._folders: dict[int, bytes] = {}
        self._watched: set[bytes] = set()
        self._mask = mask | _IN_ONLYDIR
        self.overflowed = False
        self.lost_watch = False

    def watch(self, folder: str | os.PathLike[str]) -> None:
        """Add *folder* (not recursively; call again for sub-folders).

        Raises:
            OSError: *folder* is missing or not a folder, or the watch limit is reached.
        """
        assert _LIBC is not None
        path = os.fsencode(folder)
        if path in self._watched:
            return
        wd = _LIBC.inotify_add_watch(self._fd, path, self._mask)
        if wd < 0:
            code = ctypes.get_errno()
            raise OSError(code, f"inotify_add_watch {os.fsdecode(path)}: {os.strerror(code)}")
        self._folders[wd] = path
        self._watched.add(path)

    @property
    def watched(self) -> frozenset[str]:
        """The folders watched now."""
        return frozenset(os.fsdecode(path) for path in self._watched)

    def unwatch(self, folder: str | os.PathLike[str]) -> None:
        """Stop watching *folder* (nothing happens if it is not watched)."""
        assert _LIBC is not None
        path = os.fsencode(folder)
        for wd, watched in list(self._folders.items()):
            if watched == path:
                self._forget(wd)
                _LIBC.inotify_rm_watch(self._fd, wd)  # its IN_IGNORED is dropped: wd is gone

    def _forget(self, wd: int) -> bytes | None:
        gone = self._folders.pop(wd, None)
        if gone is not None:
            self._watched.discard(gone)
        return gone

    async def read(self) -> tuple[list[str], list[str]]:
        """Wait for events; returns ``(paths that changed, new sub-folders)``.

        After a queue overflow :attr:`overflowed` is set (events were lost: rescan); when a
        watched folder itself went away, :attr:`lost_watch`.

        Cancellation: safe; no event is lost by a cancelled wait.
        """
        batch = await self.read_batch()
        return batch.paths, batch.folders

    async def read_batch(self) -> Batch:
        """Wait for events and return them as one :class:`Batch` (see :meth:`read`).

        Cancellation: safe; no event is lost by a cancelled wait.
        """
        while True:
            await trio.lowlevel.wait_readable(self._fd)
            try:
                data = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                continue
            return self._parse(data)

    def _parse(self, data: bytes) -> Batch:
        batch = Batch()
        offset = 0
        while offset + _HEADER.size <= len(data):
            wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
            offset += _HEADER.size
            name = data[offset : offset + length].rstrip(b"\0")
            offset += length
            if mask & _IN_Q_OVERFLOW:
                self.overflowed = True
                continue
            if mask & _LOST:
                self.lost_watch = True
            if mask & (_IN_IGNORED | IN_MOVE_SELF):
                # deleted, unmounted (IN_IGNORED follows) or moved away: a moved folder keeps
                # its watch, whose events would name the old path, so it is removed here
                gone = self._forget(wd)
                if gone is not None:
                    batch.ended.append(os.fsdecode(gone))
                    if mask & IN_MOVE_SELF and _LIBC is not None:
                        _LIBC.inotify_rm_watch(self._fd, wd)
                continue
            folder = self._folders.get(wd)
            if folder is None or not name:
                continue
            full = os.fsdecode(os.path.join(folder, name))
            if mask & _IN_ISDIR:
                if mask & (IN_CREATE | IN_MOVED_TO):
                    batch.folders.append(full)
                continue
            batch.paths.append(full)
            if mask & IN_MODIFY:
                batch.written.add(full)
                batch.closed.discard(full)
            if mask & IN_CLOSE_WRITE:
                batch.closed.add(full)
                batch.written.discard(full)
        return batch

    def watch_all(self, folders: Iterable[str]) -> None:
        """Watch each of *folders*, skipping those that vanished."""
        for folder in folders:
            try:
                self.watch(folder)
            except FileNotFoundError:
                continue

    def close(self) -> None:
        """Close the descriptor (every watch goes with it)."""
        if self._fd >= 0:
            trio.lowlevel.notify_closing(self._fd)
            os.close(self._fd)
            self._fd = -1
