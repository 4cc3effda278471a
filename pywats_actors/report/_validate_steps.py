"""Validation rules for the step tree of a UUT report.

Per step: id (int32, unique in the report), group, status, a start time with offset, a
non-negative duration, the payload its type name promises (a numeric limit test carries at most one
numeric measurement, and only numeric ones), unique names wherever a step has several measurements,
each measurement's operator, limits and status, loops, charts and attachments.

Status roll-up, as far as TestStand semantics make it a rule: a *passed* step has no *failed*
measurement, and a step whose child says ``causedSeqFailure`` is not *passed*. A passed sequence
may hold failed steps (TestStand's "step failure causes sequence failure" can be off), and real
exports hold single-measurement steps without their measurement (skipped steps, loop summaries), so
neither is a problem.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ._compare import LimitUse, limit_use, parse_numeric_comp_op, parse_string_comp_op
from ._data import AdditionalData, AdditionalDataProperty, Attachment
from ._enums import MeasurementStatus, NumericCompOp, SeriesDataType, StepGroup, StepStatus
from ._problems import Findings, given
from ._steps import (
    BooleanMeasurement,
    CallExecutableInfo,
    Chart,
    LoopInfo,
    NumericMeasurement,
    Step,
    StepKind,
    StringMeasurement,
)

__all__ = ["check_additional_data", "check_step_tree"]

_Measurement = NumericMeasurement | StringMeasurement | BooleanMeasurement

# kind -> (the measurement array it uses, at most one measurement?)
_PAYLOADS: dict[StepKind, tuple[str, bool]] = {
    StepKind.NUMERIC_LIMIT: ("numericMeas", True),
    StepKind.MULTI_NUMERIC_LIMIT: ("numericMeas", False),
    StepKind.PASS_FAIL: ("booleanMeas", True),
    StepKind.MULTI_PASS_FAIL: ("booleanMeas", False),
    StepKind.STRING_VALUE: ("stringMeas", True),
    StepKind.MULTI_STRING_VALUE: ("stringMeas", False),
}
_GROUPS = frozenset(member.value for member in StepGroup)
_STEP_STATUSES = frozenset(member.value for member in StepStatus)
_MEASUREMENT_STATUSES = frozenset(member.value for member in MeasurementStatus)
_SERIES_TYPES = frozenset(member.value for member in SeriesDataType)
_INSIDE_RANGE = frozenset({"GTLT", "GTLE", "GELT", "GELE"})
_NUMERIC_OPS = ", ".join(NumericCompOp)
_STRING_OPS = "LOG, EQ, NE, CASESENSIT, IGNORECASE"


def check_step_tree(findings: Findings, root: Step, path: str = "$.root") -> dict[int, Step]:
    """Check ``root`` and every step below it, in document order.

    Returns:
        The steps by id (the first step of a duplicated id), for rules that refer to steps.
    """
    by_id: dict[int, Step] = {}
    first_path: dict[int, str] = {}
    pending: list[tuple[Step, str]] = [(root, path)]
    while pending:
        step, step_path = pending.pop()
        if step.id in first_path:
            findings.add_at(
                step_path, "id", f"step id {step.id} is also used by {first_path[step.id]}"
            )
        else:
            first_path[step.id] = step_path
            by_id[step.id] = step
        _check_step(findings, step, step_path)
        children = step.children
        for index in range(len(children) - 1, -1, -1):
            pending.append((children[index], f"{step_path}.steps[{index}]"))
    return by_id


def _check_step(findings: Findings, step: Step, path: str) -> None:
    findings.check_int(path, "id", step.id, minimum=0)
    findings.check_one_of(path, "group", step.group, _GROUPS)
    findings.check_one_of(path, "status", step.status, _STEP_STATUSES)
    findings.check_text(path, "stepType", step.step_type, required=True)
    findings.check_text(path, "name", step.name, required=True)
    findings.check_timestamp(path, "start", step.start)
    findings.check_finite(path, "totTime", step.tot_time)
    findings.check_not_negative(path, "totTime", step.tot_time)
    findings.check_int(path, "errorCode", step.error_code)
    findings.check_int(path, "interactiveExeNum", step.interactive_exe_num)
    arrays = _measurement_arrays(step)
    if arrays:
        _check_payload(findings, step, path, arrays)
        _check_measured_roll_up(findings, step, path, arrays)
    for index, numeric in enumerate(step.numeric_meas or ()):
        _check_numeric(findings, numeric, f"{path}.numericMeas[{index}]")
    for index, string in enumerate(step.string_meas or ()):
        _check_string(findings, string, f"{path}.stringMeas[{index}]")
    for index, boolean in enumerate(step.boolean_meas or ()):
        findings.check_one_of(
            f"{path}.booleanMeas[{index}]", "status", boolean.status, _MEASUREMENT_STATUSES
        )
    if step.status == StepStatus.PASSED:
        for index, child in enumerate(step.children):
            if child.caused_seq_failure is True:
                findings.add_at(
                    path,
                    "status",
                    f"the step passed but steps[{index}] says it caused a sequence failure",
                )
    if isinstance(step.loop, LoopInfo):
        _check_loop(findings, step.loop, f"{path}.loop")
    if isinstance(step.chart, Chart):
        _check_chart(findings, step.chart, f"{path}.chart")
    elif step.kind is StepKind.CHART:
        findings.add_at(path, "chart", f"is required for a {step.step_type} step")
    if isinstance(step.call_exe, CallExecutableInfo):
        findings.check_finite(f"{path}.callExe", "exitCode", step.call_exe.exit_code)
    if step.additional_results:
        check_additional_data(findings, step.additional_results, f"{path}.additionalResults")
    if isinstance(step.attachment, Attachment):
        attachment, where = step.attachment, f"{path}.attachment"
        findings.check_text(where, "name", attachment.name, required=True)
        findings.check_text(where, "contentType", attachment.content_type, required=True)
        findings.check_base64(where, "data", attachment.data, required=True)


def _measurement_arrays(step: Step) -> dict[str, Sequence[_Measurement]]:
    """The step's non-empty measurement arrays by key."""
    arrays: dict[str, Sequence[_Measurement]] = {}
    if step.numeric_meas:
        arrays["numericMeas"] = step.numeric_meas
    if step.string_meas:
        arrays["stringMeas"] = step.string_meas
    if step.boolean_meas:
        arrays["booleanMeas"] = step.boolean_meas
    return arrays


