"""Messages between the node's actors: past-tense facts, frozen msgspec Structs."""

from __future__ import annotations

import msgspec

__all__ = ["FileReady", "FileSignature"]


class FileSignature(msgspec.Struct, frozen=True, kw_only=True):
    """What identifies one version of a file on disk: a rewrite changes it."""

    size: int
    mtime_ns: int


class FileReady(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """A watcher saw a file that matches its folder's patterns and stopped changing.

    Attributes:
        folder: the id of the watch folder.
        path: absolute path of the file.
        relative: its path relative to the watch folder (``sub/x.csv``), for ``done/`` and
            ``error/`` layouts.
        signature: size and mtime when it was found stable.
    """

    folder: str
    path: str
    relative: str
    signature: FileSignature
