"""The WSJF report: header, UUT and UUR blocks, misc infos, sub-units, assets.

A report is a :class:`UUTReport` (``"type": "T"``, a test with a step tree) or a :class:`UURReport`
(``"type": "R"``, a repair). ``type`` is the msgspec tag that picks the class when decoding; in
Python it is the class itself (and the ``type`` class variable).

Required by the types: what identifies a report (the header fields [V1] marks required) and, for a
UUT, its ``root`` and ``uut``; for a UUR, its ``uur`` and ``subUnits``. ``startUTC`` and
``processName`` are optional because the server fills them in. Every conditional rule is
:func:`~pywats_actors.report.validate`'s job.
"""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal, TypeAlias

import msgspec
from msgspec import UNSET

from ._base import Maybe, Timestamp, WsjfObject
from ._data import AdditionalData, BinaryData
from ._steps import Step

__all__ = [
    "Asset",
    "AssetStats",
    "MiscInfo",
    "RefUUR",
    "Report",
    "SubUnit",
    "UURFailure",
    "UURInfo",
    "UURReport",
    "UUTInfo",
    "UUTReport",
]


class RefUUR(WsjfObject, frozen=True, kw_only=True):
    """A repair report that refers to this UUT (``uut.refUURs[]``; written by the server)."""

    id: Maybe[uuid.UUID] = UNSET
    start: Maybe[Timestamp] = UNSET


class UUTInfo(WsjfObject, frozen=True, kw_only=True):
    """The ``uut`` block of a test report.

    Attributes:
        user: operator name.
        comment: free comment on the test run.
        exec_time: execution time in seconds.
        test_socket_index: test socket of a parallel tester (-1 when unused).
        batch_sn: serial number of the batch.
        batch_fail_count, batch_loop_index: batch bookkeeping.
        error_code, error_message: the UUT's error, if any.
        fixture_id: test fixture.
        step_id_caused_uut_failure: ``id`` of the step that made the UUT fail.
        ref_uurs: repairs of this UUT (output only).
    """

    user: Maybe[str] = UNSET
    comment: Maybe[str] = UNSET
    exec_time: Maybe[float] = UNSET
    exec_time_format: Maybe[str] = UNSET
    test_socket_index: Maybe[int] = UNSET
    test_socket_index_format: Maybe[str] = UNSET
    batch_sn: Maybe[str] = msgspec.field(default=UNSET, name="batchSN")
    batch_fail_count: Maybe[int] = UNSET
    batch_fail_count_format: Maybe[str] = UNSET
    batch_loop_index: Maybe[int] = UNSET
    batch_loop_index_format: Maybe[str] = UNSET
    error_code: Maybe[int] = UNSET
    error_code_format: Maybe[str] = UNSET
    error_message: Maybe[str] = UNSET
    fixture_id: Maybe[str] = UNSET
    step_id_caused_uut_failure: Maybe[int] = msgspec.field(
        default=UNSET, name="stepIdCausedUUTFailure"
    )
    ref_uurs: Maybe[tuple[RefUUR, ...]] = msgspec.field(default=UNSET, name="refUURs")


class UURInfo(WsjfObject, frozen=True, kw_only=True):
    """The ``uur`` block of a repair report.

    Attributes:
        user: repair operator.
        comment: free comment on the repair.
        process_code: test operation code of the *referenced UUT* (the header's ``processCode`` is
            the repair operation).
        process_name: name of that test operation.
        ref_uut: GUID of the failed UUT report.
        confirm_date, finalize_date: when the repair was confirmed and finalized.
        exec_time: repair time in seconds.
        parent: GUID of the parent repair, making this a sub-repair.
        children: GUIDs of sub-repairs.
    """

    user: Maybe[str] = UNSET
    comment: Maybe[str] = UNSET
    process_code: Maybe[int] = UNSET
    process_code_format: Maybe[str] = UNSET
    process_name: Maybe[str] = UNSET
    ref_uut: Maybe[uuid.UUID] = msgspec.field(default=UNSET, name="refUUT")
    confirm_date: Maybe[Timestamp] = UNSET
    finalize_date: Maybe[Timestamp] = UNSET
    exec_time: Maybe[float] = UNSET
    parent: Maybe[uuid.UUID] = UNSET
    children: Maybe[tuple[uuid.UUID, ...]] = UNSET


class MiscInfo(WsjfObject, frozen=True, kw_only=True):
    """One free key/value of the header (``miscInfos[]``): text, a number, or both.

    Attributes:
        description: the key.
        text: text value (max 100 characters).
        numeric: numeric value.
        typedef: type name (max 30 characters).
        id: GUID, repair reports only.
    """

    description: str
    text: Maybe[str] = UNSET
    numeric: Maybe[int] = UNSET
    numeric_format: Maybe[str] = UNSET
    typedef: Maybe[str] = UNSET
    id: Maybe[uuid.UUID] = UNSET


