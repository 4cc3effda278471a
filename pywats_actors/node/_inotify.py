"""File events from Linux inotify, read on the trio loop itself (no threads).

The watcher needs only "something happened to this path": no event objects, no pairing of
moves. watchdog's inotify backend does both on three threads per folder, and its pairing of
renames is a linear search per event, which made it the largest cost of the node under a burst
of atomically written (renamed) files. Here the inotify descriptor is polled by trio
(``wait_readable``) and each read returns a batch of raw events; a queue overflow says so, and
the watcher rescans. Elsewhere (and if inotify is unavailable) the watcher uses watchdog.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import struct
import sys
from collections.abc import Iterable

import trio

__all__ = ["Inotify", "inotify_available"]

_IN_MODIFY = 0x00000002
_IN_ATTRIB = 0x00000004
_IN_CLOSE_WRITE = 0x00000008
_IN_MOVED_FROM = 0x00000040
_IN_MOVED_TO = 0x00000080
_IN_CREATE = 0x00000100
_IN_DELETE = 0x00000200
_IN_DELETE_SELF = 0x00000400
_IN_MOVE_SELF = 0x00000800
_IN_Q_OVERFLOW = 0x00004000
_IN_IGNORED = 0x00008000
_IN_ISDIR = 0x40000000
_IN_ONLYDIR = 0x01000000
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC

_MASK = (
    _IN_MODIFY
    | _IN_ATTRIB
    | _IN_CLOSE_WRITE
    | _IN_MOVED_FROM
    | _IN_MOVED_TO
    | _IN_CREATE
    | _IN_DELETE
    | _IN_DELETE_SELF
    | _IN_MOVE_SELF
    | _IN_ONLYDIR
)
_HEADER = struct.Struct("iIII")


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


def inotify_available() -> bool:
    """Whether this system offers inotify (Linux)."""
    return _LIBC is not None


class Inotify:
    """One inotify descriptor watching folders; :meth:`read` yields changed paths.

    Raises:
        OSError: inotify is unavailable, or the watch limit is reached.
    """

    def __init__(self) -> None:
        if _LIBC is None:
            raise OSError(errno.ENOSYS, "inotify is not available on this system")
        fd = _LIBC.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, f"inotify_init1: {os.strerror(code)}")
        self._fd = fd
        self._folders: dict[int, bytes] = {}
        self._watched: set[bytes] = set()
        self.overflowed = False

    def watch(self, folder: str | os.PathLike[str]) -> None:
        """Add *folder* (not recursively; call again for sub-folders)."""
        assert _LIBC is not None
        path = os.fsencode(folder)
        if path in self._watched:
            return
        wd = _LIBC.inotify_add_watch(self._fd, path, _MASK)
        if wd < 0:
            code = ctypes.get_errno()
            raise OSError(code, f"inotify_add_watch {os.fsdecode(path)}: {os.strerror(code)}")
        self._folders[wd] = path
        self._watched.add(path)

    async def read(self) -> tuple[list[str], list[str]]:
        """Wait for events; returns ``(paths that changed, new sub-folders)``.

        After a queue overflow :attr:`overflowed` is set (events were lost: rescan).

        Cancellation: safe; no event is lost by a cancelled wait.
        """
        while True:
            await trio.lowlevel.wait_readable(self._fd)
            try:
                data = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                continue
            return self._parse(data)

    def _parse(self, data: bytes) -> tuple[list[str], list[str]]:
        paths: list[str] = []
        folders: list[str] = []
        offset = 0
        while offset + _HEADER.size <= len(data):
            wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
            offset += _HEADER.size
            name = data[offset : offset + length].rstrip(b"\0")
            offset += length
            if mask & _IN_Q_OVERFLOW:
                self.overflowed = True
                continue
            if mask & _IN_IGNORED:
                gone = self._folders.pop(wd, None)
                if gone is not None:
                    self._watched.discard(gone)
                continue
            folder = self._folders.get(wd)
            if folder is None or not name:
                continue
            full = os.fsdecode(os.path.join(folder, name))
            if mask & _IN_ISDIR:
                if mask & (_IN_CREATE | _IN_MOVED_TO):
                    folders.append(full)
                continue
            paths.append(full)
        return paths, folders

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
