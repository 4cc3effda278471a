"""The spool error tree.

::

    PywatsError                      (pywats_actors._errors)
    └── SpoolError                   anything the spool refuses or cannot do; .path
        ├── SpoolFull                new work refused: the size limit is reached (.limit)
        │   └── SpoolDiskFull        the file system is full, or below the free-space reserve
        ├── ReportTooLarge           one enqueue is larger than the whole spool may hold
        ├── ReportIdConflict         a report id kept from its source is held by another report
        ├── SpoolCorrupt             the database file is damaged or is not a spool
        ├── SpoolVersionError        the file was written by a newer pywats-actors
        ├── SpoolLocked              another process has the spool open for writing
        ├── SpoolIOError             the file cannot be opened, or the disk failed under SQLite
        ├── SpoolClosed              the spool is closed, or its writer thread stopped
        ├── UnknownReport (KeyError) no report with that id
        └── InvalidTransition        the report's state does not allow the operation (.state)

Every error that a write raises means *nothing of that call was stored*: each call runs in its
own savepoint, and a failed commit rolls the whole transaction back. ``SpoolFull`` (and so
``SpoolDiskFull``) means "try later": the spool pauses intake and says when it resumes.
"""

from __future__ import annotations

import time
from pathlib import Path

from .._errors import PywatsError
from ._types import SourceInfo

__all__ = [
    "InvalidTransition",
    "ReportIdConflict",
    "ReportTooLarge",
    "SpoolClosed",
    "SpoolCorrupt",
    "SpoolDiskFull",
    "SpoolError",
    "SpoolFull",
    "SpoolIOError",
    "SpoolLocked",
    "SpoolVersionError",
    "UnknownReport",
]


class SpoolError(PywatsError):
    """Base class of every error raised on purpose by :mod:`pywats_actors.spool`.

    Attributes:
        path: the spool's database file, when the error is about one.
    """

    path: Path | None = None


