"""OpenHTF measurements to WSJF steps: validator strings to limits, typed field access.

OpenHTF writes validators only as their ``str()``: ``3.2 <= x <= 3.4``, ``x <= 0.15``,
``0 <= x``, ``x == 5``, ``x == True``, ``'x' matches /^2\\.4\\.1$/``. Those are mapped to
comparison operators; any other validator is kept, as text, in the step's ``reportText`` and
never guessed at. A step's status is always the measurement's own ``outcome``.
"""

from __future__ import annotations

import binascii
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from msgspec import UNSET

from pywats_actors.report import (
    Attachment,
    BooleanMeasurement,
    Chart,
    ChartSeries,
    NumericMeasurement,
    Step,
    StringMeasurement,
)

from ._errors import FileRejected

__all__ = ["Path", "attachment_step", "measurement_step", "numeric_limits"]

_STATUS = {"PASS": "P", "FAIL": "F"}  # UNSET and PARTIALLY_SET: skipped
_NUM = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_RANGE_RE = re.compile(rf"^{_NUM}\s*(<=?)\s*x\s*(<=?)\s*{_NUM}$")
_LOW_RE = re.compile(rf"^(?:{_NUM}\s*(<=?)\s*x|x\s*(>=?)\s*{_NUM})$")
_HIGH_RE = re.compile(rf"^(?:x\s*(<=?)\s*{_NUM}|{_NUM}\s*(>=?)\s*x)$")
_EQ_RE = re.compile(rf"^x\s*(==|!=)\s*{_NUM}$")
_BOOL_RE = re.compile(r"^x\s*==\s*(True|False)$")
_MATCH_RE = re.compile(r"^'x' matches /(.*)/$", re.DOTALL)
_LITERAL_RE = re.compile(r"^\^((?:[^\\.^$*+?()\[\]{}|]|\\[\\.^$*+?()\[\]{}|/-])*)\$$")
_TEXT_LIMIT = 1000
_T = TypeVar("_T", bound=msgspec.Struct)


@dataclass(frozen=True)
class Path:
    """A JSON path for messages, with typed field readers that reject wrong types there."""

    path: str

    def __str__(self) -> str:
        return self.path

    def key(self, name: str) -> Path:
        return Path(
            f"{self.path}.{name}" if re.fullmatch(r"\w+", name) else f"{self.path}[{name!r}]"
        )

    def index(self, i: int) -> Path:
        return Path(f"{self.path}[{i}]")

    def text(self, obj: Mapping[str, Any], name: str) -> str | None:
        """An optional string field (``None`` when absent or null).

        Raises:
            FileRejected: the field is not a string.
        """
        value = obj.get(name)
        if value is not None and not isinstance(value, str):
            raise FileRejected(f"{name!r} must be a string", where=str(self.key(name)))
        return value

    def need(self, obj: Mapping[str, Any], name: str) -> str:
        """A required, non-blank string field.

        Raises:
            FileRejected: the field is missing, not a string, or blank.
        """
        value = self.text(obj, name)
        if value is None:
            raise FileRejected(f"{name!r} is missing", where=str(self.key(name)))
        if not value.strip():
            raise FileRejected(f"{name!r} is empty", where=str(self.key(name)))
        return value

    def millis(self, obj: Mapping[str, Any], name: str, *, required: bool = False) -> Any:
        value = obj.get(name)
        if value is None:
            if required:
                raise FileRejected(f"{name!r} is missing", where=str(self.key(name)))
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise FileRejected(
                f"{name!r} must be a number of milliseconds", where=str(self.key(name))
            )
        return value

    def mapping(self, obj: Mapping[str, Any], name: str) -> Mapping[str, Any]:
        value = obj.get(name)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise FileRejected(f"{name!r} must be a JSON object", where=str(self.key(name)))
        return value

    def sequence(self, obj: Mapping[str, Any], name: str) -> Sequence[Any]:
        value = obj.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise FileRejected(f"{name!r} must be a JSON array", where=str(self.key(name)))
        return value


def numeric_limits(validator: str) -> tuple[str, float | None, float | None] | None:
    """``(compOp, lowLimit, highLimit)`` of a numeric validator string, or ``None``."""
    text = validator.strip()
    if match := _RANGE_RE.match(text):
        low, low_op, high_op, high = match.groups()
        op = ("GE" if low_op == "<=" else "GT") + ("LE" if high_op == "<=" else "LT")
        return op, float(low), float(high)
    if match := _LOW_RE.match(text):
        low1, op1, op2, low2 = match.groups()
        strict = (op1 or op2) in ("<", ">")
        return ("GT" if strict else "GE"), float(low1 or low2), None
    if match := _HIGH_RE.match(text):
        op1, high1, high2, op2 = match.groups()
        strict = (op1 or op2) in ("<", ">")
        return ("LT" if strict else "LE"), float(high1 or high2), None
    if match := _EQ_RE.match(text):
        return ("EQ" if match.group(1) == "==" else "NE"), float(match.group(2)), None
    return None


def _literal(pattern: str) -> str | None:
    """The string an anchored regex of literal characters matches (``^2\\.4\\.1$``)."""
    match = _LITERAL_RE.match(pattern)
    return None if match is None else re.sub(r"\\(.)", r"\1", match.group(1))


