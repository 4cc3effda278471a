"""The JUnit converter's steps: test suites as sequences, test cases as steps.

The status, step type and measurement rules are documented in ``docs/converters.md`` (the
``junit`` section); :mod:`._junit` builds the report header around them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pywats_actors.report import (
    NumericMeasurement,
    SequenceBuilder,
    StepOptions,
    numeric_measurement,
    string_measurement,
)

from ._errors import FileRejected
from ._junit_xml import Node

__all__ = ["add_suite", "cut", "properties", "seconds", "testcases"]

T = TypeVar("T")
_MEAS_SUFFIXES = ("value", "low_limit", "high_limit", "unit")
_NAME_LIMIT = 100


def testcases(suite: Node) -> int:
    """How many test cases ``suite`` holds, nested suites included."""
    return sum(
        1 if child.tag == "testcase" else testcases(child) if child.tag == "testsuite" else 0
        for child in suite.children
    )


def properties(node: Node) -> dict[str, str]:
    """The ``name``/``value`` pairs of ``node``'s ``<properties>`` (the value may be text)."""
    found: dict[str, str] = {}
    block = node.find("properties")
    if block is not None:
        for prop in block.children:
            key = prop.attrib.get("name")
            if prop.tag == "property" and key:
                found[key] = prop.attrib.get("value", prop.text.strip())
    return found


def seconds(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def cut(text: str, limit: int = _NAME_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def add_suite(parent: SequenceBuilder, suite: Node, max_text: int) -> None:
    """``suite`` as a sequence of ``parent``: its test cases grouped by ``classname``, and its
    nested suites as nested sequences, in document order."""
    sequence = parent.sequence(cut(suite.attrib.get("name") or "testsuite"))
    classes: dict[str, SequenceBuilder] = {}
    for child in suite.children:
        if child.tag == "testsuite":
            if testcases(child):
                add_suite(sequence, child, max_text)
        elif child.tag == "testcase":
            classname = child.attrib.get("classname") or ""
            target = sequence
            if classname and classname != sequence.name:
                target = classes.get(classname) or sequence.sequence(cut(classname))
                classes[classname] = target
            _add_case(target, child, max_text)


def _add_case(sequence: SequenceBuilder, case: Node, max_text: int) -> None:
    """One test case as one step; ``docs/converters.md`` states the status and type rules.

    Raises:
        FileRejected: a measurement whose value or limit is not a finite number, or whose
            limits do not fit; ``where`` is the test case's line.
    """
    name = cut(case.attrib.get("name") or "testcase")
    outcome, text = _outcome(case, max_text)
    options: StepOptions = {}
    time = seconds(case.attrib.get("time"))
    if time is not None:
        options["tot_time"] = time
    if text:
        options["report_text"] = text
    if outcome in ("S", "E"):
        sequence.generic("Action", name, status=outcome, **options)
        return
    where = f"line {case.line}"
    numeric, strings = _measurements(properties(case), where)
    built = [_numeric(m, where, named=len(numeric) > 1) for m in numeric]
    listed = [f"{m.name}={_number(m.value)}{m.unit or ''}" for m in numeric]
    listed += [f"{key}={value}" for key, value in strings]
    if outcome == "F" and not any(m.status == "F" for m in built):
        if listed:
            options["report_text"] = cut(f"{text}\n[{'; '.join(listed)}]".strip(), max_text)
        sequence.pass_fail(name, False, **options)
    elif numeric:
        if strings:
            extra = "; ".join(f"{key}={value}" for key, value in strings)
            options["report_text"] = cut(f"{text}\n[{extra}]".strip(), max_text)
        if len(numeric) == 1:
            m = numeric[0]
            _guard(
                where,
                sequence.numeric,
                name,
                m.value,
                unit=m.unit,
                low=m.low,
                high=m.high,
                **options,
            )
        else:
            _guard(where, sequence.multi_numeric, name, built, **options)
    elif len(strings) == 1:
        sequence.string(name, strings[0][1], **options)
    elif strings:
        values = [string_measurement(value, name=cut(key)) for key, value in strings]
        _guard(where, sequence.multi_string, name, values, **options)
    else:
        sequence.pass_fail(name, outcome == "P", **options)


@dataclass(slots=True)
class _Measure:
    name: str
    value: float | None = None
    low: float | None = None
    high: float | None = None
    unit: str | None = None


def _measurements(
    props: dict[str, str], where: str
) -> tuple[list[_Measure], list[tuple[str, str]]]:
    """Numeric measurements (``<m>.value`` with ``.low_limit``, ``.high_limit``, ``.unit``, or a
    lone property whose value is a number) and string ones (a lone non-numeric property).

    Raises:
        FileRejected: a ``.value`` or limit that is not a finite number, or limits or a unit
            without a ``.value``.
    """
    numeric: dict[str, _Measure] = {}
    strings: list[tuple[str, str]] = []
    for key, value in props.items():
        base, _, suffix = key.rpartition(".")
        if base and suffix in _MEAS_SUFFIXES:
            measure = numeric.setdefault(base, _Measure(cut(base)))
            if suffix == "unit":
                measure.unit = value
                continue
            number = _float(value)
            if number is None:
                raise FileRejected(
                    f"property {key!r}: {value!r} is not a finite number", where=where
                )
            if suffix == "value":
                measure.value = number
            elif suffix == "low_limit":
                measure.low = number
            else:
                measure.high = number
            continue
        number = _float(value)
        if number is None:
            strings.append((key, value))
        else:
            numeric.setdefault(key, _Measure(cut(key), value=number))
    for key, measure in numeric.items():
        if measure.value is None:
            raise FileRejected(
                f"measurement {key!r} has limits or a unit but no value", where=where
            )
    return list(numeric.values()), strings


def _numeric(m: _Measure, where: str, *, named: bool) -> NumericMeasurement:
    assert m.value is not None  # checked by _measurements
    return _guard(
        where,
        numeric_measurement,
        m.value,
        name=m.name if named else None,
        unit=m.unit,
        low=m.low,
        high=m.high,
    )


def _guard(where: str, make: Callable[..., T], *a: Any, **kw: Any) -> T:
    """``make(*a, **kw)``, its ValueError (limits that do not fit) a FileRejected."""
    try:
        return make(*a, **kw)
    except ValueError as exc:
        raise FileRejected(f"bad measurement: {exc}", where=where) from None


def _float(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _outcome(case: Node, limit: int) -> tuple[str, str]:
    """The step status of ``case`` (P, F, E or S) and its report text: the ``failure``,
    ``error`` or ``skipped`` element's message and text, at most ``limit`` characters."""
    for tag, status in (("error", "E"), ("failure", "F"), ("skipped", "S")):
        found = case.find(tag)
        if found is None:
            continue
        message = found.attrib.get("message", "").strip()
        body = found.text.strip()
        text = message if not body or body == message else f"{message}\n{body}".strip()
        return status, cut(text, limit) if text else ""
    return "P", ""
