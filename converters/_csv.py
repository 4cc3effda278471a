"""The CSV/TSV converter: delimited text mapped to UUT reports by its arguments.

Reading: check that the bytes decode with the configured encoding, guess the delimiter from the
header line when it is not given, parse with the standard ``csv`` module (quotes, embedded
delimiters), skip blank and comment lines, repeated header rows, and rows wider than the header
(curve blocks in instrument exports), then map each remaining row to named fields through the
column map. Rows are grouped into reports by ``group_by``; building the reports is
``_csv_build``'s job.

The file is never held as text or as rows: it is decoded and parsed as it is read, twice (see
:meth:`CsvConverter.convert_iter`), and each report is built, and handed on, as soon as its
group's last row has been read.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

import msgspec

from pywats_actors.report import UUTReport

from ._csv_args import (
    CANONICAL_COLUMNS,
    HEADER_FIELDS,
    Column,
    CsvArguments,
    CsvColumns,
    CsvKeepRows,
)
from ._csv_build import Record, ReportFactory
from ._csv_curves import Curve, CurveReader
from ._csv_presets import recognise_preset
from ._csv_text import Text, find_delimiter, guess_delimiter, is_comment
from ._errors import FileRejected
from ._sdk import API_VERSION, Converter, ConverterOutput

__all__ = ["CsvConverter"]

_FIELDS = tuple(field.name for field in msgspec.structs.fields(CsvColumns))
_CANONICAL_NAMES = frozenset(
    str(ref).casefold() for ref in msgspec.structs.astuple(CANONICAL_COLUMNS) if ref is not None
)
_REQUIRED_CANONICAL = ("sn", "step_name")
_COLUMN_CACHE = 64  # header layouts remembered per set of arguments


class CsvConverter(Converter[CsvArguments]):
    """Delimited text (CSV, TSV, semicolon...) with one row per measurement, mapped by its
    arguments (``docs/converters.md`` shows mappings)."""

    name: ClassVar[str] = "csv"
    version: ClassVar[str] = "1.0"
    api_version: ClassVar[int] = API_VERSION
    patterns: ClassVar[tuple[str, ...]] = ("*.csv", "*.tsv", "*.txt")
    Arguments: ClassVar[type[msgspec.Struct]] = CsvArguments

    # What depends only on the arguments, kept for the arguments object it was made for (a
    # worker passes the same one for every file).
    _prepared: _Prepared | None = None
    # The preset arguments last made: (preset, the arguments given, the result); see _recognised.
    _preset_made: tuple[str, CsvArguments, CsvArguments] | None = None

    def detect(self, head: bytes, name: str) -> float:
        """0.8 for a header of the canonical long format (``SerialNumber`` and ``StepName``),
        0.6 for three or more canonical column names, and at most 0.25 for other delimited text:
        a custom layout needs its mapping, so it is picked by name, not detected."""
        text = head.decode("utf-8", "replace").lstrip("\ufeff")
        lines = [line for line in text.splitlines() if line.strip()][:3]
        if not lines:
            return 0.0
        delimiter = guess_delimiter(lines[0])
        if delimiter is None:
            return 0.0
        if _is_canonical(lines[0], delimiter):
            return 0.8
        if recognise_preset(lines, delimiter) is not None:
            return 0.9  # the header of a shipped mapping (a SoundCheck export)
        if len(_cells(lines[0], delimiter) & _CANONICAL_NAMES) >= 3:
            return 0.6
        consistent = len(lines) > 1 and all(
            line.count(delimiter) == lines[0].count(delimiter) for line in lines[1:]
        )
        score = 0.2 if consistent else 0.1
        if name.lower().endswith((".csv", ".tsv")):
            score += 0.05
        return score

    def convert(self, data: bytes, name: str, args: CsvArguments) -> Sequence[ConverterOutput]:
        """One UUT report per group of rows (``group_by``), in order of appearance: the reports
        :meth:`convert_iter` yields, in a list.

        Raises:
            FileRejected: undecodable text, a missing column, a value that does not parse, or
                no data rows; ``where`` names the line.
        """
        return list(self.convert_iter(data, name, args))

    def convert_iter(self, data: bytes, name: str, args: CsvArguments) -> Iterator[UUTReport]:
        """The reports of :meth:`convert`, yielded one at a time as each is complete.

        A large file is read twice, a row at a time, and never held as text: the first pass
        checks the layout and notes where each group's last row is; the second builds each
        report as soon as its last row is read (and every report before it is out). Only the
        rows of unfinished groups are held, so a file whose groups are contiguous, the usual
        export, costs the memory of one report however large the file is. A small file (at
        most 256 KiB) is decoded whole and parsed once, its rows kept for the
        building.

        Raises (on the first ``next()``, before any report, except for a bad cell):
            FileRejected: as :meth:`convert`; every report before the group with a bad cell
                has been yielded by then.
        """
        args = self._recognised(data, args)
        text = Text(data, args.encoding)
        delimiter = find_delimiter(text, args)
        prepared = self._prepare(args)
        survey = _survey(text, args, delimiter, prepared)
        factory = prepared.factory
        if factory is None:
            factory = prepared.factory = ReportFactory(args)
        fields = tuple(survey.layout.columns.items())
        header_fields = tuple((f, i) for f, i in fields if f in HEADER_FIELDS)
        group_by = args.group_by
        last_of = survey.last_row
        order = iter(last_of)
        turn = next(order, None)  # the group whose report comes next
        open_groups: dict[tuple[str, ...], list[Record]] = {}
        complete: set[tuple[str, ...]] = set()
        rows = survey.rows if survey.rows is not None else _Table(text, args, delimiter).rows()
        for ordinal, (line, cells, curve) in enumerate(rows):
            width = len(cells)
            mapped = {
                f: cells[i].strip() if i < width else ""
                for f, i in (fields if curve is None else header_fields)
            }
            record = Record(line, mapped, curve)
            key = tuple(record.get(f) for f in group_by)
            group = open_groups.get(key)
            if group is None:
                open_groups[key] = [record]
            else:
                group.append(record)
            if last_of[key] == ordinal:
                complete.add(key)
                while turn is not None and turn in complete:
                    complete.discard(turn)
                    yield factory.build(open_groups.pop(turn), name)
                    turn = next(order, None)

    def _recognised(self, data: bytes, args: CsvArguments) -> CsvArguments:
        """``args``, or, when they name no layout (no ``mapping``, no ``columns``) and the file
        is not in the canonical format but in a shipped mapping's (the preset its header and
        first rows match), that preset with the explicitly given arguments on top. So an
        ``auto`` folder converts a SoundCheck export as ``mapping = "soundcheck-us"`` would."""
        if args.mapping is not None or args.columns is not None:
            return args
        end = -1
        for _ in range(_SNIFFED_LINES + 1):  # decode only the lines looked at, not the head
            found = data.find(b"\n", end + 1, _HEAD)
            if found < 0:
                break
            end = found
        head = data[: end if end >= 0 else _HEAD].decode(args.encoding, "replace")
        lines = [line for line in head.lstrip("\ufeff").splitlines() if line.strip()]
        lines = lines[:_SNIFFED_LINES] if end >= 0 else lines[:-1][:_SNIFFED_LINES]
        delimiter = args.delimiter or (guess_delimiter(lines[0]) if lines else None)
        if delimiter is None:
            return args
        if _is_canonical(lines[0], delimiter):
            return args
        name = recognise_preset(lines, delimiter)
        if name is None:
            return args
        made = self._preset_made
        if made is None or made[0] != name or made[1] is not args:
            explicit = msgspec.to_builtins(_explicit(args, CsvArguments()))
            made = self._preset_made = (name, args, CsvArguments.from_mapping(name, **explicit))
        return made[2]

    def _prepare(self, args: CsvArguments) -> _Prepared:
        prepared = self._prepared
        if prepared is None or prepared.args is not args:
            prepared = self._prepared = _Prepared(args)
        return prepared


def _cells(line: str, delimiter: str) -> set[str]:
    """A header line's cells, stripped of spaces and quotes, casefolded."""
    return {cell.strip().strip('"').casefold() for cell in line.split(delimiter)}


