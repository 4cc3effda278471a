"""ATML values: ``c:Datum`` values, outcomes, and limits as WSJF comparison operators.

A ``Datum`` carries its value in ``@value`` (numbers, booleans) or a ``c:Value`` child (strings),
typed by ``xsi:type`` (``c:double``, ``ts:TS_double``, ``c:boolean``, ``c:string``...; only the
local part is read). Numbers may be hexadecimal (``0x1F``), ``INF`` or ``NaN``.

Limits come as ``c:LimitPair`` (two ``c:Limit`` with comparators, joined by ``AND`` or ``OR``),
``c:SingleLimit`` or ``c:Expected`` (``EQ`` to a value; with ``c:ErrorLimits`` it is TestStand's
``EQT``, a nominal and a threshold, whose limits are TestStand's own ``ThresholdLow``/``High``
when written, else computed from ``ts:RawLimits`` by ``ts:ThresholdType``: percentage, ppm or
delta). :func:`numeric_limits` maps each form to a WSJF operator with ``lowLimit``/``highLimit``,
or to ``LOG`` plus a note when WSJF has no such operator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pywats_actors.report import StepStatus

from ._atml_xml import AtmlNode

__all__ = [
    "NAME_LIMIT",
    "TEXT_LIMIT",
    "NumericLimits",
    "cut",
    "datum_kind",
    "datum_number",
    "datum_text",
    "label",
    "number",
    "numeric_limits",
    "outcome_status",
    "string_limit",
]

NAME_LIMIT = 100
"""Characters kept of a name."""
TEXT_LIMIT = 2000
"""Characters kept of a report text or a string value."""
_NUMERIC_TYPES = frozenset(
    {"double", "float", "integer", "int", "long", "short", "byte", "decimal", "number"}
)
_OUTCOMES = {
    "passed": StepStatus.PASSED,
    "failed": StepStatus.FAILED,
    "done": StepStatus.DONE,
    "skipped": StepStatus.SKIPPED,
    "notstarted": StepStatus.SKIPPED,
    "error": StepStatus.ERROR,
    "errored": StepStatus.ERROR,
    "terminated": StepStatus.TERMINATED,
    "aborted": StepStatus.TERMINATED,
    "running": StepStatus.TERMINATED,
    "informational": StepStatus.DONE,
}
_SINGLE = frozenset({"EQ", "NE", "GT", "GE", "LT", "LE"})
_GREATER = frozenset({"GT", "GE"})
_LESS = frozenset({"LT", "LE"})


def label(result: AtmlNode) -> str:
    """A ``TestResult``'s name (5.00, 6.01) or ``ID`` (2.02)."""
    return result.attrib.get("name") or result.attrib.get("ID") or ""


def cut(text: str, limit: int = NAME_LIMIT) -> str:
    """``text`` shortened to ``limit`` characters (an ellipsis marks a cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def outcome_status(node: AtmlNode | None) -> StepStatus | None:
    """The step status an ``Outcome``/``ActionOutcome`` element says, or None without one.

    ``UserDefined`` and ``Aborted`` take their ``@qualifier`` when it names a status TestStand
    knows (TestStand writes skipped steps as ``UserDefined``/``Aborted`` qualified
    ``Skipped``); ``NotStarted`` is skipped; another ``Aborted`` is terminated, another
    ``UserDefined`` done.
    """
    if node is None:
        return None
    value = node.attrib.get("value", "").strip().lower()
    qualifier = node.attrib.get("qualifier", "").strip().lower()
    if value in ("userdefined", "aborted") and qualifier in _OUTCOMES:
        return _OUTCOMES[qualifier]
    if value == "userdefined":
        return StepStatus.DONE
    return _OUTCOMES.get(value)


def number(text: str | None) -> float | None:
    """``text`` as a number (decimal, ``0x`` hexadecimal, ``INF``, ``NaN``), else None."""
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    body = text.lstrip("+-")
    if body[:2].lower() == "0x":
        try:
            magnitude = float(int(body[2:], 16))
        except ValueError:
            return None
        return -magnitude if text.startswith("-") else magnitude
    try:
        return float(text)
    except ValueError:
        return None


def datum_kind(datum: AtmlNode) -> str:
    """``number``, ``boolean``, ``string`` or ``other`` from the Datum's ``xsi:type``."""
    kind = datum.attrib.get("type", "").rpartition(":")[2].lower()
    kind = kind.removeprefix("ts_")
    if kind in _NUMERIC_TYPES or kind.startswith(("unsigned", "hex")):
        return "number"
    if kind in ("boolean", "bool"):
        return "boolean"
    if kind in ("string", "char"):
        return "string"
    if not kind and "value" in datum.attrib:
        return "number" if number(datum.attrib["value"]) is not None else "string"
    if not kind and datum.find("Value") is not None:
        return "string"
    return "other"


