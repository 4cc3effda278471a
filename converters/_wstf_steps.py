"""The step data of one WSTF UUT: tab-separated rows made into a WSJF step tree.

A row's columns are StepType, StepName, MeasureName, Value, LowLimit, HighLimit, CompOperator,
Unit, Status, StepExecutionTime, StepReportText, StepErrorCode, StepErrorMessage,
CausedSequenceFailure (a ``Chart`` row: type, label, Y unit, Y label, X unit, X label; a
``Series`` row: name, data type, Y data, X data). ``SequenceCall``/``EndSequenceCall`` nest;
rows with a MeasureName are the measurements of a multiple step (consecutive rows of the same
StepName, or the rows between ``MultipleNumericLimitTest`` and ``EndMultipleNumericLimitTest``).
A Status cell is used as it is (import mode); an empty one is computed from the value, the
limits and the operator (active mode). The mapping is documented in ``docs/converters.md``.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from msgspec import UNSET

from pywats_actors.report import (
    Chart,
    ChartType,
    NumericCompOp,
    NumericMeasurement,
    SequenceCallInfo,
    Step,
    boolean_measurement,
    chart_series,
    numeric_measurement,
    string_measurement,
)

from ._errors import FileRejected
from ._wstf_nodes import Leaf, Row, Sequence, numbered, with_status
from ._wstf_values import number, parse_bool, series_numbers, step_status

__all__ = ["MAX_DEPTH", "MAX_ROWS", "StepTree"]

MAX_DEPTH = 64
MAX_ROWS = 100_000
MAX_SERIES = 10
_SINGLE_OPS = frozenset({"EQ", "NE", "GT", "GE", "LT", "LE"})
_MEASURED = {
    "numericlimittest": ("numeric", False),
    "multiplenumericlimittest": ("numeric", True),
    "passfailtest": ("boolean", False),
    "multiplepassfailtest": ("boolean", True),
    "stringvaluetest": ("string", False),
    "multiplestringvaluetest": ("string", True),
}
_ENDS = {
    "endmultiplenumericlimittest": "numeric",
    "endmultiplepassfailtest": "boolean",
    "endmultiplestringvaluetest": "string",
}
_CHART_TYPES = {kind.value.lower(): kind.value for kind in ChartType}
_INT_RE = re.compile(r"^[-+]?\d{1,18}$")


class StepTree:
    """The step rows of one UUT, added in file order, made into the report's root step.

    Args:
        comma: numbers use a decimal comma (the file's culture).
        root_name: the root step's name.
        sequence: the root sequence's name and version (SoftwareName, SoftwareVersion).
    """

    def __init__(self, comma: bool, root_name: str, sequence: SequenceCallInfo) -> None:
        self._comma = comma
        self._stack = [Sequence(root_name, 0, None, sequence)]
        self._leaf: Leaf | None = None
        self._rows = 0

    def add(self, cells: list[str], line: int) -> None:
        """Add one step row.

        Raises:
            FileRejected: an unknown step type, an unbalanced EndSequenceCall or
                EndMultiple...Test, a bad number, status or operator; ``where`` names the line.
        """
        row = Row(cells, line)
        self._rows += 1
        if self._rows > MAX_ROWS:
            raise FileRejected(f"more than {MAX_ROWS} step rows in one UUT", where=row.where)
        kind = row.type.lower()
        if kind == "sequencecall":
            self._open_sequence(row)
        elif kind == "endsequencecall":
            self._close_sequence(row)
        elif kind in _MEASURED:
            self._measured(row, *_MEASURED[kind])
        elif kind in _ENDS:
            self._end_multiple(row, _ENDS[kind])
        elif kind in ("actionstep", "action"):
            leaf = self._new_leaf(row, "action", multi=False)
            leaf.status = step_status(row.status, row.where) or "D"
        elif kind == "chart":
            self._chart(row)
        elif kind == "series":
            self._series(row)
        else:
            raise FileRejected(f"unknown step type {row.type!r}", where=row.where)

    def finish(self, line: int) -> tuple[Step, int | None]:
        """The root step, numbered depth-first from 1, and the id of the step that caused the
        UUT to fail (the first failed step that is not a sequence).

        Raises:
            FileRejected: a sequence without its EndSequenceCall.
        """
        self._close_leaf()
        if len(self._stack) > 1:
            top = self._stack[-1]
            raise FileRejected(
                f"sequence {top.name!r} (SequenceCall at line {top.line}) has no EndSequenceCall",
                where=f"line {line}",
            )
        failed: list[int] = []
        root = numbered(self._stack[0].step(), itertools.count(1), failed)
        return root, (failed[0] if failed else None)

    # -- sequences -------------------------------------------------------------------------

    def _open_sequence(self, row: Row) -> None:
        self._close_leaf()
        if not row.name:
            raise FileRejected("a SequenceCall row needs a StepName", where=row.where)
        if len(self._stack) > MAX_DEPTH:
            raise FileRejected(f"sequences nested deeper than {MAX_DEPTH}", where=row.where)
        info = SequenceCallInfo(path=row.name, name=row.name)
        sequence = Sequence(row.name, row.line, step_status(row.status, row.where), info)
        sequence.options = self._options(row)
        self._stack.append(sequence)

    def _close_sequence(self, row: Row) -> None:
        self._close_leaf()
        if len(self._stack) == 1:
            raise FileRejected("EndSequenceCall without an open SequenceCall", where=row.where)
        top = self._stack[-1]
        if row.name and row.name != top.name:
            raise FileRejected(
                f"EndSequenceCall {row.name!r} does not close sequence {top.name!r} "
                f"(SequenceCall at line {top.line})",
                where=row.where,
            )
        top.status = step_status(row.status, row.where) or top.status
        top.options.update(self._options(row))
        self._stack.pop()
        self._stack[-1].children.append(top.step())

    # -- measured steps --------------------------------------------------------------------

    def _new_leaf(self, row: Row, kind: str, *, multi: bool) -> Leaf:
        self._close_leaf()
        if not row.name:
            raise FileRejected(f"a {row.type} row needs a StepName", where=row.where)
        self._leaf = Leaf(kind, row.name, row.line, multi=multi)
        self._leaf.options = self._options(row)
        return self._leaf

    def _close_leaf(self) -> None:
        if self._leaf is not None:
            self._stack[-1].children.append(self._leaf.step())
            self._leaf = None

    def _measured(self, row: Row, kind: str, multiple: bool) -> None:
        status = step_status(row.status, row.where)
        if multiple and not row.measure and not row.value:
            leaf = self._new_leaf(row, kind, multi=True)  # opens an explicit multiple step
            leaf.status = status
            return
        if not row.measure:
            if multiple:
                raise FileRejected(
                    f"a measurement row of {row.type} needs a MeasureName", where=row.where
                )
            leaf = self._new_leaf(row, kind, multi=False)
            leaf.status = status
            self._measure(leaf, row, status, None)
            return
        current = self._leaf
        if (
            current is None
            or current.kind != kind
            or not current.multi
            or (row.name and row.name != current.name)
        ):
            leaf = self._new_leaf(row, kind, multi=True)
        else:
            leaf = current
            leaf.options.update(self._options(row))
        if row.measure in {m.name for m in leaf.measurements()}:
            raise FileRejected(
                f"measurement {row.measure!r} appears twice in step {leaf.name!r}",
                where=row.where,
            )
        if status in ("E", "T"):
            leaf.row_statuses.add(status)
        self._measure(leaf, row, status, row.measure)

    def _end_multiple(self, row: Row, kind: str) -> None:
        leaf = self._leaf
        if leaf is None or leaf.kind != kind or not leaf.multi:
            raise FileRejected(
                f"{row.type} without an open multiple step of its kind", where=row.where
            )
        if row.name and row.name != leaf.name:
            raise FileRejected(
                f"{row.type} {row.name!r} does not close step {leaf.name!r} (line {leaf.line})",
                where=row.where,
            )
        leaf.status = step_status(row.status, row.where) or leaf.status
        leaf.options.update(self._options(row))
        self._close_leaf()

    def _measure(self, leaf: Leaf, row: Row, status: str | None, name: str | None) -> None:
        """Add the row's measurement to ``leaf``, its Status (P, F, S) over the computed one."""
        given = status if status in ("P", "F", "S") else None
        try:
            if leaf.kind == "numeric":
                numeric = self._numeric(row, name, given)
                leaf.numeric.append(numeric if given is None else with_status(numeric, given))
            elif leaf.kind == "string":
                op = row.op.upper() or None
                limit = None if op == "LOG" else (row.low or None)
                string = string_measurement(row.value, name=name, limit=limit, comp_op=op)
                leaf.string.append(string if given is None else with_status(string, given))
            else:
                value = parse_bool(row.value, "Value", row.where)
                if value is None and given is None:
                    raise FileRejected(
                        "a PassFailTest row needs a Value (True or False) or a Status",
                        where=row.where,
                    )
                boolean = boolean_measurement(bool(value), name=name)
                leaf.boolean.append(boolean if given is None else with_status(boolean, given))
        except ValueError as exc:
            raise FileRejected(f"step {leaf.name!r}: {exc}", where=row.where) from None

    def _numeric(self, row: Row, name: str | None, given: str | None) -> NumericMeasurement:
        op = row.op.upper() or None
        if op is not None and op not in NumericCompOp.__members__:
            raise FileRejected(f"unknown comparison operator {row.op!r}", where=row.where)
        unit = row.unit or None
        if not row.value:
            if given == "S":
                return NumericMeasurement(status="S", comp_op="LOG", name=name or UNSET)
            raise FileRejected(f"numeric step {row.name or name!r} has no Value", where=row.where)
        value = number(row.value, self._comma, "Value", row.where)
        low = number(row.low, self._comma, "LowLimit", row.where) if row.low else None
        high = number(row.high, self._comma, "HighLimit", row.where) if row.high else None
        if op == "LOG":
            return numeric_measurement(value, name=name, unit=unit, comp_op=op)
        if op in _SINGLE_OPS:
            limit = low if low is not None else high
            if limit is None:
                raise FileRejected(f"{op} needs a limit in LowLimit", where=row.where)
            return numeric_measurement(value, name=name, unit=unit, limit=limit, comp_op=op)
        return numeric_measurement(value, name=name, unit=unit, low=low, high=high, comp_op=op)

    # -- charts ----------------------------------------------------------------------------

    def _chart(self, row: Row) -> None:
        leaf = self._leaf
        if leaf is None:
            raise FileRejected("a Chart row must follow the step it belongs to", where=row.where)
        if leaf.chart is not None:
            raise FileRejected(f"step {leaf.name!r} already has a chart", where=row.where)
        chart_type = _CHART_TYPES.get((row.name or "Line").lower())
        if chart_type is None:
            known = ", ".join(_CHART_TYPES.values())
            raise FileRejected(f"unknown chart type {row.name!r} (one of {known})", row.where)
        y_unit, y_label, x_unit, x_label = row.cells[3:7]
        leaf.chart = Chart(
            chart_type=chart_type,
            label=row.measure or UNSET,
            x_label=x_label or UNSET,
            x_unit=x_unit or UNSET,
            y_label=y_label or UNSET,
            y_unit=y_unit or UNSET,
        )

    def _series(self, row: Row) -> None:
        leaf = self._leaf
        if leaf is None or leaf.chart is None:
            raise FileRejected("a Series row must follow a Chart row", where=row.where)
        if len(leaf.series) >= MAX_SERIES:
            raise FileRejected(f"a chart holds at most {MAX_SERIES} series", where=row.where)
        if (row.measure or "XYG").upper() != "XYG":
            raise FileRejected(f"unknown series data type {row.measure!r} (XYG)", row.where)
        y_text, x_text = row.cells[3], row.cells[4]
        if not y_text:
            raise FileRejected("a Series row needs its Y data", where=row.where)
        y = series_numbers(y_text, "Y data", row.where)
        x = series_numbers(x_text, "X data", row.where) if x_text else None
        if x is not None and len(x) != len(y):
            raise FileRejected(
                f"the series has {len(x)} X values but {len(y)} Y values", where=row.where
            )
        name = row.name or f"Series {len(leaf.series) + 1}"
        leaf.series.append(chart_series(name, y, x))

    # -- step-level columns ----------------------------------------------------------------

    def _options(self, row: Row) -> dict[str, Any]:
        """The step-level columns of ``row`` that are not empty, as ``Step`` fields."""
        options: dict[str, Any] = {}
        if row.time:
            seconds = number(row.time, self._comma, "StepExecutionTime", row.where)
            if seconds >= 0:
                options["tot_time"] = seconds
        if row.text:
            options["report_text"] = row.text
        if row.code:
            if not _INT_RE.match(row.code):
                raise FileRejected(f"StepErrorCode {row.code!r} is not a whole number", row.where)
            options["error_code"] = int(row.code)
        if row.message:
            options["error_message"] = row.message
        caused = parse_bool(row.caused, "CausedSequenceFailure", row.where)
        if caused:
            options["caused_seq_failure"] = True
        return options