def _is_canonical(line: str, delimiter: str) -> bool:
    """Whether ``line`` is a header of the canonical long format."""
    return {"serialnumber", "stepname"} <= _cells(line, delimiter)


_HEAD = 64 * 1024  # bytes read to recognise a shipped mapping's layout
_SNIFFED_LINES = 20


def _explicit(given: msgspec.Struct, default: msgspec.Struct) -> dict[str, object]:
    """The fields of ``given`` that differ from ``default`` (nested Structs field by field), so
    a preset's own values stay where the arguments only repeat a default."""
    changed: dict[str, object] = {}
    for field in given.__struct_fields__:
        value, base = getattr(given, field), getattr(default, field)
        if isinstance(value, msgspec.Struct) and isinstance(base, msgspec.Struct):
            inner = _explicit(value, base)
            if inner:
                changed[field] = inner
        elif value != base:
            changed[field] = value
    return changed


@dataclass(eq=False, slots=True)
class _Prepared:
    """What depends only on one arguments object: the column map of each header layout seen
    (at most ``_COLUMN_CACHE``), and the report factory."""

    args: CsvArguments
    layouts: dict[tuple[str, ...] | None, _Layout] = dataclasses.field(default_factory=dict)
    factory: ReportFactory | None = None

    def columns(self, header: list[str] | None) -> _Layout:
        """The column map of a file with this header (see :func:`_resolve_columns`)."""
        key = None if header is None else tuple(header)
        found = self.layouts.get(key)
        if found is None:
            found = _resolve_columns(header, self.args)
            if len(self.layouts) >= _COLUMN_CACHE:
                self.layouts.clear()
            self.layouts[key] = found
        return found


