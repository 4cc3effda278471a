"""Report ids that must identify one report: the checks ``enqueue`` makes before it inserts.

A derived report id follows from the source's content, so the same id again is the same result
again (a file converted again after a crash, or fed again): a duplicate, stored once. An id kept
from the source (WSJF carries its own, ``SourceInfo.kept_id``) follows from nothing: another
file may carry it too. Such an id held for *other* content is a conflict, never a duplicate, or
one file would silently suppress another's report. The checks run on the writer's connection
inside the call's savepoint, before the first insert, so the whole call is refused
(:class:`ReportIdConflict`) and no concurrent enqueue can slip in between check and insert.

What counts as the same report: the same content hash and the same position in the file. A kept
id that only the ledger of acknowledged ids remembers is compared by the ledger's fingerprint
of the content hash (its file is no longer known).
"""

from __future__ import annotations

import msgspec

from ._errors import ReportIdConflict
from ._integrity import decode_source
from ._ledger import content_fingerprint
from ._types import SourceInfo

__all__ = ["check_acknowledged", "check_repeat", "check_row"]


def _same_report(a: SourceInfo, b: SourceInfo) -> bool:
    return a.content_hash == b.content_hash and a.index == b.index


def check_repeat(report_id: str, source: SourceInfo, earlier: SourceInfo) -> None:
    """An id given again within one call: a conflict when either report kept it and they are
    not the same report.

    Raises:
        ReportIdConflict: naming both.
    """
    if (source.kept_id or earlier.kept_id) and not _same_report(source, earlier):
        raise ReportIdConflict(
            report_id,
            source,
            holder_path=earlier.path,
            holder_content_hash=earlier.content_hash,
            holder_state="enqueued",
        )


def check_row(report_id: str, source: SourceInfo, state: str, stored: str | bytes) -> None:
    """An id the spool has a row for (*state*, its ``source`` column *stored*): a conflict when
    either report kept it and they are not the same report. A row whose source does not decode
    conflicts with a kept id (nothing shows it is the same report); for a derived id it stays
    a duplicate, as before (the start-up check quarantines such a row).

    Raises:
        ReportIdConflict: naming the holder's file, content hash and state.
    """
    try:
        holder: SourceInfo | None = decode_source(stored)
    except msgspec.DecodeError:
        holder = None
    if holder is None:
        if source.kept_id:
            raise ReportIdConflict(
                report_id, source, holder_path=None, holder_content_hash=None, holder_state=state
            )
        return
    if (source.kept_id or holder.kept_id) and not _same_report(source, holder):
        raise ReportIdConflict(
            report_id,
            source,
            holder_path=holder.path,
            holder_content_hash=holder.content_hash,
            holder_state=state,
        )


def check_acknowledged(
    report_id: str, source: SourceInfo, fingerprint: bytes, acknowledged_at: float
) -> None:
    """A kept id that only the ledger of acknowledged ids remembers: a conflict when the
    ledger's fingerprint is not that of this report's content. (A derived id with another
    fingerprint stays ``content_changed``, as before.)

    Raises:
        ReportIdConflict: with the fingerprint and the time the server acknowledged the id.
    """
    if source.kept_id and fingerprint != content_fingerprint(source.content_hash):
        raise ReportIdConflict(
            report_id,
            source,
            holder_path=None,
            holder_content_hash=fingerprint.hex(),
            holder_state="acknowledged",
            acknowledged_at=acknowledged_at,
        )
