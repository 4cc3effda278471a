"""TestStand measurements: values, limits, comparison operators and statuses, as WSJF wants them.

A numeric limit step keeps its value in ``Numeric`` and a ``Measurement`` array element in
``Data``; both have ``Limits`` (``Low``/``High``; TestStand also writes the configured
``RawLimits``), ``Comp``, ``Units`` and, per element, a ``Status``. TestStand's numeric operators
have WSJF's names, except ``EQT`` (equal within a threshold: ``Nominal`` and a low and high
threshold of ``ThresholdType`` Percentage, PPM or Delta), which becomes ``GELE`` around the
nominal (``GE`` or ``LE`` when only one bound is given, ``LOG`` when none is). A single-limit
operator takes ``Limits.Low`` (``Limits.High`` when only that is set) and stores it in
``lowLimit``. A measurement's own ``Status`` (Passed, Failed, Skipped) wins over the status its
limits would give: the file records what the test executive decided.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
from msgspec import UNSET

from pywats_actors.report import (
    BooleanMeasurement,
    LimitUse,
    NumericCompOp,
    NumericMeasurement,
    StringCompOp,
    StringMeasurement,
    boolean_measurement,
    limit_use,
    numeric_measurement,
    string_measurement,
)

from ._junit_xml import Node
from ._teststand_props import cut, element_props, flag, number, prop, text

__all__ = [
    "MEASUREMENT_STATUS",
    "Measurements",
    "measurement_array",
    "numeric",
    "string",
]

MEASUREMENT_STATUS = {"passed": "P", "failed": "F", "skipped": "S"}
_VALUE_LIMIT = 100
_THRESHOLD_SCALE: dict[str, Callable[[float, float], float]] = {
    "percentage": lambda nominal, t: abs(nominal) * t / 100,
    "ppm": lambda nominal, t: abs(nominal) * t / 1_000_000,
    "delta": lambda _nominal, t: t,
}
_STRING_COMP = {"casesensitive": "CASESENSIT", "ignorecase": "IGNORECASE"}
_STRING_OPS = frozenset(op.value for op in StringCompOp)

Measurements = tuple[
    list[NumericMeasurement], list[StringMeasurement], list[BooleanMeasurement], list[str]
]
"""The numeric, string and boolean measurements of a step, and notes on elements left out."""


def numeric(
    holder: Node, key: str, notes: list[str], name: str | None = None
) -> NumericMeasurement | None:
    """The numeric measurement whose value is ``holder``'s ``key`` Prop.

    A value that is not a finite number (and was not skipped) makes none; limits that do not
    fit the operator (missing, or low above high) make a ``LOG`` measurement of the value. Both
    are said in ``notes``, for the step's report text: a misconfigured limit loses no result.
    """
    label = f"measurement {name!r}" if name else "the measurement"
    status = MEASUREMENT_STATUS.get((text(holder, "Status") or "").lower())
    raw = text(holder, key)
    measured = number(holder, key)
    if measured is None and status != "S":
        notes.append(f"{label}: value {raw!r} is not a finite number; not recorded")
        return None
    op, low, high = _limits(holder)
    unit = text(holder, "Units") or None
    value = 0.0 if measured is None else measured
    unit = cut(unit, 20) if unit else None
    try:
        made = _make(value, name, unit, op, low, high)
    except ValueError as exc:
        notes.append(f"{label}: {exc} (limits {low}..{high}); recorded as LOG")
        made = numeric_measurement(value, name=name, unit=unit, comp_op=NumericCompOp.LOG)
    if measured is None:
        made = msgspec.structs.replace(made, value=UNSET)
    if status is not None and status != made.status:
        made = msgspec.structs.replace(made, status=status)
    return made


def _limits(holder: Node) -> tuple[NumericCompOp | None, float | None, float | None]:
    """The operator and the low/high limits of a numeric measurement (``EQT`` resolved)."""
    comp = (text(holder, "Comp") or "").strip().upper()
    limits = prop(holder, "Limits") or prop(holder, "RawLimits")
    low, high = number(limits, "Low"), number(limits, "High")
    if comp == "EQT":
        low, high = _threshold_limits(holder, low, high)
        if high is None:
            return (NumericCompOp.GE if low is not None else NumericCompOp.LOG), low, None
        return (NumericCompOp.GELE if low is not None else NumericCompOp.LE), low, high
    try:
        return NumericCompOp(comp), low, high
    except ValueError:
        return None, low, high  # no or an unknown operator: the limits decide


def _threshold_limits(
    holder: Node, low: float | None, high: float | None
) -> tuple[float | None, float | None]:
    """``EQT``'s limits: nominal minus the low threshold .. nominal plus the high threshold."""
    raw = prop(holder, "RawLimits")
    limits = prop(holder, "Limits")
    kind = (
        text(limits, "ThresholdType")
        or text(raw, "ThresholdType")
        or text(holder, "ThresholdType")
        or ""
    ).lower()
    nominal = number(raw, "Nominal")
    if nominal is None:
        nominal = number(limits, "Nominal")
    scale = _THRESHOLD_SCALE.get(kind)
    if scale is None or nominal is None:
        return low, high  # no threshold description: Limits already hold the actual bounds
    below = number(raw, "Low") if raw is not None else number(limits, "Low")
    above = number(raw, "High") if raw is not None else number(limits, "High")
    return (
        None if below is None else nominal - scale(nominal, below),
        None if above is None else nominal + scale(nominal, above),
    )