def _check_payload(
    findings: Findings, step: Step, path: str, arrays: dict[str, Sequence[_Measurement]]
) -> None:
    """The measurements match the step type, and several measurements have unique names."""
    payload = _PAYLOADS.get(step.kind)
    if payload is not None:
        used, single = payload
        count = len(arrays.get(used, ()))
        if single and count > 1:
            findings.add_at(
                path, used, f"a {step.step_type} step has at most 1 measurement, not {count}"
            )
        for other in arrays:
            if other != used:
                findings.add_at(path, other, f"a {step.step_type} step carries only {used}")
    multi = payload is not None and not payload[1]
    if not multi and sum(map(len, arrays.values())) <= 1:
        return
    seen: dict[str, str] = {}
    for key, measurements in arrays.items():
        for index, measurement in enumerate(measurements):
            where = f"{path}.{key}[{index}]"
            name = measurement.name
            if not isinstance(name, str) or not name.strip():
                findings.add_at(where, "name", "is required in a multiple-measurement step")
            elif name in seen:
                findings.add_at(where, "name", f"{name!r} is also the name of {seen[name]}")
            else:
                seen[name] = where


def _check_measured_roll_up(
    findings: Findings, step: Step, path: str, arrays: dict[str, Sequence[_Measurement]]
) -> None:
    """A passed step has no failed measurement."""
    if step.status != StepStatus.PASSED:
        return
    for key, measurements in arrays.items():
        for index, measurement in enumerate(measurements):
            if measurement.status == MeasurementStatus.FAILED:
                findings.add_at(path, "status", f"the step passed but {key}[{index}] failed")


