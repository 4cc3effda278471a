"""Measurements made right: limits in the fields WSJF expects, status computed from the values.

These functions are the builder's vocabulary and can be used on their own, e.g. to prepare the
measurements of a multiple-measurement step. Each checks its input and raises ``ValueError`` for
anything that could not become a valid WSJF measurement (NaN, a missing limit...), so whatever they
return is valid.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable

from msgspec import UNSET

from ._compare import (
    LimitUse,
    compare_numeric,
    compare_string,
    limit_use,
    parse_numeric_comp_op,
    parse_string_comp_op,
)
from ._data import Attachment
from ._enums import MeasurementStatus, NumericCompOp, SeriesDataType, StringCompOp
from ._steps import BooleanMeasurement, ChartSeries, NumericMeasurement, StringMeasurement

__all__ = [
    "attachment_from_bytes",
    "boolean_measurement",
    "chart_series",
    "numeric_measurement",
    "string_measurement",
]

_UPPER_BOUND_OPS = frozenset({NumericCompOp.LT, NumericCompOp.LE})


def numeric_measurement(
    value: float,
    *,
    name: str | None = None,
    unit: str | None = None,
    low: float | None = None,
    high: float | None = None,
    limit: float | None = None,
    comp_op: NumericCompOp | str | None = None,
) -> NumericMeasurement:
    """Make a numeric measurement, placing the limits and computing the status.

    Without ``comp_op`` the operator follows from the limits: ``low`` and ``high`` give
    ``GELE``, ``low`` alone ``GE``, ``high`` alone ``LE``, none ``LOG``. With a single-limit
    operator, give the limit as ``limit`` (or as ``low`` for ``GT``/``GE``, ``high`` for
    ``LT``/``LE``); it is stored in ``lowLimit``, as WSJF requires. Two-limit operators take
    ``low`` and ``high``.

    Raises:
        ValueError: a non-finite number, an unknown operator, or limits that do not fit it.
    """
    numbers = {"value": value, "low": low, "high": high, "limit": limit}
    for label, number in numbers.items():
        if number is not None and not math.isfinite(number):
            raise ValueError(f"{label} must be a finite number, not {number}")
    op = _numeric_op(comp_op, low=low, high=high, limit=limit)
    low_limit, high_limit = _place_limits(op, low=low, high=high, limit=limit)
    return NumericMeasurement(
        status=compare_numeric(op, value, low_limit, high_limit).value,
        comp_op=op.value,
        name=UNSET if name is None else name,
        unit=UNSET if unit is None else unit,
        value=float(value),
        low_limit=UNSET if low_limit is None else low_limit,
        high_limit=UNSET if high_limit is None else high_limit,
    )


def _numeric_op(
    comp_op: NumericCompOp | str | None,
    *,
    low: float | None,
    high: float | None,
    limit: float | None,
) -> NumericCompOp:
    if comp_op is not None:
        op = parse_numeric_comp_op(comp_op)
        if op is None:
            raise ValueError(f"unknown numeric comparison operator {comp_op!r}")
        return op
    if limit is not None:
        raise ValueError("limit= needs an explicit single-limit comp_op (EQ, NE, GT, GE, LT, LE)")
    if low is not None and high is not None:
        return NumericCompOp.GELE
    if low is not None:
        return NumericCompOp.GE
    if high is not None:
        return NumericCompOp.LE
    return NumericCompOp.LOG


def _place_limits(
    op: NumericCompOp, *, low: float | None, high: float | None, limit: float | None
) -> tuple[float | None, float | None]:
    """Return ``(lowLimit, highLimit)`` for ``op`` from the caller's limits."""
    use = limit_use(op)
    if use is LimitUse.NONE:
        if low is not None or high is not None or limit is not None:
            raise ValueError("LOG records the value only; give no limits")
        return None, None
    if use is LimitUse.BOTH:
        if limit is not None or low is None or high is None:
            raise ValueError(f"{op} needs low= and high= (and no limit=)")
        if low > high:
            raise ValueError(f"low {low} is above high {high}")
        return float(low), float(high)
    natural = high if op in _UPPER_BOUND_OPS else low
    other = low if op in _UPPER_BOUND_OPS else high
    given = [number for number in (limit, natural) if number is not None]
    if len(given) != 1 or other is not None:
        word = "high" if op in _UPPER_BOUND_OPS else "low"
        raise ValueError(f"{op} needs exactly one limit, as limit= or {word}=")
    return float(given[0]), None


def string_measurement(
    value: str,
    *,
    name: str | None = None,
    limit: str | None = None,
    comp_op: StringCompOp | str | None = None,
) -> StringMeasurement:
    """Make a string measurement and compute its status.

    Without ``comp_op``: ``CASESENSIT`` when a ``limit`` is given, else ``LOG``.

    Raises:
        ValueError: an unknown operator, a comparing operator without ``limit``, or a limit for
            ``LOG``.
    """
    if comp_op is None:
        op = StringCompOp.LOG if limit is None else StringCompOp.CASESENSIT
    else:
        parsed = parse_string_comp_op(comp_op)
        if parsed is None:
            raise ValueError(f"unknown string comparison operator {comp_op!r}")
        op = parsed
    if op is StringCompOp.LOG and limit is not None:
        raise ValueError("LOG records the value only; give no limit")
    return StringMeasurement(
        status=compare_string(op, value, limit).value,
        comp_op=op.value,
        name=UNSET if name is None else name,
        value=value,
        limit=UNSET if limit is None else limit,
    )


def boolean_measurement(passed: bool, *, name: str | None = None) -> BooleanMeasurement:
    """Make a pass/fail measurement."""
    status = MeasurementStatus.PASSED if passed else MeasurementStatus.FAILED
    return BooleanMeasurement(status=status.value, name=UNSET if name is None else name)


def attachment_from_bytes(name: str, content: bytes, content_type: str) -> Attachment:
    """Make a step attachment from raw bytes (Base64-encoded here)."""
    data = base64.b64encode(content).decode("ascii")
    return Attachment(name=name, content_type=content_type, data=data)


def chart_series(name: str, y: Iterable[float], x: Iterable[float] | None = None) -> ChartSeries:
    """Make an ``XYG`` chart series from numbers (written semicolon-separated, as WSJF wants).

    Raises:
        ValueError: no values, a non-finite number, or ``x`` and ``y`` of different lengths.
    """
    y_values = [float(number) for number in y]
    x_values = None if x is None else [float(number) for number in x]
    for number in (*y_values, *(x_values or ())):
        if not math.isfinite(number):
            raise ValueError(f"chart values must be finite numbers, not {number}")
    if not y_values:
        raise ValueError("a chart series needs at least one value")
    if x_values is not None and len(x_values) != len(y_values):
        raise ValueError(f"x has {len(x_values)} values but y has {len(y_values)}")
    return ChartSeries(
        data_type=SeriesDataType.XYG.value,
        name=name,
        xdata=UNSET if x_values is None else ";".join(map(repr, x_values)),
        ydata=";".join(map(repr, y_values)),
    )
