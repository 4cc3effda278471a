"""The spool's settings: one frozen, validated record that the node's TOML config embeds."""

from __future__ import annotations

import enum
from typing import Annotated

import msgspec

__all__ = ["FullPolicy", "SpoolSettings"]

_DAY = 86_400.0
_MiB = 1 << 20

_Days = Annotated[float, msgspec.Meta(gt=0, le=36_500)]
_Seconds = Annotated[float, msgspec.Meta(gt=0, le=30 * _DAY)]
_Bytes = Annotated[int, msgspec.Meta(ge=0, le=1 << 50)]


class FullPolicy(enum.Enum):
    """What ``enqueue`` does when the new reports would exceed ``max_bytes`` or ``max_reports``.

    There is deliberately no "drop the oldest pending" policy: a pending report exists nowhere
    else once its source file has been moved to ``done/``.
    """

    REFUSE = "refuse"
    """Raise :class:`~pywats_actors.spool.SpoolFull` and pause intake (the default)."""
    EVICT_SENT = "evict_sent"
    """First delete the oldest *sent* reports (the server has them) to make room; refuse only
    if that is not enough."""


class SpoolSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How the spool stores, limits and ages reports.

    Attributes:
        max_bytes: the most report-body bytes the spool holds over all states (sent bodies
            count until retention drops them); ``None`` for no limit.
        max_reports: the most rows over all states; ``None`` for no limit.
        when_full: what to do when an enqueue would exceed a limit (:class:`FullPolicy`).
        resume_below: after a refusal, intake resumes once usage is at or below this fraction
            of every limit (hysteresis, so intake does not flap at the edge).
        reserve_free_bytes: refuse new work when it would leave less than this free on the
            file system, so that state changes, checkpoints and retention still have room;
            0 turns the check off (SQLite's own "disk full" is then the only limit).
        resume_free_bytes: after a disk-full refusal, intake resumes once this much is free on
            top of the reserve.
        disk_probe_interval: seconds between free-space checks while paused for a full disk.
        sent_body_days: days after which a sent report's body is dropped (set to NULL).
        sent_metadata_days: days after which a sent report's row is deleted.
        retention_interval: seconds between retention passes (also run at start).
        max_batch: the most calls group-committed in one transaction.
        busy_timeout: seconds SQLite waits on a lock held by a reader's checkpoint or recovery.
        verify_bodies: check every stored body's CRC at start (reads every body once).
    """

    max_bytes: _Bytes | None = 2048 * _MiB
    max_reports: Annotated[int, msgspec.Meta(ge=1)] | None = None
    when_full: FullPolicy = FullPolicy.REFUSE
    resume_below: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.9
    reserve_free_bytes: _Bytes = 64 * _MiB
    resume_free_bytes: _Bytes = 16 * _MiB
    disk_probe_interval: _Seconds = 5.0
    sent_body_days: _Days = 7.0
    sent_metadata_days: _Days = 30.0
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