_Row = tuple[int, list[str], Curve | None]
"""A data row: its first line, its cells, and the curve when it is a curve's y row."""


class _Table:
    """One pass over the rows of a file: ``header`` once it has been read, and the data rows.

    Data rows are what is left after skipped lines, blank rows, comments, repeated header rows
    and rows wider than the header (curve blocks in instrument exports, unless ``curves`` says
    how to read them: then each x/y pair is one data row carrying its curve)."""

    def __init__(self, text: Text, args: CsvArguments, delimiter: str) -> None:
        self._text = text
        self._args = args
        self._delimiter = delimiter
        self.header: list[str] | None = None

    def rows(self) -> Iterator[_Row]:
        """The data rows with their 1-based line numbers.

        Raises:
            FileRejected: malformed delimited text, a row wider than the header when
                ``mismatched_rows = "reject"``, or a broken curve block.
        """
        args = self._args
        reader = csv.reader(self._text.lines(), delimiter=self._delimiter)
        header: list[str] | None = None
        header_key = ""
        line_no = 0
        skip_lines = args.skip_lines
        comments = args.comment_prefix is not None
        skip_repeated = args.repeated_headers
        curves = None if args.curves is None else CurveReader(args.curves, args)
        keep = args.keep_rows
        try:
            for cells in reader:
                start_line, line_no = line_no + 1, reader.line_num
                if start_line <= skip_lines or not any(map(str.strip, cells)):
                    continue
                if comments and is_comment(cells[0], args):
                    continue
                curve_header = curves is not None and curves.is_header(cells)
                if curve_header and curves is not None:
                    curves.start(start_line, cells)
                if header is None and args.header:
                    header = self.header = [c.strip() for c in cells]
                    header_key = header[0].casefold()
                    continue
                if curve_header:
                    continue
                if (
                    header is not None
                    and skip_repeated
                    and cells[0].strip().casefold() == header_key
                ):
                    if curves is not None:
                        curves.end()
                    continue
                if keep is not None and not _kept(cells, keep):
                    continue
                if curves is not None:
                    taken = curves.take(start_line, cells)
                    if isinstance(taken, Curve):
                        yield start_line, cells, taken
                    if taken is not False:
                        continue
                width = len(cells)
                while width and not cells[width - 1].strip():
                    width -= 1
                if header is not None and width > len(header):
                    if args.mismatched_rows == "reject":
                        raise FileRejected(
                            f"the row has {width} cells but the header has {len(header)}",
                            where=f"line {start_line}",
                        )
                    continue
                yield start_line, cells, None
            if curves is not None:
                curves.end()
        except csv.Error as exc:
            raise FileRejected(
                f"malformed delimited text: {exc}", where=f"line {line_no}"
            ) from None