def _make(
    measured: float,
    name: str | None,
    unit: str | None,
    op: NumericCompOp | None,
    low: float | None,
    high: float | None,
) -> NumericMeasurement:
    """:func:`numeric_measurement` with the limits placed for ``op`` (inferred when None)."""
    if op is None:
        return numeric_measurement(measured, name=name, unit=unit, low=low, high=high)
    use = limit_use(op)
    if use is LimitUse.NONE:
        return numeric_measurement(measured, name=name, unit=unit, comp_op=op)
    if use is LimitUse.LOW_ONLY:
        limit = low if low is not None else high
        return numeric_measurement(measured, name=name, unit=unit, limit=limit, comp_op=op)
    return numeric_measurement(measured, name=name, unit=unit, low=low, high=high, comp_op=op)


def string(
    holder: Node,
    key: str,
    limit_path: tuple[str, ...],
    notes: list[str],
    name: str | None = None,
) -> StringMeasurement:
    """The string measurement whose value is ``holder``'s ``key`` Prop; the limit is at
    ``limit_path``, ``Comp`` is CaseSensitive, IgnoreCase or a WSJF operator (none or an
    unknown one: CASESENSIT when there is a limit, else LOG). A comparing operator without a
    limit makes a ``LOG`` measurement, said in ``notes``.
    """
    comp = (text(holder, "Comp") or "").strip()
    limit = text(holder, *limit_path)
    named = _STRING_COMP.get(comp.lower(), comp.upper())
    op = named if named in _STRING_OPS else None
    if op == "LOG" or (op is None and not limit):
        limit = None
    elif op is not None and limit is None:
        label = f"measurement {name!r}" if name else "the measurement"
        notes.append(f"{label}: {op} without a limit; recorded as LOG")
        op = "LOG"
    made = string_measurement(
        cut(text(holder, key) or "", _VALUE_LIMIT),
        name=name,
        limit=None if limit is None else cut(limit, _VALUE_LIMIT),
        comp_op=op,
    )
    status = MEASUREMENT_STATUS.get((text(holder, "Status") or "").lower())
    if status is not None and status != made.status:
        made = msgspec.structs.replace(made, status=status)
    return made


def measurement_array(array: Node) -> Measurements:
    """The elements of a ``Measurement`` array, each named by its ``Prop Name`` (else
    ``MeasName``, else its position): ``Data`` makes a numeric measurement, ``StringData`` a
    string one and ``PassFail`` a boolean one; other elements are noted and left out.
    """
    found: Measurements = ([], [], [], [])
    numerics, strings, booleans, notes = found
    seen: set[str] = set()
    for index, element in enumerate(element_props(array)):
        name = cut(
            element.attrib.get("Name") or text(element, "MeasName") or f"Measurement {index}"
        )
        if name in seen:
            name = cut(f"{name} [{index}]")
        seen.add(name)
        if prop(element, "Data") is not None:
            made = numeric(element, "Data", notes, name)
            if made is not None:
                numerics.append(made)
        elif prop(element, "StringData") is not None:
            strings.append(string(element, "StringData", ("StringLimit",), notes, name))
        elif prop(element, "PassFail") is not None:
            status = MEASUREMENT_STATUS.get((text(element, "Status") or "").lower())
            made_bool = boolean_measurement(flag(element, "PassFail") is True, name=name)
            if status is not None and status != made_bool.status:
                made_bool = msgspec.structs.replace(made_bool, status=status)
            booleans.append(made_bool)
        else:
            notes.append(f"measurement {name!r}: no Data, StringData or PassFail; not recorded")
    return found