def datum_text(datum: AtmlNode) -> str:
    """The Datum's value as text: its ``c:Value`` child, else ``@value``."""
    value = datum.find("Value")
    if value is not None:
        return value.text
    return datum.attrib.get("value", "")


def datum_number(datum: AtmlNode | None) -> float | None:
    """The Datum's value as a number (possibly not finite), or None."""
    if datum is None:
        return None
    return number(datum.attrib.get("value") or datum_text(datum))


@dataclass(frozen=True, slots=True)
class NumericLimits:
    """Limits as WSJF holds them: operator, ``lowLimit``, ``highLimit``, and a note on what could
    not be kept (an operator WSJF lacks, a limit that is not a finite number)."""

    comp_op: str
    low: float | None = None
    high: float | None = None
    note: str | None = None


_LOG = NumericLimits("LOG")


def _limit(node: AtmlNode) -> tuple[str, float | None]:
    return node.attrib.get("comparator", "").strip().upper(), datum_number(node.find("Datum"))


def _threshold(limits: AtmlNode, expected: AtmlNode) -> NumericLimits | None:
    """TestStand's ``EQT``: the nominal ``Expected`` value with ``ErrorLimits``."""
    error = expected.find("Datum", "ErrorLimits", "LimitPair")
    if error is None:
        return None
    props = limits.descendant("TSLimitProperties")
    raw = props.find("RawLimits") if props is not None else None
    said = props.find("ThresholdType") if props is not None else None
    kind = (said.text.strip().upper() if said is not None else "") or "DELTA"
    pair = [_limit(c) for c in error.findall("Limit")]
    if len(pair) != 2:
        return None
    op = _pair_op(pair[0][0], pair[1][0], "AND")
    given_low = datum_number(raw.find("ThresholdLow")) if raw is not None else None
    given_high = datum_number(raw.find("ThresholdHigh")) if raw is not None else None
    if given_low is not None and given_high is not None:
        low, high = given_low, given_high
    else:
        nominal = datum_number(expected.find("Datum"))
        if raw is not None and raw.find("Nominal") is not None:
            nominal = datum_number(raw.find("Nominal"))
        below, above = _ordered(pair)
        if nominal is None or below is None or above is None:
            return NumericLimits("LOG", note="an EQT limit without its nominal or threshold")
        scale = {"PERCENTAGE": abs(nominal) / 100, "PPM": abs(nominal) / 1e6}.get(kind, 1.0)
        low, high = nominal - below * scale, nominal + above * scale
    if op is None:
        return NumericLimits("LOG", note=f"EQT limits {low:g}..{high:g} ({kind.lower()})")
    return _finite(op[0], low, high)


def _ordered(pair: list[tuple[str, float | None]]) -> tuple[float | None, float | None]:
    """The pair's (lower-bound limit, upper-bound limit) by their comparators."""
    first, second = pair
    if first[0] in _LESS and second[0] in _GREATER:
        return second[1], first[1]
    return first[1], second[1]


def _pair_op(first: str, second: str, joined: str) -> tuple[str, bool] | None:
    """The WSJF operator of two comparators, and whether the first holds the low limit."""
    if joined == "OR":
        if first in _LESS and second in _GREATER:
            return first + second, True
        if first in _GREATER and second in _LESS:
            return second + first, False
        return None
    if first in _GREATER and second in _LESS:
        return first + second, True
    if first in _LESS and second in _GREATER:
        return second + first, False
    return None