class SpoolFull(SpoolError):
    """New work was refused because the spool reached its size limit; nothing was stored.

    Leave the source files where they are and try again once
    :meth:`~pywats_actors.spool.Spool.wait_intake_open` returns.

    Attributes:
        limit: what is exhausted: ``"bytes"``, ``"reports"`` or ``"disk"``.
        used: how much of it is used (bytes or reports; free bytes for ``"disk"``).
        maximum: the configured maximum (the free-space reserve for ``"disk"``).
    """

    def __init__(self, message: str, *, limit: str, used: int, maximum: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.used = used
        self.maximum = maximum


class SpoolDiskFull(SpoolFull):
    """The file system holding the spool is full (SQLite said ``SQLITE_FULL``), or an enqueue
    would leave less free space than the configured reserve.

    The transaction was rolled back; the database is consistent and every earlier commit is
    intact. The spool resumes intake by itself once enough space is free again.
    """

    def __init__(self, path: Path, *, free: int, reserve: int, detail: str = "") -> None:
        what = f" ({detail})" if detail else ""
        super().__init__(
            f"the disk holding the spool {path} is full{what}: {free} bytes free, "
            f"{reserve} bytes reserved; nothing was stored",
            limit="disk",
            used=free,
            maximum=reserve,
        )
        self.path = path


class ReportTooLarge(SpoolError, ValueError):
    """One enqueue call carries more bytes than the spool's whole size limit; it can never fit.

    Attributes:
        size: the bytes of the refused reports.
        maximum: the spool's ``max_bytes``.
    """

    def __init__(self, size: int, maximum: int) -> None:
        super().__init__(
            f"{size} bytes of reports can never fit a spool limited to {maximum} bytes"
        )
        self.size = size
        self.maximum = maximum


class ReportIdConflict(SpoolError, ValueError):
    """A report id that must identify one report is held by another report; nothing of the
    whole ``enqueue`` call was stored.

    Raised when a report keeps the id its source file carried (``SourceInfo.kept_id``) and the
    spool holds that id for other source content (a row in any state, or an entry of the
    ledger of acknowledged ids), when one call carries such an id twice, and when a derived id
    is held by a kept id from other content. The same content again (a file converted again
    after a crash, or fed again) is no conflict: it is a duplicate, as ever.

    Attributes:
        report_id: the canonical id.
        source: where the refused report came from.
        holder_path: the file the holder came from, or ``None`` when the spool no longer knows
            it (only the ledger has the id, or the holder's row does not decode).
        holder_content_hash: the holder's content hash (for a ledger entry: the hex of the
            fingerprint the ledger keeps), or ``None`` when unknown.
        holder_state: ``pending``, ``sent`` or ``rejected`` (a row), ``acknowledged`` (the
            ledger only), or ``enqueued`` (an earlier report of the same call).
    """

    def __init__(
        self,
        report_id: str,
        source: SourceInfo,
        *,
        holder_path: str | None,
        holder_content_hash: str | None,
        holder_state: str,
        acknowledged_at: float | None = None,
    ) -> None:
        self.report_id = report_id
        self.source = source
        self.holder_path = holder_path
        self.holder_content_hash = holder_content_hash
        self.holder_state = holder_state
        if holder_state == "acknowledged":
            when = "" if acknowledged_at is None else f", at {_utc(acknowledged_at)}"
            what = (
                f"report id {report_id} was already acknowledged by the server for other "
                f"content (content fingerprint {holder_content_hash}{when}; the spool no "
                f"longer records its file)"
            )
        elif holder_state == "enqueued":
            what = (
                f"report id {report_id} is given twice in one enqueue, by {holder_path} "
                f"(content hash {holder_content_hash}) and by {source.path} "
                f"(report {source.index})"
            )
        else:
            where = "an unreadable source" if holder_path is None else holder_path
            what = (
                f"report id {report_id} is already in the spool from {where} (content hash "
                f"{holder_content_hash or 'unknown'}, state {holder_state})"
            )
        super().__init__(f"{what}; a report id must identify one report")


def _utc(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class SpoolCorrupt(SpoolError):
    """The database file is damaged (or is not a spool at all), so the spool cannot start.

    The message names the file and what to do. Rows that are merely unreadable do not raise
    this: they are quarantined at start and the spool runs on.

    Attributes:
        problems: what SQLite (or the check) reported, at most the first ten lines.
    """

    def __init__(self, path: Path, problems: list[str] | tuple[str, ...]) -> None:
        self.path = path
        self.problems = tuple(problems[:10])
        shown = "; ".join(self.problems) or "unknown damage"
        super().__init__(
            f"the spool database {path} is corrupt ({shown}). Stop the node and rename the "
            f"file, with its -wal and -shm if present, to {path.name}.damaged, "
            f"{path.name}.damaged-wal and {path.name}.damaged-shm. Then either copy what is "
            f"still readable into a new spool with "
            f"`python -m pywats_actors.spool salvage {path}.damaged {path}`, or start with an "
            f"empty spool and re-feed the result files from done/. Report ids are "
            f"deterministic, so the server keeps one copy of each"
        )


class SpoolVersionError(SpoolError):
    """The database was written by a newer pywats-actors, with a schema this one does not know.

    Attributes:
        found: the schema version in the file.
        supported: the newest version this code knows.
    """

    def __init__(self, path: Path, found: int, supported: int) -> None:
        self.path = path
        self.found = found
        self.supported = supported
        super().__init__(
            f"the spool {path} has schema version {found}, but this pywats-actors knows only "
            f"up to {supported}; upgrade pywats-actors (never downgrade with a spool in place)"
        )


class SpoolLocked(SpoolError):
    """Another process already has this spool open for writing (the spool is the only writer).

    Readers (``pywats-node queue ls``) never take this lock and never see this error.
    """

    def __init__(self, path: Path, lock_path: Path) -> None:
        self.path = path
        self.lock_path = lock_path
        super().__init__(
            f"the spool {path} is already open for writing by another process "
            f"(lock file {lock_path}); run only one node per spool"
        )


class SpoolIOError(SpoolError):
    """The spool's file cannot be opened, or the disk failed under SQLite (an I/O error other
    than a full disk).

    A failed write was rolled back, so nothing of the call was stored.

    Attributes:
        code: SQLite's error name (``SQLITE_IOERR_FSYNC``, ``SQLITE_CANTOPEN``) or the OS's
            errno name (``ENOENT``, ``EACCES``).
    """

    def __init__(self, path: Path, code: str, message: str) -> None:
        self.path = path
        self.code = code
        super().__init__(f"I/O error on the spool {path}: {message} ({code})")


class SpoolClosed(SpoolError):
    """The spool is closed, or its writer thread stopped after a fatal error (the cause is
    chained as ``__cause__``)."""


class UnknownReport(SpoolError, KeyError):
    """No report with this id is in the spool.

    Attributes:
        report_id: the id asked for.
    """

    def __init__(self, report_id: str) -> None:
        self.report_id = report_id
        super().__init__(f"no report {report_id} in the spool")

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return str(self.args[0])


class InvalidTransition(SpoolError):
    """The report is in a state that does not allow the operation (for example marking a
    report sent that an operator already rejected or purged and re-added).

    Attributes:
        report_id: the report.
        state: its current state, as a string.
        operation: what was asked.
    """

    def __init__(self, report_id: str, state: str, operation: str) -> None:
        self.report_id = report_id
        self.state = state
        self.operation = operation
        super().__init__(f"cannot {operation} report {report_id}: it is {state}")
