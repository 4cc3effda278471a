"""How each watch folder is doing: files waiting to be disposed of or read again, and whether
the folder is degraded.

A folder is *degraded* when disposals in it keep failing (``done/`` cannot be created, the share
refuses renames...): :data:`DEGRADE_AFTER` failures in a row, with no success between. Its files
are still converted and their reports uploaded; they stay in the folder until they can be moved.
It *recovers* once no file of the folder is waiting for a disposal retry any more. Other folders
are never affected.

The record is owned by the node (it outlives restarts of the conversion branch) and is kept on
the event loop only: no locks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import msgspec

from .._logging import get_logger
from ._bus import NodeEvent
from ._messages import FileReady

__all__ = [
    "DEGRADE_AFTER",
    "FolderDegraded",
    "FolderHealth",
    "FolderRecovered",
    "FolderStatus",
    "WaitingRetry",
]

DEGRADE_AFTER = 3
"""Disposal failures in a row, in one folder, that make it degraded."""


class FolderDegraded(NodeEvent, frozen=True, kw_only=True):
    """Disposals in a watch folder keep failing; its converted files wait in the folder."""

    topic: ClassVar[str] = "intake"
    folder: str
    failures: int
    error: str


class FolderRecovered(NodeEvent, frozen=True, kw_only=True):
    """A degraded watch folder has no file waiting for a disposal retry any more."""

    topic: ClassVar[str] = "intake"
    folder: str


class FolderStatus(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of one watch folder.

    Attributes:
        folder: the folder's id.
        state: ``ok`` or ``degraded``.
        awaiting_disposal: converted files (reports durable) waiting for a disposal retry.
        unreadable: files waiting to be read again after a read error.
        waiting_for_converter: files waiting because no conversion could run.
        last_error: the latest disposal or read error, if any.
    """

    folder: str
    state: Literal["ok", "degraded"]
    awaiting_disposal: int
    unreadable: int
    waiting_for_converter: int
    last_error: str | None


@dataclass
class _Folder:
    failures_in_a_row: int = 0
    degraded: bool = False
    awaiting_disposal: set[str] = field(default_factory=set)
    unreadable: set[str] = field(default_factory=set)
    waiting_for_converter: set[str] = field(default_factory=set)
    last_error: str | None = None


Trouble = Literal["disposal", "read", "converter"]


@dataclass(frozen=True, slots=True)
class WaitingRetry:
    """A file waiting for another try, as the node remembers it across restarts of the
    conversion branch (a new pipeline resumes it at *due*).

    Attributes:
        ready: the file, in the version that had the trouble.
        trouble: what went wrong.
        attempt: how many tries failed so far.
        due: trio time of the next try.
    """

    ready: FileReady
    trouble: Trouble
    attempt: int
    due: float


class FolderHealth:
    """The per-folder record the pipeline keeps; :meth:`statuses` is what the node shows.

    Args:
        publish: where :class:`FolderDegraded` and :class:`FolderRecovered` go.
    """

    def __init__(self, publish: Callable[[NodeEvent], object] | None = None) -> None:
        self._folders: dict[str, _Folder] = {}
        self.publish = publish
        # path -> its waiting retry: kept here, by the node, so that a restarted pipeline
        # resumes the schedule instead of leaving the files to the watcher's re-offer
        self.retries: dict[str, WaitingRetry] = {}

    def _folder(self, folder: str) -> _Folder:
        return self._folders.setdefault(folder, _Folder())

    def _set(self, entry: _Folder, trouble: Trouble) -> set[str]:
        if trouble == "disposal":
            return entry.awaiting_disposal
        if trouble == "read":
            return entry.unreadable
        return entry.waiting_for_converter

    def failed(self, folder: str, path: str, trouble: Trouble, error: str) -> None:
        """*path* could not be disposed of, read or converted; it waits for a retry."""
        entry = self._folder(folder)
        self._set(entry, trouble).add(path)
        entry.last_error = error
        if trouble != "disposal":
            return
        entry.failures_in_a_row += 1
        if not entry.degraded and entry.failures_in_a_row >= DEGRADE_AFTER:
            entry.degraded = True
            get_logger(folder=folder).warning(
                "watch folder degraded: its files cannot be disposed of",
                failures=entry.failures_in_a_row,
                error=error,
            )
            self._emit(FolderDegraded(folder=folder, failures=entry.failures_in_a_row, error=error))

    def disposed(self, folder: str) -> None:
        """A disposal in *folder* succeeded."""
        self._folder(folder).failures_in_a_row = 0

    def settled(self, folder: str, path: str, trouble: Trouble) -> None:
        """*path* no longer waits for a retry of *trouble* (done, gone, or changed)."""
        entry = self._folders.get(folder)
        if entry is None:
            return
        self._set(entry, trouble).discard(path)
        if trouble == "disposal" and entry.degraded and not entry.awaiting_disposal:
            entry.degraded = False
            entry.failures_in_a_row = 0
            get_logger(folder=folder).info("watch folder recovered")
            self._emit(FolderRecovered(folder=folder))

    def statuses(self) -> dict[str, FolderStatus]:
        """A snapshot of every folder that has had trouble, by folder id."""
        return {
            folder: FolderStatus(
                folder=folder,
                state="degraded" if entry.degraded else "ok",
                awaiting_disposal=len(entry.awaiting_disposal),
                unreadable=len(entry.unreadable),
                waiting_for_converter=len(entry.waiting_for_converter),
                last_error=entry.last_error,
            )
            for folder, entry in self._folders.items()
        }

    def status(self, folder: str) -> FolderStatus:
        """One folder's snapshot (``ok`` with nothing waiting if it never had trouble)."""
        found = self.statuses().get(folder)
        if found is None:
            return FolderStatus(
                folder=folder,
                state="ok",
                awaiting_disposal=0,
                unreadable=0,
                waiting_for_converter=0,
                last_error=None,
            )
        return found

    def _emit(self, event: NodeEvent) -> None:
        if self.publish is not None:
            self.publish(event)
