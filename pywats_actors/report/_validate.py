"""``validate()``: every WSJF rule a decoded (or built) report can still break.

Decoding has already checked JSON types and the identifying fields. What is left, and checked here:

* header: the nil GUID as id, blank or over-long identity fields (100 characters, [V1]), the
  result letter, int32 ranges, ``start`` with a UTC offset and ``startUTC`` in UTC naming the same
  instant;
* UUT: the step tree (``_validate_steps.py``), the report result against the root's status, the
  step that caused the UUT failure;
* UUR: the unit tree of ``subUnits`` (``idx`` 0 is the repaired unit, parents and replacements
  exist) and each failure's category and code;
* misc infos, sub-units, assets, attachments, additional data;
* numbers JSON can carry (no NaN or infinity, which only code can produce), and
  ``unknown_fields`` that do not clash with their object's own keys.
"""

from __future__ import annotations

import uuid

from ._base import UNKNOWN_FIELDS_KEY, timestamp_ticks
from ._codec import has_unknown_fields
from ._data import BinaryData
from ._enums import ReportResult
from ._errors import ReportInvalid
from ._model import AssetStats, Report, SubUnit, UURReport, UUTReport
from ._problems import Findings, ValidationProblem, given
from ._validate_steps import check_additional_data, check_step_tree
from ._walk import struct_schema, walk_objects

__all__ = ["validate", "validate_or_raise"]

_HEADER_LIMIT = 100
_MISC_TEXT_LIMIT = 100
_TYPEDEF_LIMIT = 30
_PART_TYPE_LIMIT = 50
_RESULTS = frozenset(member.value for member in ReportResult)
_NIL = uuid.UUID(int=0)
_ASSET_STATS_KEYS = struct_schema(AssetStats).keys
_ASSET_STATS_NUMBERS = struct_schema(AssetStats).float_fields


def validate(report: Report) -> list[ValidationProblem]:
    """Check a report against the WSJF rules beyond types.

    Returns:
        Every problem found, in document order; an empty list means the report is valid.
    """
    findings = Findings()
    _check_header(findings, report)
    if isinstance(report, UUTReport):
        _check_uut(findings, report)
    else:
        _check_uur(findings, report)
    _check_unknown_fields(findings, report)
    return findings.problems


def validate_or_raise(report: Report) -> Report:
    """Return ``report`` unchanged when it is valid.

    Raises:
        ReportInvalid: with every problem :func:`validate` found.
    """
    problems = validate(report)
    if problems:
        raise ReportInvalid(problems)
    return report


def _check_header(findings: Findings, report: Report) -> None:
    if report.id == _NIL:
        findings.add("$.id", "the nil GUID is not a report identity; every report needs its own")
    for key, value in (
        ("pn", report.pn),
        ("sn", report.sn),
        ("machineName", report.machine_name),
        ("location", report.location),
        ("purpose", report.purpose),
    ):
        findings.check_text("$", key, value, required=True, max_length=_HEADER_LIMIT)
    findings.check_text("$", "rev", report.rev, max_length=_HEADER_LIMIT)
    findings.check_int("$", "processCode", report.process_code)
    findings.check_one_of("$", "result", report.result, _RESULTS)
    start_ok = findings.check_timestamp("$", "start", report.start, required=True)
    if findings.check_timestamp("$", "startUTC", report.start_utc, utc=True) and start_ok:
        assert isinstance(report.start_utc, str)  # check_timestamp said so
        if timestamp_ticks(report.start) != timestamp_ticks(report.start_utc):
            findings.add(
                "$.startUTC", f"{report.start_utc} is not the same instant as start {report.start}"
            )
    for index, info in enumerate(report.misc_infos or ()):
        path = f"$.miscInfos[{index}]"
        findings.check_text(path, "description", info.description, required=True)
        findings.check_text(path, "text", info.text, max_length=_MISC_TEXT_LIMIT)
        findings.check_text(path, "typedef", info.typedef, max_length=_TYPEDEF_LIMIT)
        findings.check_int(path, "numeric", info.numeric)
        if not given(info.text) and not given(info.numeric):
            findings.add(path, "needs text or numeric")
    for index, sub_unit in enumerate(report.sub_units or ()):
        _check_sub_unit(findings, sub_unit, f"$.subUnits[{index}]")
    for index, asset in enumerate(report.assets or ()):
        findings.check_text(f"$.assets[{index}]", "assetSN", asset.asset_sn, required=True)
        findings.check_int(f"$.assets[{index}]", "usageCount", asset.usage_count, minimum=0)
    for index, binary in enumerate(report.binary_data or ()):
        _check_binary(findings, binary, f"$.binaryData[{index}]")
    for index, stats in enumerate(report.asset_stats or ()):
        for attr in _ASSET_STATS_NUMBERS:
            value = getattr(stats, attr)
            findings.check_finite(f"$.assetStats[{index}]", _ASSET_STATS_KEYS[attr], value)
    if report.additional_data:
        check_additional_data(findings, report.additional_data, "$.additionalData")


