"""The ATML converter's measurements: numeric, string and pass/fail, with the file's statuses.

A measurement's status is its ``TestResult``'s own ``Outcome`` (multiple numeric tests write
one per measurement), else its step's ``Outcome``, and only when the file says neither is it
computed from the value and the limits. A value that is not a finite number (``NaN``, ``INF``)
cannot be a WSJF measurement: it is left out and noted in the step's report text.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

import msgspec

from pywats_actors.report import (
    BooleanMeasurement,
    NumericMeasurement,
    StepStatus,
    StringMeasurement,
    boolean_measurement,
    numeric_measurement,
    string_measurement,
)

from ._atml_values import (
    NAME_LIMIT,
    TEXT_LIMIT,
    cut,
    datum_number,
    datum_text,
    label,
    numeric_limits,
    outcome_status,
    string_limit,
)
from ._atml_xml import AtmlNode
from ._errors import FileRejected

__all__ = [
    "MEAS_STATUS",
    "boolean_meas",
    "collected",
    "meas_status",
    "numeric_meas",
    "string_meas",
    "unique_numeric",
]

M = TypeVar("M", NumericMeasurement, StringMeasurement)
MEAS_STATUS = {StepStatus.PASSED: "P", StepStatus.FAILED: "F", StepStatus.SKIPPED: "S"}
"""Step statuses that are also measurement statuses."""


def meas_status(result: AtmlNode | None, step_outcome: StepStatus | None, computed: str) -> str:
    """A measurement's status: its own ``Outcome``, else the step's, else ``computed``."""
    own = outcome_status(result.find("Outcome")) if result is not None else None
    for said in (own, step_outcome):
        if said is not None and said in MEAS_STATUS:
            return MEAS_STATUS[said]
    return computed


def numeric_meas(
    result: AtmlNode, outcome: StepStatus | None, notes: list[str], *, named: bool
) -> NumericMeasurement | None:
    datum = result.find("TestData", "Datum")
    assert datum is not None  # sorted as numeric
    name = cut(label(result) or "Numeric")
    value = datum_number(datum)
    unit = datum.attrib.get("nonStandardUnit") or datum.attrib.get("unit") or None
    if value is None or not math.isfinite(value):
        notes.append(f"{name}: {datum.attrib.get('value', '')} (not a finite number)")
        return None
    limits = numeric_limits(result)
    if limits.note:
        notes.append(f"{name}: {limits.note}")
    measurement = guarded(
        result,
        lambda: numeric_measurement(
            value,
            name=name if named else None,
            unit=cut(unit) if unit else None,
            low=limits.low if limits.high is not None else None,
            high=limits.high,
            limit=limits.low if limits.high is None else None,
            comp_op=limits.comp_op,
        ),
    )
    status = meas_status(result, outcome, measurement.status)
    return msgspec.structs.replace(measurement, status=status)


def string_meas(
    result: AtmlNode, outcome: StepStatus | None, notes: list[str]
) -> StringMeasurement:
    datum = result.find("TestData", "Datum")
    assert datum is not None  # sorted as string
    op, limit, note = string_limit(result)
    if note:
        notes.append(note)
    measurement = guarded(
        result,
        lambda: string_measurement(cut(datum_text(datum), TEXT_LIMIT), limit=limit, comp_op=op),
    )
    return msgspec.structs.replace(
        measurement, status=meas_status(result, outcome, measurement.status)
    )


def boolean_meas(result: AtmlNode | None, outcome: StepStatus | None) -> BooleanMeasurement:
    datum = result.find("TestData", "Datum") if result is not None else None
    passed = datum is None or datum_text(datum).strip().lower() in ("true", "1")
    computed = boolean_measurement(passed).status
    return BooleanMeasurement(status=meas_status(result, outcome, computed))


def collected(
    collections: list[AtmlNode], kind: str
) -> tuple[tuple[BooleanMeasurement, ...], tuple[StringMeasurement, ...]]:
    """The WATS AddOn's multiple pass/fail or string measurements (a ``Measurement`` array)."""
    booleans: list[BooleanMeasurement] = []
    strings: list[StringMeasurement] = []
    names: set[str] = set()
    for result in collections:
        top = result.find("TestData", "Collection")
        for item in top.findall("Item") if top is not None else ():
            values = item_values(item.find("Collection"))
            name = cut(values.get("MeasName") or item.attrib.get("name", "") or "Measurement")
            name = unique_name(name, names)
            state = AtmlNode("Outcome", "", {"value": values.get("Status", "")}, 0)
            said = outcome_status(state)
            status = MEAS_STATUS.get(said) if said is not None else None
            if kind == "multi_pass_fail":
                passed = values.get("PassFail", "").lower() == "true"
                computed = boolean_measurement(passed).status
                booleans.append(BooleanMeasurement(status=status or computed, name=name))
                continue
            comp = values.get("Comp", "").replace(" ", "").lower()
            op = "LOG" if comp == "log" else "IGNORECASE" if "ignore" in comp else "CASESENSIT"
            limit = None if op == "LOG" else values.get("StringLimit", "")
            value = cut(values.get("StringData", ""), TEXT_LIMIT)
            made = string_measurement(value, name=name, limit=limit, comp_op=op)
            strings.append(msgspec.structs.replace(made, status=status or made.status))
    return tuple(booleans), tuple(strings)


def item_values(collection: AtmlNode | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in collection.findall("Item") if collection is not None else ():
        datum = item.find("Datum")
        if datum is not None:
            found[item.attrib.get("name", "")] = datum_text(datum).strip()
    return found


def unique_numeric(measurements: tuple[NumericMeasurement, ...]) -> tuple[NumericMeasurement, ...]:
    """Named measurements with names made unique (a later duplicate gets `` #2``...)."""
    names: set[str] = set()
    unique: list[NumericMeasurement] = []
    for measurement in measurements:
        name = measurement.name
        if isinstance(name, str):
            name = unique_name(name, names)
            measurement = msgspec.structs.replace(measurement, name=name)
        unique.append(measurement)
    return tuple(unique)


def unique_name(name: str, names: set[str]) -> str:
    """``name``, or ``name #2``, ``#3``... when taken; the result is added to ``names``."""
    unique, count = name, 1
    while unique in names:
        count += 1
        suffix = f" #{count}"
        unique = name[: NAME_LIMIT - len(suffix)] + suffix
    names.add(unique)
    return unique


def guarded(result: AtmlNode, make: Callable[[], M]) -> M:
    """``make()``, its ValueError (limits that do not fit) a FileRejected naming the line."""
    try:
        return make()
    except ValueError as exc:
        raise FileRejected(
            f"TestResult {label(result)!r}: {exc}", where=f"line {result.line}"
        ) from None
