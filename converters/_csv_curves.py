"""Curve blocks in delimited text: a curve header row, then x/y row pairs, each a chart step.

Instrument exports (Listen SoundCheck among them) put curves between the measurement rows: a
header row naming the curve and its axes, then a row of x values and a row of y values, each
prefixed by the unit's serial number and time like any row. :class:`CurveReader` classifies the
rows of one pass over a file as the table reads them (the state is one pending x row);
:func:`chart_step` turns a finished pair into a ``WATS_XYGMNLT`` step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from msgspec import UNSET

from pywats_actors.report import Chart, ChartType, Step, chart_series

from ._csv_args import CsvArguments, CsvCurves
from ._errors import FileRejected

__all__ = ["Curve", "CurveReader", "chart_step", "parse_number"]


@dataclass(frozen=True, slots=True)
class Curve:
    """One curve of a unit: its name, axes and values (x and y of the same length)."""

    name: str
    x_unit: str | None
    y_unit: str | None
    chart_type: str
    x: tuple[float, ...]
    y: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class _Header:
    name: str
    x_unit: str | None
    y_unit: str | None
    chart_type: str
    line: int


def parse_number(text: str, args: CsvArguments) -> float | None:
    """The finite number ``text`` spells in the file's locale (``decimal_separator``,
    ``thousands_separator``), else ``None``."""
    if args.thousands_separator:
        text = text.replace(args.thousands_separator, "")
    if args.decimal_separator == ",":
        text = text.replace(",", ".")
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


class CurveReader:
    """The curve state of one pass over a file (see :class:`CsvCurves` for the layout)."""

    def __init__(self, spec: CsvCurves, args: CsvArguments) -> None:
        self._spec = spec
        self._args = args
        self._header: _Header | None = None
        self._x: tuple[int, list[str], tuple[float, ...]] | None = None  # line, cells, values

    def is_header(self, cells: Sequence[str]) -> bool:
        """The row is a curve header (its marker cell starts with the marker)."""
        column = self._spec.marker_column
        return column < len(cells) and cells[column].strip().casefold().startswith(
            self._spec.marker.casefold()
        )

    def start(self, line: int, cells: Sequence[str]) -> None:
        """A curve header at ``line``: the pairs after it are its curve.

        Raises:
            FileRejected: the header has no name, or an x row before it has no y row.
        """
        self.end()
        spec = self._spec
        name = _cell(cells, spec.name)
        if not name:
            raise FileRejected(
                f"the curve header has no name in column {spec.name}", where=f"line {line}"
            )
        log_x = _cell(cells, spec.x_scale).casefold().endswith("log")
        log_y = _cell(cells, spec.y_scale).casefold().endswith("log")
        chart_type = {
            (False, False): ChartType.LINE,
            (True, False): ChartType.LINE_LOG_X,
            (False, True): ChartType.LINE_LOG_Y,
            (True, True): ChartType.LINE_LOG_XY,
        }[(log_x, log_y)]
        self._header = _Header(
            name=name,
            x_unit=_cell(cells, spec.x_unit) or None,
            y_unit=_cell(cells, spec.y_unit) or None,
            chart_type=chart_type.value,
            line=line,
        )

    def end(self) -> None:
        """The curve block ends (another kind of row, or the end of the file).

        Raises:
            FileRejected: an x row has no y row.
        """
        pending = self._x
        self._header = None
        self._x = None
        if pending is not None:
            where = f"line {pending[0]}"
            raise FileRejected("the curve's x row has no y row after it", where=where)

    def take(self, line: int, cells: list[str]) -> Curve | bool:
        """Offer a data row: ``False`` if it is not a curve row (the block has ended, or there
        is none), ``True`` for an x row (held until its y row), the :class:`Curve` for a y row.

        Raises:
            FileRejected: a y row of another length, or another unit, than its x row.
        """
        header = self._header
        if header is None:
            return False
        values = self._values(cells)
        if values is None:
            self.end()
            return False
        pending = self._x
        if pending is None:
            self._x = (line, cells, values)
            return True
        self._x = None
        x_line, x_cells, x_values = pending
        start = self._spec.values_from
        if [c.strip() for c in x_cells[:start]] != [c.strip() for c in cells[:start]]:
            raise FileRejected(
                f"curve {header.name!r}: the y row's first {start} cells differ from those of "
                f"its x row (line {x_line})",
                where=f"line {line}",
            )
        if len(x_values) != len(values):
            raise FileRejected(
                f"curve {header.name!r}: {len(values)} y values but {len(x_values)} x values "
                f"(line {x_line})",
                where=f"line {line}",
            )
        return Curve(header.name, header.x_unit, header.y_unit, header.chart_type, x_values, values)

    def _values(self, cells: Sequence[str]) -> tuple[float, ...] | None:
        """The row's numbers from ``values_from`` on (empty cells at the end ignored), or
        ``None`` when there are none or one is not a number."""
        start = self._spec.values_from
        end = len(cells)
        while end > start and not cells[end - 1].strip():
            end -= 1
        texts = cells[start:end]
        if self._args.thousands_separator:
            texts = [text.replace(self._args.thousands_separator, "") for text in texts]
        if self._args.decimal_separator == ",":
            texts = [text.replace(",", ".") for text in texts]
        try:
            values = tuple(map(float, texts))  # float() ignores surrounding spaces
        except ValueError:
            return None
        if not values or not all(map(math.isfinite, values)):
            return None
        return values


def chart_step(curve: Curve) -> Step:
    """The chart step (``WATS_XYGMNLT``, status Done: a curve carries no verdict) of a curve;
    its id is set when the tree is built."""
    chart = Chart(
        chart_type=curve.chart_type,
        label=curve.name,
        x_label="x",
        x_unit=UNSET if curve.x_unit is None else curve.x_unit,
        y_label="y",
        y_unit=UNSET if curve.y_unit is None else curve.y_unit,
        series=(chart_series(curve.name, curve.y, curve.x),),
    )
    return Step(id=0, group="M", step_type="WATS_XYGMNLT", name=curve.name, status="D", chart=chart)


def _cell(cells: Sequence[str], index: int | None) -> str:
    if index is None or index >= len(cells):
        return ""
    return cells[index].strip()