class UURFailure(WsjfObject, frozen=True, kw_only=True):
    """A failure found and repaired on a unit (``subUnits[].failures[]``).

    Attributes:
        category, code: failure category and code, as configured on the server.
        comment: free comment.
        com_ref: component reference, e.g. ``U1``.
        func_block: functional block.
        ref_step_id: ``id`` of the failing step in the referenced UUT report.
        ref_step_name: its name.
        art_number, art_rev, art_vendor, art_description: the replaced article.
        attachments: files (photos...).
    """

    category: Maybe[str] = UNSET
    code: Maybe[str] = UNSET
    comment: Maybe[str] = UNSET
    com_ref: Maybe[str] = UNSET
    func_block: Maybe[str] = UNSET
    ref_step_id: Maybe[int] = UNSET
    ref_step_name: Maybe[str] = UNSET
    art_number: Maybe[str] = UNSET
    art_rev: Maybe[str] = UNSET
    art_vendor: Maybe[str] = UNSET
    art_description: Maybe[str] = UNSET
    attachments: Maybe[tuple[BinaryData, ...]] = UNSET


class SubUnit(WsjfObject, frozen=True, kw_only=True):
    """A unit inside the tested or repaired unit (``subUnits[]``).

    Attributes:
        pn, sn, rev: the sub-unit's identity.
        part_type: kind of unit, e.g. ``PCBA`` (max 50 characters); ``Main`` for a repair's idx 0.
        position: position in the parent (test reports).
        idx: index in the repair's unit tree, 0 = the repaired unit itself (repair reports).
        parent_idx: ``idx`` of the parent unit (repair reports).
        replaced_idx: ``idx`` of the unit this one replaced (repair reports).
        failures: failures found on this unit (repair reports).
    """

    pn: str
    sn: str
    part_type: Maybe[str] = UNSET
    rev: Maybe[str] = UNSET
    position: Maybe[int] = UNSET
    idx: Maybe[int] = UNSET
    parent_idx: Maybe[int] = UNSET
    replaced_idx: Maybe[int] = UNSET
    failures: Maybe[tuple[UURFailure, ...]] = UNSET


class Asset(WsjfObject, frozen=True, kw_only=True):
    """Test equipment used (``assets[]``)."""

    asset_sn: Maybe[str] = msgspec.field(default=UNSET, name="assetSN")
    usage_count: Maybe[int] = UNSET
    usage_count_format: Maybe[str] = UNSET


class AssetStats(WsjfObject, frozen=True, kw_only=True):
    """Asset usage and calibration state as the server saw it (``assetStats[]``; output only)."""

    asset_sn: Maybe[str] = msgspec.field(default=UNSET, name="assetSN")
    running_count: Maybe[int | float] = UNSET
    running_count_exceeded: Maybe[bool] = UNSET
    total_count: Maybe[int | float] = UNSET
    total_count_exceeded: Maybe[bool] = UNSET
    days_since_calibration: Maybe[int | float] = UNSET
    is_days_since_calibration_unknown: Maybe[bool] = UNSET
    calibration_days_overdue: Maybe[int | float] = UNSET
    days_since_maintenance: Maybe[int | float] = UNSET
    is_days_since_maintenance_unknown: Maybe[bool] = UNSET
    maintenance_days_overdue: Maybe[int | float] = UNSET
    message: Maybe[str] = UNSET


class _ReportHeader(WsjfObject, frozen=True, kw_only=True, tag_field="type"):
    """The fields every report has.

    Attributes:
        id: the report's identity; re-posting the same id replaces the report on the server.
        pn, sn, rev: part number, serial number, revision (max 100 characters each).
        process_code: the process (test or repair operation) code, configured on the server.
        process_name: its name (case sensitive; the server fills it in when absent).
        result: :class:`ReportResult` letter.
        machine_name: station name.
        location, purpose: station location and purpose.
        start: local start time with its UTC offset.
        start_utc: the same instant in UTC (the server fills it in when absent).
        misc_infos: free header key/values.
        assets: equipment used.
        binary_data: report-level attachments (repair reports).
        additional_data: free-form header data.
        origin, product_name, asset_stats: written by the server in exports.
    """

    id: uuid.UUID
    pn: str
    sn: str
    rev: str
    process_code: int
    result: str
    machine_name: str
    location: str
    purpose: str
    start: Timestamp
    start_utc: Maybe[Timestamp] = msgspec.field(default=UNSET, name="startUTC")
    process_name: Maybe[str] = UNSET
    process_code_format: Maybe[str] = UNSET
    product_name: Maybe[str] = UNSET
    origin: Maybe[str] = UNSET
    misc_infos: Maybe[tuple[MiscInfo, ...]] = UNSET
    assets: Maybe[tuple[Asset, ...]] = UNSET
    asset_stats: Maybe[tuple[AssetStats, ...]] = UNSET
    binary_data: Maybe[tuple[BinaryData, ...]] = UNSET
    additional_data: Maybe[tuple[AdditionalData, ...]] = UNSET


class UUTReport(_ReportHeader, frozen=True, kw_only=True, tag="T"):
    """A test report (``"type": "T"``).

    Attributes:
        root: the root step (a sequence call) holding the step tree.
        uut: test-specific header fields.
        sub_units: units inside the tested unit.
    """

    type: ClassVar[Literal["T"]] = "T"

    root: Step
    uut: UUTInfo
    sub_units: Maybe[tuple[SubUnit, ...]] = UNSET


class UURReport(_ReportHeader, frozen=True, kw_only=True, tag="R"):
    """A repair report (``"type": "R"``).

    Attributes:
        uur: repair-specific header fields.
        sub_units: the repaired unit (``idx`` 0) and its sub-units, with their failures.
    """

    type: ClassVar[Literal["R"]] = "R"

    uur: UURInfo
    sub_units: tuple[SubUnit, ...]


Report: TypeAlias = UUTReport | UURReport
"""A WSJF report of either kind."""
