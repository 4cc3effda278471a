"""The spool's records: what goes in, what comes out, and the snapshots it publishes.

All are frozen msgspec Structs, so the IPC layer can send them to a GUI as they are. Times are
wall-clock epoch seconds (they must mean the same thing after a restart); durations are seconds.
"""

from __future__ import annotations

import enum
import uuid
from typing import Annotated

import msgspec

__all__ = [
    "ClaimedReport",
    "EnqueueResult",
    "IntakePaused",
    "IntakeResumed",
    "PauseReason",
    "QuarantinedRow",
    "ReportPage",
    "ReportRecord",
    "ReportState",
    "ReportSummary",
    "RetentionResult",
    "SourceInfo",
    "SpoolEvent",
    "SpoolItem",
    "SpoolStatistics",
    "StartupReport",
    "canonical_report_id",
]


def canonical_report_id(report_id: str) -> str:
    """The canonical spelling of a report GUID: lower case, hyphenated, no braces.

    The spool stores and compares ids in this form, so ``{ABC...}`` and ``abc...`` are the same
    report.

    Raises:
        ValueError: *report_id* is not a GUID.
    """
    try:
        return str(uuid.UUID(report_id))
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"report id {report_id!r} is not a GUID") from None


class ReportState(enum.Enum):
    """Where a report is in its life in the spool.

    ``pending`` → ``sent`` (the server took it) or ``rejected`` (the server refused it for good;
    an operator may retry it, which makes it ``pending`` again).
    """

    PENDING = "pending"
    SENT = "sent"
    REJECTED = "rejected"