def measurement_step(measurement: Any, path: Path) -> Step:
    """One measurement as a step (its id is 0; the caller numbers it).

    Numbers make a numeric step, booleans a pass/fail step, strings a string step, a
    one-dimensional series a chart step; anything else a string step logging its JSON.

    Raises:
        FileRejected: the measurement is not an object, or a field has the wrong type.
    """
    if not isinstance(measurement, Mapping):
        raise FileRejected("a measurement is a JSON object", where=str(path))
    name = path.need(measurement, "name")
    outcome = path.text(measurement, "outcome") or "UNSET"
    status = _STATUS.get(outcome, "S")
    validators = path.sequence(measurement, "validators")
    for i, validator in enumerate(validators):
        if not isinstance(validator, str):
            raise FileRejected(
                "a validator is a string", where=str(path.key("validators").index(i))
            )
    units = path.mapping(measurement, "units")
    unit = units.get("suffix") or units.get("name")
    unit = unit if isinstance(unit, str) and unit else None
    value = measurement.get("measured_value")
    unused = list(validators)
    step = Step(id=0, group="M", step_type="ET_NLT", name=name, status=status)
    if "dimensions" in measurement and measurement.get("dimensions"):
        step = _chart(step, measurement, path, value, unit)
    elif value is None:
        step = _replace(step, step_type="Action", status="S" if status == "P" else status)
        unused.insert(0, "no value measured")
    elif isinstance(value, bool):
        step = _replace(step, step_type="ET_PFT", boolean_meas=(BooleanMeasurement(status=status),))
        unused = [v for v in unused if not _BOOL_RE.match(v.strip())]
    elif isinstance(value, int | float) and math.isfinite(value):
        numeric = NumericMeasurement(status=status, comp_op="LOG", value=float(value))
        for validator in validators:
            limits = numeric_limits(validator)
            if limits is not None:
                op, low, high = limits
                numeric = NumericMeasurement(
                    status=status,
                    comp_op=op,
                    value=float(value),
                    low_limit=UNSET if low is None else low,
                    high_limit=UNSET if high is None else high,
                )
                unused.remove(validator)
                break
        if unit is not None:
            numeric = _replace(numeric, unit=unit)
        step = _replace(step, numeric_meas=(numeric,))
    elif isinstance(value, str):
        string = StringMeasurement(status=status, comp_op="LOG", value=value)
        for validator in validators:
            match = _MATCH_RE.match(validator.strip())
            literal = None if match is None else _literal(match.group(1))
            if literal is not None:
                string = StringMeasurement(
                    status=status, comp_op="CASESENSIT", value=value, limit=literal
                )
                unused.remove(validator)
                break
        step = _replace(step, step_type="ET_SVT", string_meas=(string,))
    else:
        text = _json_text(value)
        step = _replace(
            step,
            step_type="ET_SVT",
            string_meas=(StringMeasurement(status=status, comp_op="LOG", value=text),),
        )
    if unused:
        step = _replace(step, report_text="; ".join(unused)[:_TEXT_LIMIT])
    return step


def attachment_step(name: str, attachment: Any, path: Path, limit: int) -> Step:
    """An attachment as a done action step carrying the file, or naming it when over ``limit``.

    Raises:
        FileRejected: the attachment is not an object, or its ``data`` is not Base64 text.
    """
    if not isinstance(attachment, Mapping):
        raise FileRejected("an attachment is a JSON object", where=str(path))
    data = path.text(attachment, "data") or ""
    mimetype = path.text(attachment, "mimetype") or "application/octet-stream"
    try:
        size = len(binascii.a2b_base64(data, strict_mode=True))
    except (binascii.Error, ValueError):
        raise FileRejected("attachment data is not Base64", where=str(path.key("data"))) from None
    step = Step(id=0, group="M", step_type="Action", name=name, status="D")
    if size > limit or not data:
        why = "empty" if not data else f"{size} bytes, over attachment_limit {limit}"
        return _replace(step, report_text=f"attachment {name!r} ({mimetype}) left out: {why}")
    return _replace(step, attachment=Attachment(name=name, content_type=mimetype, data=data))


def _chart(
    step: Step, measurement: Mapping[str, Any], path: Path, value: Any, unit: str | None
) -> Step:
    """A one-dimensional series (``[[x, y], ...]``) as an XYG chart; more dimensions as text."""
    dims = path.sequence(measurement, "dimensions")
    rows = value if isinstance(value, list) else []
    pairs = [row for row in rows if isinstance(row, list) and len(row) == 2]
    numbers = all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        for row in pairs
        for v in row
    )
    if len(dims) != 1 or not pairs or len(pairs) != len(rows) or not numbers:
        text = _json_text(value)
        return _replace(
            step,
            step_type="ET_SVT",
            string_meas=(StringMeasurement(status=step.status, comp_op="LOG", value=text),),
        )
    dim = dims[0] if isinstance(dims[0], Mapping) else {}
    x_unit = dim.get("suffix") or dim.get("name")
    series = ChartSeries(
        data_type="XYG",
        name=step.name,
        xdata=";".join(repr(float(row[0])) for row in pairs),
        ydata=";".join(repr(float(row[1])) for row in pairs),
    )
    chart = Chart(
        chart_type="Line",
        label=step.name,
        x_label=str(dim.get("name") or "x"),
        x_unit=x_unit if isinstance(x_unit, str) else UNSET,
        y_label=step.name,
        y_unit=UNSET if unit is None else unit,
        series=(series,),
    )
    return _replace(step, step_type="WATS_XYGMNLT", chart=chart)


def _json_text(value: Any) -> str:
    return msgspec.json.encode(value).decode("utf-8", "replace")[:_TEXT_LIMIT]


def _replace(obj: _T, **changes: Any) -> _T:
    return msgspec.structs.replace(obj, **changes)
