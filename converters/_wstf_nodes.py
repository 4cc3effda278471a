"""The parts of a WSTF step tree as it is read: a row, a step being filled, a sequence.

:mod:`._wstf_steps` reads the rows into these; they make the finished WSJF ``Step`` objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
from msgspec import UNSET

from pywats_actors.report import (
    BooleanMeasurement,
    Chart,
    ChartSeries,
    NumericMeasurement,
    SequenceCallInfo,
    Step,
    StringMeasurement,
)

from ._errors import FileRejected

__all__ = ["Leaf", "Row", "Sequence", "numbered", "with_status"]

_COLUMNS = 14
_TYPES = {
    "numeric": ("ET_NLT", "ET_MNLT"),
    "string": ("ET_SVT", "ET_MSVT"),
    "boolean": ("ET_PFT", "ET_MPFT"),
    "action": ("Action", "Action"),
}


class Row:
    """One step row, its cells trimmed and padded to the 14 columns."""

    def __init__(self, cells: list[str], line: int) -> None:
        cells = [cell.strip() for cell in cells[:_COLUMNS]]
        cells += [""] * (_COLUMNS - len(cells))
        self.cells = cells
        self.type, self.name, self.measure, self.value, self.low, self.high, self.op = cells[:7]
        self.unit, self.status, self.time, self.text, self.code, self.message = cells[7:13]
        self.caused = cells[13]
        self.where = f"line {line}"
        self.line = line


class Leaf:
    """A step being filled: its measurements, its step-level columns, its chart."""

    def __init__(self, kind: str, name: str, line: int, *, multi: bool) -> None:
        self.kind = kind
        self.name = name
        self.line = line
        self.multi = multi
        self.status: str | None = None
        self.row_statuses: set[str] = set()
        self.numeric: list[NumericMeasurement] = []
        self.string: list[StringMeasurement] = []
        self.boolean: list[BooleanMeasurement] = []
        self.options: dict[str, Any] = {}
        self.chart: Chart | None = None
        self.series: list[ChartSeries] = []

    def measurements(self) -> list[NumericMeasurement | StringMeasurement | BooleanMeasurement]:
        return [*self.numeric, *self.string, *self.boolean]

    def step(self) -> Step:
        """The finished step (id 0 until the tree is numbered).

        Raises:
            FileRejected: a Status of Passed on a step whose measurement failed.
        """
        single, multiple = _TYPES[self.kind]
        step_type = multiple if self.multi else single
        chart: Chart | msgspec.UnsetType = UNSET
        if self.chart is not None:
            chart = msgspec.structs.replace(self.chart, series=tuple(self.series) or UNSET)
            if self.kind == "numeric":
                step_type = "WATS_XYGMNLT"
        measured = self.measurements()
        failed = [m for m in measured if m.status == "F"]
        status = self.status or self._rolled_up(measured, failed)
        if status == "P" and failed:
            raise FileRejected(
                f"step {self.name!r} has Status Passed but a measurement failed",
                where=f"line {self.line}",
            )
        return Step(
            id=0,
            group="M",
            step_type=step_type,
            name=self.name,
            status=status,
            numeric_meas=tuple(self.numeric) or UNSET,
            string_meas=tuple(self.string) or UNSET,
            boolean_meas=tuple(self.boolean) or UNSET,
            chart=chart,
            **self.options,
        )

    def _rolled_up(self, measured: list[Any], failed: list[Any]) -> str:
        for worst in ("T", "E"):
            if worst in self.row_statuses:
                return worst
        if self.kind == "action":
            return "D"
        if failed:
            return "F"
        if measured and all(m.status == "S" for m in measured):
            return "S"
        return "P"


class Sequence:
    """A sequence call being filled."""

    def __init__(self, name: str, line: int, status: str | None, info: SequenceCallInfo) -> None:
        self.name = name
        self.line = line
        self.status = status
        self.info = info
        self.options: dict[str, Any] = {}
        self.children: list[Step] = []

    def step(self) -> Step:
        status = self.status
        if status is None:
            seen = {child.status for child in self.children}
            status = next((s for s in ("T", "E", "F") if s in seen), "P")
        return Step(
            id=0,
            group="M",
            step_type="SequenceCall",
            name=self.name,
            status=status,
            seq_call=self.info,
            steps=tuple(self.children),
            **self.options,
        )


def with_status(measurement: Any, status: str) -> Any:
    """``measurement`` with the file's status."""
    return msgspec.structs.replace(measurement, status=status)


def numbered(step: Step, ids: Iterator[int], failed: list[int]) -> Step:
    """``step`` and its children with ids depth-first; the first failed leaf is the cause."""
    own = next(ids)
    if step.steps is UNSET:
        caused = step.status == "F" and not failed
        if caused:
            failed.append(own)
        return msgspec.structs.replace(step, id=own, caused_uut_failure=caused or UNSET)
    children = tuple(numbered(child, ids, failed) for child in step.children)
    return msgspec.structs.replace(step, id=own, steps=children)