class SourceInfo(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Where a report came from: enough to find the file again and to explain the report's id.

    Attributes:
        path: the result file's path when it was converted.
        content_hash: the source content's hash; the node writes the SHA-256 as bare lowercase
            hex. The spool compares it as an opaque string (the acknowledged-id ledger keeps a
            fingerprint of it), so one writer must always use one form.
        converter: the converter's name.
        converter_version: the converter's version.
        index: the report's position among the reports converted from that file (from 0).
        kept_id: the report id is the one the source file carried (a format with ids of its
            own, such as WSJF), not one derived from the content. Such an id must identify one
            report: ``enqueue`` refuses it (:class:`ReportIdConflict`) when the spool, or its
            ledger of acknowledged ids, holds it for other source content; and a derived id
            that a kept id from other content holds already is refused the same way.
    """

    path: str
    content_hash: str
    converter: str
    converter_version: str
    index: Annotated[int, msgspec.Meta(ge=0)] = 0
    kept_id: bool = False


class SpoolItem(msgspec.Struct, frozen=True, kw_only=True):
    """One report to enqueue.

    Attributes:
        report_id: the report's GUID (the WSJF ``id``); any GUID spelling, stored canonically.
        body: the report's WSJF JSON bytes, exactly as they will be uploaded.
        source: where it came from.
    """

    report_id: str
    body: bytes
    source: SourceInfo


class EnqueueResult(msgspec.Struct, frozen=True, kw_only=True):
    """What one ``enqueue`` call did, id by id (canonical ids, in call order).

    Attributes:
        inserted: ids that were new and are now durably pending.
        duplicates: ids the spool already had (in any state, or in its ledger of acknowledged
            ids), so nothing was inserted for them; a repeated id within one call also counts
            here.
        already_sent: the duplicates that the server has already acknowledged: they are never
            uploaded again, even when their row was deleted long ago (the ledger remembers
            them for ``acknowledged_days``).
        content_changed: the already sent ids whose source content hash differs from the one
            acknowledged: a source that yields the same id for other content. Nothing is
            stored or sent for them either; the spool logs a warning, and the caller should
            report it (the new content never reaches the server under that id). Ids kept
            from their source (``SourceInfo.kept_id``) never land here: other content under
            such an id raises :class:`ReportIdConflict` instead.
    """

    inserted: tuple[str, ...]
    duplicates: tuple[str, ...]
    already_sent: tuple[str, ...] = ()
    content_changed: tuple[str, ...] = ()


class ClaimedReport(msgspec.Struct, frozen=True, kw_only=True):
    """A due report handed to one upload; no other ``claim`` returns it until it is marked or
    released.

    Attributes:
        report_id: the canonical id, also the ``Idempotency-Key``.
        body: the WSJF bytes to send.
        attempts: upload attempts recorded so far (0 for a new report).
        created_at: when it was enqueued.
        source: where it came from.
    """

    report_id: str
    body: bytes
    attempts: int
    created_at: float
    source: SourceInfo


class ReportSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One row of the spool without its body (``queue ls``).

    Attributes:
        position: the row's insertion sequence number; the paging cursor.
        report_id: the canonical id.
        state: where it is in its life.
        attempts: upload attempts recorded.
        next_attempt_at: when a pending report is due (epoch seconds).
        last_error: the last failure (or the server's rejection), if any.
        created_at: when it was enqueued.
        updated_at: when its row last changed.
        sent_at: when the server took it, for sent reports.
        server_answer: what the server answered on success, if recorded.
        body_size: the size of its body in bytes (kept after the body is dropped by retention).
        has_body: whether the body is still stored.
        source: where it came from; ``None`` if the row's metadata does not decode (the node's
            start-up check will quarantine such a row).
    """

    position: int
    report_id: str
    state: ReportState
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    updated_at: float
    sent_at: float | None
    server_answer: str | None
    body_size: int
    has_body: bool
    source: SourceInfo | None


class ReportRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One report with its body (``queue show``).

    Attributes:
        summary: everything but the body.
        body: the WSJF bytes, or ``None`` after retention dropped them.
    """

    summary: ReportSummary
    body: bytes | None


class ReportPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of a listing.

    Attributes:
        reports: the rows, in the order asked for.
        next_cursor: pass it as ``after`` for the next page; ``None`` on the last page.
    """

    reports: tuple[ReportSummary, ...]
    next_cursor: int | None


class QuarantinedRow(msgspec.Struct, frozen=True, kw_only=True):
    """A row the start-up check could not read, moved out of the way with the reason.

    Attributes:
        report_id: the id as it was stored (it may itself be what was broken).
        reason: what the check found.
        quarantined_at: when it was moved.
    """

    report_id: str
    reason: str
    quarantined_at: float


class RetentionResult(msgspec.Struct, frozen=True, kw_only=True):
    """What one retention pass did to sent reports and to the ledger of acknowledged ids.

    Attributes:
        bodies_dropped: sent reports whose body was set to NULL (older than the body age).
        rows_deleted: sent reports deleted (older than the metadata age).
        acknowledged_forgotten: acknowledged ids forgotten (older than ``acknowledged_days``,
            or beyond ``acknowledged_max``).
    """

    bodies_dropped: int = 0
    rows_deleted: int = 0
    acknowledged_forgotten: int = 0


class StartupReport(msgspec.Struct, frozen=True, kw_only=True):
    """What opening the spool found and did.

    Opening does no work per row: the file's ``quick_check`` runs in the background once the
    spool is open, and each row is checked when it is claimed for upload.

    Attributes:
        created: the database file was new.
        schema_version: the schema version after migrations.
        migrated_from: the version found before migrating, if a migration ran.
        retention: the retention pass run at start, or ``None`` if the disk was too full for
            it (the spool opens anyway and tries again every ``retention_interval``).
        open_seconds: how long opening took, until the spool was ready.
    """

    created: bool
    schema_version: int
    migrated_from: int | None
    retention: RetentionResult | None
    open_seconds: float


class PauseReason(enum.Enum):
    """Why intake is paused."""

    SIZE_LIMIT = "size_limit"
    """Unsent work (pending and rejected reports) reached ``max_bytes`` or ``max_reports``;
    uploads (or a purge) make room."""
    DISK_FULL = "disk_full"
    """The file system is full or below the reserve; it resumes once space is free again."""


class IntakePaused(msgspec.Struct, frozen=True, kw_only=True):
    """The spool asks the node to stop taking new files (leave them where they are)."""

    reason: PauseReason
    time: float


class IntakeResumed(msgspec.Struct, frozen=True, kw_only=True):
    """The spool has room again; intake may continue."""

    time: float


SpoolEvent = IntakePaused | IntakeResumed


class SpoolStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of the spool.

    Attributes:
        pending: reports waiting for upload (including claimed ones).
        sent: sent reports still kept.
        rejected: reports the server refused, waiting for an operator.
        claimed: reports currently claimed by in-flight uploads (this process only).
        quarantined: rows in quarantine.
        bytes: stored body bytes over all states (kept within ``max_bytes`` by dropping the
            oldest sent bodies).
        pending_bytes: stored body bytes of pending reports.
        oldest_pending_age: seconds since the oldest pending report was enqueued, or ``None``.
        intake_paused: why intake is paused, or ``None`` while it is open.
        transactions: write transactions committed since the spool opened.
        enqueue_calls: ``enqueue`` calls that committed since the spool opened.
        enqueued: reports inserted since the spool opened.
        duplicates: enqueued ids that were already present, since the spool opened.
        max_bytes: the configured byte limit on unsent work (pending and rejected bodies), or
            ``None``.
        max_reports: the configured limit on unsent reports (pending and rejected), or
            ``None``.
    """

    pending: int
    sent: int
    rejected: int
    claimed: int
    quarantined: int
    bytes: int
    pending_bytes: int
    oldest_pending_age: float | None
    intake_paused: PauseReason | None
    transactions: int
    enqueue_calls: int
    enqueued: int
    duplicates: int
    max_bytes: int | None
    max_reports: int | None

    @property
    def reports(self) -> int:
        """Rows over all states."""
        return self.pending + self.sent + self.rejected