def _finite(op: str, low: float | None, high: float | None = None) -> NumericLimits:
    """``op`` with its limits, or LOG and a note when a limit is not a finite number or the
    low limit is above the high one (WSJF cannot hold either)."""
    limits = [value for value in (low, high) if value is not None]
    shown = "..".join(f"{value:g}" for value in limits)
    if not all(math.isfinite(value) for value in limits):
        return NumericLimits("LOG", note=f"limits {op} {shown} (not finite numbers)")
    if low is not None and high is not None and low > high:
        return NumericLimits("LOG", note=f"limits {op} {shown} (low above high)")
    return NumericLimits(op, low, high)


def numeric_limits(result: AtmlNode) -> NumericLimits:
    """The limits of a ``TestResult`` as WSJF keeps them (``LOG`` when it has none).

    Two-sided pairs map comparator for comparator (``GE``+``LE`` is ``GELE``, ``GT``+``LT``
    is ``GTLT``; an ``OR`` of ``LT``+``GT`` is ``LTGT``, passing outside the range), whichever
    order the file lists them in; a single limit keeps its comparator with the limit in
    ``lowLimit``.
    """
    limits = result.find("TestLimits", "Limits")
    if limits is None:
        return _LOG
    props = limits.descendant("TSLimitProperties") or result.descendant("TSLimitProperties")
    log = props.find("IsComparisonTypeLog") if props is not None else None
    if log is not None and log.attrib.get("value", "").lower() == "true":
        return _LOG
    pair = limits.find("LimitPair")
    if pair is not None:
        limits_found = [_limit(c) for c in pair.findall("Limit")]
        joined = pair.attrib.get("operator", "AND").strip().upper()
        if len(limits_found) != 2 or any(value is None for _, value in limits_found):
            return NumericLimits("LOG", note="a LimitPair without two limits")
        found = _pair_op(limits_found[0][0], limits_found[1][0], joined)
        if found is None:
            said = f" {joined} ".join(f"{c} {v:g}" for c, v in limits_found if v is not None)
            return NumericLimits("LOG", note=f"limits {said} (no WSJF operator)")
        op, first_low = found
        a, b = limits_found[0][1], limits_found[1][1]
        low, high = (a, b) if first_low else (b, a)
        return _finite(op, low, high)
    single = limits.find("SingleLimit")
    if single is not None:
        comparator, value = _limit(single)
        if comparator in _SINGLE and value is not None:
            return _finite(comparator, value)
        return NumericLimits("LOG", note=f"single limit {comparator} (no WSJF operator)")
    expected = limits.find("Expected")
    if expected is not None:
        eqt = _threshold(limits, expected)
        if eqt is not None:
            return eqt
        comparator = expected.attrib.get("comparator", "EQ").strip().upper()
        value = datum_number(expected.find("Datum"))
        if comparator in ("EQ", "NE") and value is not None:
            return _finite(comparator, value)
        return NumericLimits("LOG", note=f"expected value {comparator} (no WSJF operator)")
    return _LOG


def string_limit(result: AtmlNode) -> tuple[str, str | None, str | None]:
    """The string operator, limit and a note of a ``TestResult``'s ``Expected`` limit.

    ``CIEQ`` is ``IGNORECASE``, ``NE`` stays ``NE``, a regular expression (WSJF has none) is
    logged with the pattern in the note, any other comparator is ``CASESENSIT``.
    """
    expected = result.find("TestLimits", "Limits", "Expected")
    datum = expected.find("Datum") if expected is not None else None
    if expected is None or datum is None:
        return "LOG", None, None
    comparator = expected.attrib.get("comparator", "").strip()
    limit = datum_text(datum)
    if comparator.upper() == "CIEQ":
        return "IGNORECASE", limit, None
    if comparator.upper() == "NE":
        return "NE", limit, None
    if "regular" in comparator.lower():
        return "LOG", None, f"limit {comparator} {limit!r}"
    return "CASESENSIT", limit, None
