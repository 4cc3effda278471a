"""Comparison operators: which limits each one uses, and whether a value passes.

The rules are WSJF's, not Python's taste: a single-limit operator keeps its limit in ``lowLimit``
even when it is an upper bound (``LT``, ``LE``); ``GTLT``...``GELE`` pass *inside* the range and
``LTGT``...``LEGE`` pass *outside* it. Operator names are read case-insensitively, as the server
does.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from enum import Enum

from ._enums import MeasurementStatus, NumericCompOp, StringCompOp

__all__ = [
    "LimitUse",
    "compare_numeric",
    "compare_string",
    "limit_use",
    "parse_numeric_comp_op",
    "parse_string_comp_op",
]

_Test = Callable[[float, float], bool]


class LimitUse(Enum):
    """Which limit fields a numeric operator reads."""

    NONE = "no limit"
    LOW_ONLY = "lowLimit only"
    BOTH = "lowLimit and highLimit"


_SINGLE: dict[NumericCompOp, _Test] = {
    NumericCompOp.EQ: operator.eq,
    NumericCompOp.NE: operator.ne,
    NumericCompOp.GT: operator.gt,
    NumericCompOp.GE: operator.ge,
    NumericCompOp.LT: operator.lt,
    NumericCompOp.LE: operator.le,
}

# Dual operators: (test against lowLimit, test against highLimit, both must hold?)
_DUAL: dict[NumericCompOp, tuple[_Test, _Test, bool]] = {
    NumericCompOp.GTLT: (operator.gt, operator.lt, True),
    NumericCompOp.GTLE: (operator.gt, operator.le, True),
    NumericCompOp.GELT: (operator.ge, operator.lt, True),
    NumericCompOp.GELE: (operator.ge, operator.le, True),
    NumericCompOp.LTGT: (operator.lt, operator.gt, False),
    NumericCompOp.LTGE: (operator.lt, operator.ge, False),
    NumericCompOp.LEGT: (operator.le, operator.gt, False),
    NumericCompOp.LEGE: (operator.le, operator.ge, False),
}


def parse_numeric_comp_op(text: str) -> NumericCompOp | None:
    """Return the numeric operator named by ``text`` (any letter case), or ``None``."""
    try:
        return NumericCompOp(text.upper())
    except ValueError:
        return None


def parse_string_comp_op(text: str) -> StringCompOp | None:
    """Return the string operator named by ``text`` (any letter case), or ``None``."""
    try:
        return StringCompOp(text.upper())
    except ValueError:
        return None


def limit_use(comp_op: NumericCompOp) -> LimitUse:
    """Say which limit fields ``comp_op`` reads."""
    if comp_op is NumericCompOp.LOG:
        return LimitUse.NONE
    if comp_op in _SINGLE:
        return LimitUse.LOW_ONLY
    return LimitUse.BOTH


def compare_numeric(
    comp_op: NumericCompOp | str,
    value: float,
    low_limit: float | None = None,
    high_limit: float | None = None,
) -> MeasurementStatus:
    """Evaluate a numeric measurement the way WATS and TestStand do.

    Args:
        comp_op: the operator (a :class:`NumericCompOp` or its name in any case).
        value: the measured value.
        low_limit: the low limit; the only limit of ``EQ NE GT GE LT LE``.
        high_limit: the high limit of the two-limit operators.

    Returns:
        ``PASSED`` or ``FAILED`` (``LOG`` always passes).

    Raises:
        ValueError: unknown operator, or a limit the operator needs is missing.
    """
    op = parse_numeric_comp_op(comp_op)
    if op is None:
        raise ValueError(f"unknown numeric comparison operator {comp_op!r}")
    if op is NumericCompOp.LOG:
        return MeasurementStatus.PASSED
    if low_limit is None:
        raise ValueError(f"{op} needs lowLimit")
    single = _SINGLE.get(op)
    if single is not None:
        passed = single(value, low_limit)
    else:
        if high_limit is None:
            raise ValueError(f"{op} needs highLimit")
        low_test, high_test, inside = _DUAL[op]
        low_ok, high_ok = low_test(value, low_limit), high_test(value, high_limit)
        passed = (low_ok and high_ok) if inside else (low_ok or high_ok)
    return MeasurementStatus.PASSED if passed else MeasurementStatus.FAILED


def compare_string(
    comp_op: StringCompOp | str, value: str, limit: str | None = None
) -> MeasurementStatus:
    """Evaluate a string measurement.

    ``CASESENSIT`` and ``EQ`` pass when ``value == limit``; ``IGNORECASE`` compares case-folded
    strings; ``NE`` passes when they differ; ``LOG`` always passes.

    Raises:
        ValueError: unknown operator, or ``limit`` missing for a comparing operator.
    """
    op = parse_string_comp_op(comp_op)
    if op is None:
        raise ValueError(f"unknown string comparison operator {comp_op!r}")
    if op is StringCompOp.LOG:
        return MeasurementStatus.PASSED
    if limit is None:
        raise ValueError(f"{op} needs a limit")
    if op is StringCompOp.IGNORECASE:
        passed = value.casefold() == limit.casefold()
    elif op is StringCompOp.NE:
        passed = value != limit
    else:
        passed = value == limit
    return MeasurementStatus.PASSED if passed else MeasurementStatus.FAILED
