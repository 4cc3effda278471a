"""The CSV/TSV converter: delimited text mapped to UUT reports by its arguments.

Reading: decode with the configured encoding, guess the delimiter from the header line when it is
not given, parse with the standard ``csv`` module (quotes, embedded delimiters), skip blank and
comment lines, repeated header rows, and rows wider than the header (curve blocks in instrument
exports), then map each remaining row to named fields through the column map. Rows are grouped
into reports by ``group_by``; building the reports is ``_csv_build``'s job.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import msgspec

from pywats_actors.report import UUTReport

from ._csv_args import CANONICAL_COLUMNS, Column, CsvArguments, CsvColumns
from ._csv_build import Record, ReportFactory
from ._errors import FileRejected
from ._sdk import API_VERSION, Converter, ConverterOutput

__all__ = ["CsvConverter"]

_DELIMITERS = ("\t", ";", ",", "|")
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

    def detect(self, head: bytes, name: str) -> float:
        """0.8 for a header of the canonical long format (``SerialNumber`` and ``StepName``),
        0.6 for three or more canonical column names, and at most 0.25 for other delimited text:
        a custom layout needs its mapping, so it is picked by name, not detected."""
        text = head.decode("utf-8", "replace").lstrip("\ufeff")
        lines = [line for line in text.splitlines() if line.strip()][:3]
        if not lines:
            return 0.0
        delimiter = _guess_delimiter(lines[0])
        if delimiter is None:
            return 0.0
        cells = {cell.strip().strip('"').casefold() for cell in lines[0].split(delimiter)}
        if {"serialnumber", "stepname"} <= cells:
            return 0.8
        if len(cells & _CANONICAL_NAMES) >= 3:
            return 0.6
        consistent = len(lines) > 1 and all(
            line.count(delimiter) == lines[0].count(delimiter) for line in lines[1:]
        )
        score = 0.2 if consistent else 0.1
        if name.lower().endswith((".csv", ".tsv")):
            score += 0.05
        return score

    def convert(self, data: bytes, name: str, args: CsvArguments) -> Sequence[ConverterOutput]:
        """One UUT report per group of rows (``group_by``), in order of appearance.

        Raises:
            FileRejected: undecodable text, a missing column, a value that does not parse, or
                no data rows; ``where`` names the line.
        """
        try:
            text = data.decode(args.encoding)
        except UnicodeDecodeError as exc:
            raise FileRejected(
                f"the file is not {args.encoding} text: {exc.reason}", where=f"byte {exc.start}"
            ) from None
        except LookupError:
            raise FileRejected(f"unknown encoding {args.encoding!r} (argument encoding)") from None
        header, rows = _read_table(text, args)
        prepared = self._prepare(args)
        layouts = prepared.layouts
        key_of_header = None if header is None else tuple(header)
        columns = layouts.get(key_of_header)
        if columns is None:
            columns = _resolve_columns(header, args)
            if len(layouts) >= _COLUMN_CACHE:
                layouts.clear()
            layouts[key_of_header] = columns
        fields = tuple(columns.items())
        group_by = args.group_by
        groups: dict[tuple[str, ...], list[Record]] = {}
        for line, cells in rows:
            width = len(cells)
            record = Record(line, {f: cells[i].strip() if i < width else "" for f, i in fields})
            key = tuple(record.get(f) for f in group_by)
            group = groups.get(key)
            if group is None:
                groups[key] = [record]
            else:
                group.append(record)
        if not groups:
            raise FileRejected("the file has no data rows that fit the header")
        factory = prepared.factory
        if factory is None:
            factory = prepared.factory = ReportFactory(args)
        reports: list[UUTReport] = [factory.build(records) for records in groups.values()]
        return reports

    def _prepare(self, args: CsvArguments) -> _Prepared:
        prepared = self._prepared
        if prepared is None or prepared.args is not args:
            prepared = self._prepared = _Prepared(args)
        return prepared


@dataclass(eq=False, slots=True)
class _Prepared:
    """What depends only on one arguments object: the column map of each header layout seen
    (at most ``_COLUMN_CACHE``), and the report factory."""

    args: CsvArguments
    layouts: dict[tuple[str, ...] | None, dict[str, int]] = dataclasses.field(default_factory=dict)
    factory: ReportFactory | None = None


def _guess_delimiter(line: str) -> str | None:
    counts = {d: line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])  # ties: the earlier in _DELIMITERS
    return best if counts[best] else None


def _read_table(
    text: str, args: CsvArguments
) -> tuple[list[str] | None, list[tuple[int, list[str]]]]:
    """The header (when there is one) and the data rows with their 1-based line numbers."""
    lines = text.splitlines()
    first = next(
        (line for line in lines[args.skip_lines :] if line.strip() and not _is_comment(line, args)),
        None,
    )
    if first is None:
        raise FileRejected("the file is empty")
    delimiter = args.delimiter or _guess_delimiter(first)
    if delimiter is None:
        raise FileRejected(
            "cannot tell the delimiter from the first line; set the delimiter argument",
            where=f"line {args.skip_lines + 1}",
        )
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    header_key = ""
    rows: list[tuple[int, list[str]]] = []
    line_no = 0
    skip_lines = args.skip_lines
    comments = args.comment_prefix is not None
    skip_repeated = args.repeated_headers
    try:
        for cells in reader:
            start_line, line_no = line_no + 1, reader.line_num
            if start_line <= skip_lines or not any(map(str.strip, cells)):
                continue
            if comments and _is_comment(cells[0], args):
                continue
            if header is None:
                if args.header:
                    header = [c.strip() for c in cells]
                    header_key = header[0].casefold()
                    continue
            elif skip_repeated and cells[0].strip().casefold() == header_key:
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
            rows.append((start_line, cells))
    except csv.Error as exc:
        raise FileRejected(f"malformed delimited text: {exc}", where=f"line {line_no}") from None
    return header, rows


def _is_comment(text: str, args: CsvArguments) -> bool:
    return args.comment_prefix is not None and text.lstrip().startswith(args.comment_prefix)


def _resolve_columns(header: list[str] | None, args: CsvArguments) -> dict[str, int]:
    """Field name -> column index, for the fields the file has.

    Raises:
        FileRejected: a configured column is missing from the header, or the canonical format's
            required columns are.
    """
    canonical = args.columns is None
    columns = CANONICAL_COLUMNS if args.columns is None else args.columns
    by_name = {name.casefold(): index for index, name in reversed(list(enumerate(header or [])))}
    found: dict[str, int] = {}
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
            if canonical and field not in _REQUIRED_CANONICAL:
                continue
            what = "the canonical format's" if canonical else f"columns.{field}:"
            listed = ", ".join(repr(h) for h in header or [])
            raise FileRejected(f"{what} column {ref!r} is not in the header ({listed})")
        found[field] = index
    return found
