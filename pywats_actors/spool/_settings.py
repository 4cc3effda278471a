"""The spool's settings: one frozen, validated record that the node's TOML config embeds."""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["SpoolSettings"]

_DAY = 86_400.0
_MiB = 1 << 20

_Days = Annotated[float, msgspec.Meta(gt=0, le=36_500)]
_Seconds = Annotated[float, msgspec.Meta(gt=0, le=30 * _DAY)]
_Bytes = Annotated[int, msgspec.Meta(ge=0, le=1 << 50)]


class SpoolSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How the spool stores, limits and ages reports.

    The limits bound the work not yet sent: pending and rejected reports. Sent reports make room
    by themselves: when the reports of all states would exceed a limit, the oldest sent ones
    are deleted first (the server has them, and the ledger of acknowledged ids remembers them).
    So the limits also bound the spool as a whole, and intake pauses only for unsent work.

    Attributes:
        max_bytes: the most report-body bytes the spool holds, pending and rejected reports
            (sent bodies are kept only while there is room); ``None`` for no limit.
        max_reports: the most pending and rejected reports (sent rows are kept only while
            there is room); ``None`` for no limit.
        resume_below: after a refusal, intake resumes once unsent work is at or below this
            fraction of every limit (hysteresis, so intake does not flap at the edge).
        reserve_free_bytes: refuse new work when it would leave less than this free on the
            file system, so that state changes, checkpoints and retention still have room;
            0 turns the check off (SQLite's own "disk full" is then the only limit).
        resume_free_bytes: after a disk-full refusal, intake resumes once this much is free on
            top of the reserve.
        disk_probe_interval: seconds between free-space checks while paused for a full disk.
        sent_body_days: days after which a sent report's body is dropped (set to NULL).
        sent_metadata_days: days after which a sent report's row is deleted.
        acknowledged_days: days an acknowledged id is remembered after its row is gone (an
            enqueue of a remembered id stores nothing and reports it as already sent).
        acknowledged_max: the most acknowledged ids remembered; the oldest are forgotten first.
        retention_interval: seconds between retention passes (also run at start).
        max_batch: the most calls group-committed in one transaction.
        busy_timeout: seconds SQLite waits on a lock held by a reader's checkpoint or recovery.
        verify_bodies: check a body's CRC when it is claimed for upload (a damaged report is
            quarantined instead of uploaded).
    """

    max_bytes: _Bytes | None = 2048 * _MiB
    max_reports: Annotated[int, msgspec.Meta(ge=1)] | None = None
    resume_below: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.9
    reserve_free_bytes: _Bytes = 64 * _MiB
    resume_free_bytes: _Bytes = 16 * _MiB
    disk_probe_interval: _Seconds = 5.0
    sent_body_days: _Days = 7.0
    sent_metadata_days: _Days = 30.0
    acknowledged_days: _Days = 1095.0
    acknowledged_max: Annotated[int, msgspec.Meta(ge=1, le=1 << 40)] = 4_000_000
    retention_interval: _Seconds = 3600.0
    max_batch: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 256
    busy_timeout: _Seconds = 5.0
    verify_bodies: bool = True

    def __post_init__(self) -> None:
        if self.sent_body_days > self.sent_metadata_days:
            raise ValueError(
                f"sent_body_days ({self.sent_body_days}) must not exceed "
                f"sent_metadata_days ({self.sent_metadata_days})"
            )

    @property
    def sent_body_seconds(self) -> float:
        """``sent_body_days`` in seconds."""
        return self.sent_body_days * _DAY

    @property
    def sent_metadata_seconds(self) -> float:
        """``sent_metadata_days`` in seconds."""
        return self.sent_metadata_days * _DAY

    @property
    def acknowledged_seconds(self) -> float:
        """``acknowledged_days`` in seconds."""
        return self.acknowledged_days * _DAY
