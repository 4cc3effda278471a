"""Messages between the node's actors: past-tense facts, frozen msgspec Structs."""

from __future__ import annotations

import os

import msgspec

__all__ = ["FileReady", "FileSignature", "UnitFile"]


class FileSignature(msgspec.Struct, frozen=True, kw_only=True):
    """What identifies one version of a file on disk: a rewrite changes it.

    A file replaced under the same name (written elsewhere and renamed over it) has another
    inode even when its size and mtime happen to match; a file rewritten in place has another
    size or mtime. ``ino`` and ``dev`` are 0 where they are not known (a marker written by an
    older version) or not stable: on network and FUSE file systems (an SMB share mounted with
    ``noserverino`` gives a file a new inode number now and then), the watcher leaves them out,
    and every check then compares size and mtime only.
    """

    size: int
    mtime_ns: int
    ino: int = 0
    dev: int = 0

    @classmethod
    def from_stat(cls, st: os.stat_result, *, inode: bool = True) -> FileSignature:
        """The signature of a file from its ``os.stat`` result; without its inode and device
        when *inode* is false (a network file system whose inode numbers are not stable)."""
        if not inode:
            return cls(size=st.st_size, mtime_ns=st.st_mtime_ns)
        return cls(size=st.st_size, mtime_ns=st.st_mtime_ns, ino=st.st_ino, dev=st.st_dev)


class UnitFile(msgspec.Struct, frozen=True, array_like=True):
    """One file of a folder unit as it was found complete.

    Attributes:
        path: its path relative to the watch folder, with ``/`` (``DUT 1.txt``,
            ``DUT 1/curve.txt``).
        size: its size in bytes.
        mtime_ns: its modification time.
    """

    path: str
    size: int
    mtime_ns: int


class FileReady(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """A watcher saw a file that matches its folder's patterns and stopped changing.

    Attributes:
        folder: the id of the watch folder.
        path: absolute path of the file.
        relative: its path relative to the watch folder (``sub/x.csv``), for ``done/`` and
            ``error/`` layouts.
        signature: size and mtime when it was found stable. For a folder unit: the total
            size, the latest mtime and, in ``ino``, a digest of its file list (``_units``).
        unit: ``None`` for a file; for a folder unit (``path`` is then its folder), every file
            that belongs to it, by path.
    """

    folder: str
    path: str
    relative: str
    signature: FileSignature
    unit: tuple[UnitFile, ...] | None = None