def _check_sub_unit(findings: Findings, sub_unit: SubUnit, path: str) -> None:
    findings.check_text(
        path, "partType", sub_unit.part_type, required=True, max_length=_PART_TYPE_LIMIT
    )
    findings.check_text(path, "pn", sub_unit.pn, required=True, max_length=_HEADER_LIMIT)
    findings.check_text(path, "sn", sub_unit.sn, required=True, max_length=_HEADER_LIMIT)
    findings.check_text(path, "rev", sub_unit.rev, max_length=_HEADER_LIMIT)
    findings.check_int(path, "position", sub_unit.position)


def _check_uut(findings: Findings, report: UUTReport) -> None:
    steps = check_step_tree(findings, report.root)
    root_status = report.root.status
    if root_status in _RESULTS and report.result in _RESULTS and report.result != root_status:
        findings.add(
            "$.result", f"{report.result!r} disagrees with the root step's status {root_status!r}"
        )
    if report.result == ReportResult.PASSED:
        for step in steps.values():
            if step.caused_uut_failure is True:
                findings.add(
                    "$.result", f"the report passed but step {step.id} caused the UUT failure"
                )
                break
    uut = report.uut
    failed_id = uut.step_id_caused_uut_failure
    if isinstance(failed_id, int) and failed_id not in steps:
        findings.add("$.uut.stepIdCausedUUTFailure", f"no step has id {failed_id}")
    findings.check_text("$.uut", "user", uut.user, max_length=_HEADER_LIMIT)
    findings.check_int("$.uut", "testSocketIndex", uut.test_socket_index, minimum=-1)
    findings.check_int("$.uut", "errorCode", uut.error_code)
    findings.check_int("$.uut", "batchFailCount", uut.batch_fail_count, minimum=0)
    findings.check_int("$.uut", "batchLoopIndex", uut.batch_loop_index, minimum=0)
    findings.check_finite("$.uut", "execTime", uut.exec_time)
    findings.check_not_negative("$.uut", "execTime", uut.exec_time)
    if report.binary_data:
        findings.add(
            "$.binaryData", "report-level attachments are for repair reports; attach to steps"
        )
    for index, sub_unit in enumerate(report.sub_units or ()):
        if sub_unit.failures:
            findings.add(f"$.subUnits[{index}].failures", "failures belong to repair reports")


def _check_uur(findings: Findings, report: UURReport) -> None:
    uur = report.uur
    findings.check_int("$.uur", "processCode", uur.process_code)
    findings.check_timestamp("$.uur", "confirmDate", uur.confirm_date)
    findings.check_timestamp("$.uur", "finalizeDate", uur.finalize_date)
    findings.check_finite("$.uur", "execTime", uur.exec_time)
    findings.check_not_negative("$.uur", "execTime", uur.exec_time)
    indexes: dict[int, str] = {}
    for position, sub_unit in enumerate(report.sub_units):
        path = f"$.subUnits[{position}]"
        if not isinstance(sub_unit.idx, int):
            findings.add_at(path, "idx", "is required in a repair report (0 = the repaired unit)")
        elif sub_unit.idx in indexes:
            findings.add_at(
                path, "idx", f"{sub_unit.idx} is also the idx of {indexes[sub_unit.idx]}"
            )
        else:
            findings.check_int(path, "idx", sub_unit.idx, minimum=0)
            indexes[sub_unit.idx] = path
        for index, failure in enumerate(sub_unit.failures or ()):
            where = f"{path}.failures[{index}]"
            findings.check_text(where, "category", failure.category, required=True)
            findings.check_text(where, "code", failure.code, required=True)
            findings.check_int(where, "refStepId", failure.ref_step_id, minimum=0)
            for number, binary in enumerate(failure.attachments or ()):
                _check_binary(findings, binary, f"{where}.attachments[{number}]")
    if 0 not in indexes:
        findings.add("$.subUnits", "needs the repaired unit itself, with idx 0")
    for position, sub_unit in enumerate(report.sub_units):
        for key, ref in (
            ("parentIdx", sub_unit.parent_idx),
            ("replacedIdx", sub_unit.replaced_idx),
        ):
            if isinstance(ref, int) and ref not in indexes:
                findings.add_at(f"$.subUnits[{position}]", key, f"no sub-unit has idx {ref}")


def _check_binary(findings: Findings, binary: BinaryData, path: str) -> None:
    findings.check_text(path, "contentType", binary.content_type, required=True)
    findings.check_base64(path, "data", binary.data, required=True)


def _check_unknown_fields(findings: Findings, report: Report) -> None:
    """No ``unknown_fields`` key is one of its object's own keys (only code can do that)."""
    if not has_unknown_fields(report):
        return
    for path, obj in walk_objects(report):
        schema = struct_schema(type(obj))
        for key in obj.unknown_fields:
            if key in schema.known_keys or key == UNKNOWN_FIELDS_KEY:
                findings.add_at(path, key, "is a known key here, so it cannot be an unknown field")