def _check_numeric(findings: Findings, meas: NumericMeasurement, path: str) -> None:
    findings.check_one_of(path, "status", meas.status, _MEASUREMENT_STATUSES)
    findings.check_finite(path, "value", meas.value)
    findings.check_finite(path, "lowLimit", meas.low_limit)
    findings.check_finite(path, "highLimit", meas.high_limit)
    if not given(meas.value) and meas.status != MeasurementStatus.SKIPPED:
        findings.add_at(path, "value", "is required unless the measurement was skipped")
    if not isinstance(meas.comp_op, str):
        findings.add_at(path, "compOp", "is required")
        return
    op = parse_numeric_comp_op(meas.comp_op)
    if op is None:
        findings.add_at(path, "compOp", f"{meas.comp_op!r} is not one of {_NUMERIC_OPS}")
        return
    use = limit_use(op)
    has_low, has_high = given(meas.low_limit), given(meas.high_limit)
    if use is LimitUse.NONE:
        if has_low or has_high:
            findings.add_at(path, "compOp", "LOG compares nothing, yet a limit is set")
        return
    if not has_low:
        findings.add_at(
            path, "lowLimit", f"is required by {op} (it holds every single-limit operator's limit)"
        )
    if use is LimitUse.LOW_ONLY:
        if has_high:
            findings.add_at(
                path, "highLimit", f"must be empty for {op}: a single limit goes in lowLimit"
            )
        return
    if not has_high:
        findings.add_at(path, "highLimit", f"is required by {op}")
    low, high = meas.low_limit, meas.high_limit
    if isinstance(low, float) and isinstance(high, float) and low > high:
        inside = "inside" if op in _INSIDE_RANGE else "outside"
        findings.add_at(
            path,
            "lowLimit",
            f"{low} is above highLimit {high}; {op} passes {inside} lowLimit..highLimit",
        )


def _check_string(findings: Findings, meas: StringMeasurement, path: str) -> None:
    findings.check_one_of(path, "status", meas.status, _MEASUREMENT_STATUSES)
    if not given(meas.value) and meas.status != MeasurementStatus.SKIPPED:
        findings.add_at(path, "value", "is required unless the measurement was skipped")
    if not isinstance(meas.comp_op, str):
        findings.add_at(path, "compOp", "is required")
        return
    op = parse_string_comp_op(meas.comp_op)
    if op is None:
        findings.add_at(path, "compOp", f"{meas.comp_op!r} is not one of {_STRING_OPS}")
    elif op != "LOG" and not given(meas.limit):
        findings.add_at(path, "limit", f"is required by {op}")


def _check_loop(findings: Findings, loop: LoopInfo, path: str) -> None:
    findings.check_int(path, "idx", loop.idx, minimum=0)
    findings.check_int(path, "num", loop.num, minimum=0)
    findings.check_int(path, "endingIndex", loop.ending_index, minimum=0)
    findings.check_int(path, "passed", loop.passed, minimum=0)
    findings.check_int(path, "failed", loop.failed, minimum=0)


def _check_chart(findings: Findings, chart: Chart, path: str) -> None:
    for index, series in enumerate(chart.series or ()):
        where = f"{path}.series[{index}]"
        findings.check_one_of(where, "dataType", series.data_type, _SERIES_TYPES, required=True)
        y_count = _count_numbers(findings, where, "ydata", series.ydata, required=True)
        x_count = _count_numbers(findings, where, "xdata", series.xdata, required=False)
        if x_count is not None and y_count is not None and x_count != y_count:
            findings.add_at(where, "xdata", f"has {x_count} values but ydata has {y_count}")


def _count_numbers(
    findings: Findings, path: str, key: str, text: object, *, required: bool
) -> int | None:
    """Count the values of a semicolon-separated number list, reporting one that is not a number."""
    if not isinstance(text, str):
        if required:
            findings.add_at(path, key, "is required")
        return None
    if not text:
        if required:
            findings.add_at(path, key, "needs at least one value")
        return 0
    parts = text.split(";")
    for position, part in enumerate(parts):
        try:
            number = float(part)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            findings.add_at(
                path,
                key,
                f"value {position} ({part!r}) is not a number; write numbers separated by ';'",
            )
            return None
    return len(parts)


def check_additional_data(findings: Findings, groups: Sequence[AdditionalData], path: str) -> None:
    """Each group of additional data has a name, and each of its properties a name and a type."""
    pending: list[tuple[AdditionalDataProperty, str]] = []
    for index, group in enumerate(groups):
        where = f"{path}[{index}]"
        findings.check_text(where, "name", group.name, required=True)
        pending.extend((prop, f"{where}.props[{n}]") for n, prop in enumerate(group.props or ()))
    while pending:
        prop, where = pending.pop()
        findings.check_text(where, "name", prop.name, required=True)
        findings.check_text(where, "type", prop.type, required=True)
        pending.extend((child, f"{where}.props[{n}]") for n, child in enumerate(prop.props or ()))