@dataclass(frozen=True, slots=True)
class _Layout:
    """The column map of one header: field name -> column index, and, when a step field's
    column is missing, the error to raise at the first measurement row (a curve row needs
    only the header fields)."""

    columns: dict[str, int]
    missing_step_column: FileRejected | None = None


@dataclass(eq=False, slots=True)
class _Survey:
    """What the first pass found: the column map, each group's key with the ordinal of its
    last data row (in order of the groups' first rows), and the rows themselves when the file
    is small (then there is no second pass)."""

    layout: _Layout
    last_row: dict[tuple[str, ...], int]
    rows: list[_Row] | None


def _survey(text: Text, args: CsvArguments, delimiter: str, prepared: _Prepared) -> _Survey:
    """The first pass: check the whole table and find where each group ends.

    Problems are raised in the order a reader meets them: the table's own (bad quoting, a row
    too wide) before a column missing from the header, and both before "no data rows".
    """
    table = _Table(text, args, delimiter)
    kept: list[_Row] | None = [] if text.whole is not None else None
    layout: _Layout | None = None
    missing: FileRejected | None = None
    indexes: tuple[int | None, ...] = ()
    last_row: dict[tuple[str, ...], int] = {}
    for ordinal, row in enumerate(table.rows()):
        if kept is not None:
            kept.append(row)
        cells = row[1]
        if layout is None:
            if missing is not None:
                continue
            try:
                layout = prepared.columns(table.header)
            except FileRejected as exc:
                missing = exc
                continue
            indexes = tuple(layout.columns.get(field) for field in args.group_by)
        if row[2] is None and layout.missing_step_column is not None:
            missing = layout.missing_step_column
            layout = None
            continue
        width = len(cells)
        key = tuple(cells[i].strip() if i is not None and i < width else "" for i in indexes)
        last_row[key] = ordinal
    if missing is not None:
        raise missing
    if layout is None:
        layout = prepared.columns(table.header)
        if layout.missing_step_column is not None:
            raise layout.missing_step_column
    if not last_row:
        raise FileRejected("the file has no data rows that fit the header")
    return _Survey(layout, last_row, kept)


def _kept(cells: list[str], keep: CsvKeepRows) -> bool:
    column = keep.column
    if column >= len(cells):
        return False
    cell = cells[column].strip().casefold()
    return any(cell == value.strip().casefold() for value in keep.values)


def _resolve_columns(header: list[str] | None, args: CsvArguments) -> _Layout:
    """Field name -> column index, for the fields the file has.

    Raises:
        FileRejected: a configured header field's column is missing from the header (unless
            it is in ``optional_columns``), or the canonical format's required columns are.
            A missing step field's column is not raised but kept in the layout.
    """
    canonical = args.columns is None
    columns = CANONICAL_COLUMNS if args.columns is None else args.columns
    optional = frozenset(args.optional_columns)
    by_name = {name.casefold(): index for index, name in reversed(list(enumerate(header or [])))}
    found: dict[str, int] = {}
    missing_step: FileRejected | None = None
    for field in _FIELDS:
        ref: Column | None = getattr(columns, field)
        if ref is None:
            continue
        if isinstance(ref, int):
            if header is not None and ref >= len(header):
                raise FileRejected(
                    f"columns.{field} is column {ref} but the header has {len(header)} columns"
                )
            found[field] = ref
            continue
        index = by_name.get(ref.strip().casefold())
        if index is None:
            if (canonical and field not in _REQUIRED_CANONICAL) or field in optional:
                continue
            what = "the canonical format's" if canonical else f"columns.{field}:"
            listed = ", ".join(repr(h) for h in header or [])
            problem = FileRejected(f"{what} column {ref!r} is not in the header ({listed})")
            if field in HEADER_FIELDS:
                raise problem
            missing_step = missing_step or problem
            continue
        found[field] = index
    return _Layout(found, missing_step)
