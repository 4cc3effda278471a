"""What the pipeline tells about files: past-tense events on the ``intake`` topic."""

from __future__ import annotations

from typing import ClassVar, Literal

from ._bus import NodeEvent

__all__ = [
    "ConversionUnavailable",
    "ConverterWorkersBack",
    "ConverterWorkersDown",
    "DisposalFailed",
    "FileChangedMeanwhile",
    "FileConverted",
    "FileDisposed",
    "FileFailed",
    "FileUnreadable",
    "ReportContentChanged",
    "ReportIdCollided",
]


class FileConverted(NodeEvent, frozen=True, kw_only=True):
    """A file's reports are committed in the spool.

    Attributes:
        disposed_to: where the file went (``None``: deleted, already gone, or its disposal
            failed; then :class:`DisposalFailed` says why and a later :class:`FileDisposed`
            where it went).
    """

    topic: ClassVar[str] = "intake"
    folder: str
    source: str
    converter: str
    report_ids: tuple[str, ...]
    new_reports: int
    disposed_to: str | None


class FileFailed(NodeEvent, frozen=True, kw_only=True):
    """A file could not be converted; it is in the error folder with a sidecar (``moved_to``
    ``None``: it had gone, or the move failed and is retried, see :class:`DisposalFailed`)."""

    topic: ClassVar[str] = "intake"
    folder: str
    source: str
    kind: str
    reason: str
    converter: str | None
    moved_to: str | None


class FileDisposed(NodeEvent, frozen=True, kw_only=True):
    """A file whose disposal had failed was moved, deleted or marked on a later attempt."""

    topic: ClassVar[str] = "intake"
    folder: str
    source: str
    disposed_to: str | None
    attempts: int


class DisposalFailed(NodeEvent, frozen=True, kw_only=True):
    """A file could not be moved, deleted or marked; it stays in its folder and is tried again.

    Its reports (on success) are already durable in the spool: they are not uploaded again.

    Attributes:
        action: ``move``, ``delete`` or ``keep`` (success), ``error`` (the move to error/).
        attempt: failed attempts so far for this file.
        retry_in: seconds until the next attempt (``None``: none, the node is stopping).
    """

    topic: ClassVar[str] = "intake"
    folder: str
    source: str
    action: str
    error: str
    attempt: int
    retry_in: float | None


class FileChangedMeanwhile(NodeEvent, frozen=True, kw_only=True):
    """The file was rewritten after it was found stable; the version read is not disposed of.

    The file stays in its folder and its new version is converted as a new result.

    Attributes:
        stage: ``read`` (it changed before or while it was read: nothing was converted) or
            ``disposal`` (it changed after it was read; the reports of the version read are
            stored).
    """

    topic: ClassVar[str] = "intake"
    folder: str
    source: str
    stage: Literal["read", "disposal"]


class FileUnreadable(NodeEvent, frozen=True, kw_only=True):
    """A file could not be read (permission, I/O error); it stays and is read again later.

    The watcher publishes it once per version of a file it may not open (``attempt`` 1, no
    ``retry_in``: it looks again with its own backoff); the pipeline for each failed read of a
    file it was handed (its attempt number and the delay before the next).
    """

    topic: ClassVar[str] = "intake"
    folder: str
    source: str
    error: str
    attempt: int = 1
    retry_in: float | None = None


class ConversionUnavailable(NodeEvent, frozen=True, kw_only=True):
    """No conversion could run for a file (no worker could be started, the converter pool is
    stopping or being replaced); it is not the file's fault: it stays and is tried again."""

    topic: ClassVar[str] = "intake"
    folder: str
    source: str
    reason: str
    attempt: int
    retry_in: float | None


class ReportContentChanged(NodeEvent, frozen=True, kw_only=True):
    """A file gave a report id the server has already accepted, but with other content.

    The node derives report ids from content, so this is a converter that gives one id to
    different results (an id kept from the source, as WSJF's, is :class:`ReportIdCollided`
    instead). The server keeps the first content: nothing is uploaded for this file's report,
    and the file is disposed of as converted. Someone should look at the source.

    Attributes:
        folder: the watch folder's id.
        source: the file.
        report_id: the id that came again with other content.
        converter: the converter that produced it.
    """

    topic: ClassVar[str] = "intake"
    folder: str
    source: str
    report_id: str
    converter: str


class ReportIdCollided(NodeEvent, frozen=True, kw_only=True):
    """A file carried a report id of its own (WSJF) that another report in the spool holds
    for other content. A report id must identify one report: none of the file's reports was
    stored, and the file went to the error folder (see the :class:`FileFailed` that follows,
    kind ``id_conflict``). Someone should look at both files.

    Attributes:
        folder: the watch folder's id.
        source: the file refused.
        report_id: the id both carry.
        converter: the converter that produced the refused report.
        holder: the file the spool holds the id for, or ``None`` when it no longer knows it
            (the server acknowledged the id long ago; only its ledger remembers it).
        holder_state: ``pending``, ``sent``, ``rejected`` (a report in the spool),
            ``acknowledged`` (the ledger only) or ``enqueued`` (the same file, twice).
    """

    topic: ClassVar[str] = "intake"
    folder: str
    source: str
    report_id: str
    converter: str
    holder: str | None
    holder_state: str


class ConverterWorkersDown(NodeEvent, frozen=True, kw_only=True):
    """No converter worker process can be started (the interpreter is missing, ``fork`` fails,
    no memory). Conversion pauses: files stay in their folders, uploads go on, and the pool
    keeps trying with backoff (up to a minute between tries)."""

    topic: ClassVar[str] = "conversion"
    reason: str


class ConverterWorkersBack(NodeEvent, frozen=True, kw_only=True):
    """A converter worker started again after :class:`ConverterWorkersDown`; the files that
    waited are taken at once."""

    topic: ClassVar[str] = "conversion"
