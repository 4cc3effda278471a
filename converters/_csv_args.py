"""The arguments of the CSV/TSV converter: a mapping from columns to report fields.

Every Struct here forbids unknown keys, so a typo in a mapping is an error that names the field.
A column is given by its header text (compared without surrounding spaces, case-insensitively) or
by its 0-based index.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeAlias

import msgspec

from ._csv_presets import expand_preset, preset_names
from ._timezone import check_timezone

__all__ = [
    "CANONICAL_COLUMNS",
    "HEADER_FIELDS",
    "Column",
    "CsvArguments",
    "CsvColumns",
    "CsvCurves",
    "CsvDefaults",
    "CsvKeepRows",
    "FieldName",
    "GroupField",
    "StatusVocabulary",
]

Column: TypeAlias = str | Annotated[int, msgspec.Meta(ge=0)]
Index: TypeAlias = Annotated[int, msgspec.Meta(ge=0)]
GroupField: TypeAlias = Literal["sn", "pn", "rev", "start", "operator", "station", "process_code"]
FieldName: TypeAlias = Literal[
    "sn",
    "pn",
    "rev",
    "start",
    "operator",
    "station",
    "process_code",
    "sequence",
    "step_name",
    "step_type",
    "value",
    "low",
    "high",
    "limits",
    "unit",
    "comp_op",
    "status",
    "comment",
]
HEADER_FIELDS: frozenset[str] = frozenset(
    ("sn", "pn", "rev", "start", "operator", "station", "process_code")
)
"""The fields every row needs (they identify and describe the report); the others are step
fields, needed only by measurement rows (not by curve rows)."""


class CsvColumns(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which column holds which field; ``None`` means the file has no such column.

    Header fields (taken from the first row of each report): ``sn``, ``pn``, ``rev``, ``start``,
    ``operator``, ``station``, ``process_code``. Step fields (one step per row): ``sequence``
    (rows with the same value become steps of one sequence), ``step_name``, ``step_type``,
    ``value``, ``low``, ``high``, ``limits`` (both limits in one text, e.g. ``100.0/90.0``),
    ``unit``, ``comp_op``, ``status``, ``comment`` (free text kept as the step's report text,
    e.g. a tolerance description).
    """

    sn: Column | None = None
    pn: Column | None = None
    rev: Column | None = None
    start: Column | None = None
    operator: Column | None = None
    station: Column | None = None
    process_code: Column | None = None
    sequence: Column | None = None
    step_name: Column | None = None
    step_type: Column | None = None
    value: Column | None = None
    low: Column | None = None
    high: Column | None = None
    limits: Column | None = None
    unit: Column | None = None
    comp_op: Column | None = None
    status: Column | None = None
    comment: Column | None = None


CANONICAL_COLUMNS = CsvColumns(
    sn="SerialNumber",
    pn="PartNumber",
    rev="Revision",
    start="TestDate",
    operator="Operator",
    station="Station",
    process_code="OperationType",
    sequence="Sequence",
    step_name="StepName",
    step_type="StepType",
    value="Value",
    low="LowLimit",
    high="HighLimit",
    unit="Unit",
    comp_op="CompOp",
    status="Result",
)
"""The canonical long format (one row per measurement), used when no ``columns`` are given; in it,
only ``SerialNumber`` and ``StepName`` must be present."""


class StatusVocabulary(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The words a status column uses (compared case-insensitively, without spaces)."""

    passed: tuple[str, ...] = ("PASS", "PASSED", "P", "OK", "GOOD", "1", "TRUE", "YES")
    failed: tuple[str, ...] = ("FAIL", "FAILED", "F", "NOK", "NG", "BAD", "0", "FALSE", "NO")
    skipped: tuple[str, ...] = ("SKIP", "SKIPPED", "S", "NA", "N/A")
    error: tuple[str, ...] = ("ERROR", "E", "ERR")


class CsvCurves(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Curve blocks between the measurement rows: a curve header row, then pairs of rows, the
    x values and then the y values, each pair one chart step (``WATS_XYGMNLT``).

    A row is a curve header when its cell in ``marker_column`` starts with ``marker``
    (case-insensitively); the header may be the file's first row. The rows after it whose cells
    from ``values_from`` on are all numbers (in the file's locale; empty cells at the end are
    ignored) are its data rows, in x/y pairs; the first other row ends the block. A header names
    every pair after it until the next header. The x and y rows of a pair must agree on the
    cells before ``values_from`` (the unit and time columns), and those cells give the pair's
    report, as for any row.

    Attributes:
        marker_column, marker: what makes a row a curve header.
        name: the column of the curve's name in the header row.
        x_unit, y_unit: the columns of the axis units in the header row.
        x_scale, y_scale: the columns that say an axis is logarithmic (a cell ending in
            ``log``, as in ``x axis log``); the chart type follows (``LineLogX``...).
        values_from: the first value column of a data row.
    """

    marker_column: Index
    marker: Annotated[str, msgspec.Meta(min_length=1)]
    name: Index
    x_unit: Index | None = None
    y_unit: Index | None = None
    x_scale: Index | None = None
    y_scale: Index | None = None
    values_from: Index


class CsvKeepRows(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Only data rows whose cell in ``column`` is one of ``values`` (compared without spaces,
    case-insensitively) are measurements; the others are ignored (record-typed logs such as
    SPEA's, where ``ANL`` rows are measurements among ``START``, ``LOT`` and other records)."""

    column: Index
    values: Annotated[tuple[str, ...], msgspec.Meta(min_length=1)]


class CsvDefaults(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Header values for what the file does not say (or leaves empty).

    Attributes:
        part_number: ``pn`` when there is no part-number column.
        revision: ``rev`` (WATS needs one).
        process_code: the test operation code (WATS's default test operation is 10).
        process_name: its name (the server fills it in when absent).
        operator: the operator.
        station: ``machineName`` (default: this computer's host name).
        location, purpose: the station's location and purpose.
        sequence_name, sequence_version: the root sequence.
    """

    part_number: str | None = None
    revision: str = "1"
    process_code: int = 10
    process_name: str | None = None
    operator: str | None = None
    station: str | None = None
    location: str = "Unknown"
    purpose: str = "Production"
    sequence_name: str = "MainSequence Callback"
    sequence_version: str | None = None


class CsvArguments(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How to read a delimited text file and map its rows to UUT reports.

    Attributes:
        delimiter: the field separator; ``None`` guesses it from the header line (tab, ``;``,
            ``,`` or ``|``).
        encoding: the text encoding (``utf-8-sig`` accepts a byte order mark; ``cp1252`` is
            common on Windows stations).
        decimal_separator: ``.`` or ``,`` (European locales).
        thousands_separator: removed from numbers when given.
        mapping: the shipped mapping (preset) these arguments start from: ``canonical``,
            ``soundcheck-us``, ``soundcheck-eu`` (``converters/csv_mappings/NAME.toml``); the
            other arguments given override its values, tables (``columns``, ``defaults``...)
            key by key. Applied by ``validate_arguments`` (the node and the workers use it) and
            :meth:`from_mapping`; ``CsvArguments(mapping=...)`` itself only records the name.
        date_format: a ``strptime`` format for the start column, or several tried in order;
            ``None`` reads ISO 8601.
        timezone: the IANA time zone of times without an offset (``Europe/Oslo``); ``None`` means
            the station's local time zone.
        header: the file has a header row (columns can then be named); otherwise columns are
            given by index.
        skip_lines: lines to ignore before the header (or the data).
        repeated_headers: rows whose first cell equals the header's first cell are headers
            repeated through the file, and are skipped.
        mismatched_rows: what to do with a row that has more (non-empty) cells than the header,
            such as a curve block in an instrument export: ``skip`` it or ``reject`` the file.
        comment_prefix: lines starting with it are ignored.
        columns: the column map; ``None`` uses the canonical long format.
        keep_rows: keep only the rows with one of these record types (``None``: every row).
        serial_from_name: a regular expression searched in the file's name; its first group
            (or the whole match) is the serial number of rows without one (logs that keep it
            only in the name, ``testdata_SN9871234012.csv`` with ``SN(\\w+)``).
        optional_columns: mapped fields whose column may be missing from a file's header (the
            field is then empty); any other mapped column missing is an error (a step field's
            only when the file has a measurement row: a file of curves needs none).
        curves: how to read curve blocks (``None``: there are none; rows wider than the header
            are then handled by ``mismatched_rows``).
        limits_separator, limits_order: how to split a ``limits`` column (``100.0/90.0`` is
            ``high/low``).
        status: the status vocabulary.
        group_by: the header fields whose values, together, identify one report: rows with the
            same values (anywhere in the file) form one UUT report, in order of appearance.
        defaults: header values the file does not give.
    """

    mapping: str | None = None
    delimiter: str | None = None
    encoding: str = "utf-8-sig"
    decimal_separator: Literal[".", ","] = "."
    thousands_separator: str | None = None
    date_format: str | tuple[str, ...] | None = None
    timezone: str | None = None
    header: bool = True
    skip_lines: Annotated[int, msgspec.Meta(ge=0)] = 0
    repeated_headers: bool = True
    mismatched_rows: Literal["skip", "reject"] = "skip"
    comment_prefix: str | None = None
    columns: CsvColumns | None = None
    optional_columns: tuple[FieldName, ...] = ()
    keep_rows: CsvKeepRows | None = None
    serial_from_name: str | None = None
    curves: CsvCurves | None = None
    limits_separator: str = "/"
    limits_order: Literal["low/high", "high/low"] = "low/high"
    status: StatusVocabulary = StatusVocabulary()
    group_by: tuple[GroupField, ...] = ("sn", "start")
    defaults: CsvDefaults = CsvDefaults()

    @classmethod
    def expand_arguments(cls, raw: Mapping[str, Any]) -> dict[str, Any]:
        """The configured arguments with the preset that ``mapping`` names filled in (the hook
        ``validate_arguments`` calls before decoding).

        Raises:
            ValueError: an unknown preset name.
        """
        return expand_preset(raw)

    @classmethod
    def from_mapping(cls, mapping: str, **overrides: Any) -> CsvArguments:
        """The arguments of a shipped mapping with ``overrides`` on top, as a configuration's
        ``mapping = "NAME"`` gives them (for Python callers).

        Raises:
            ValueError: an unknown mapping name.
            msgspec.ValidationError: an override of the wrong type or an unknown field.
        """
        return msgspec.convert(expand_preset({**overrides, "mapping": mapping}), cls)

    def __post_init__(self) -> None:
        check_timezone(self.timezone)
        if self.mapping is not None and self.mapping not in preset_names():
            known = ", ".join(preset_names())
            raise ValueError(f"unknown mapping {self.mapping!r}; the shipped mappings are {known}")
        if isinstance(self.date_format, tuple) and not self.date_format:
            raise ValueError("date_format needs at least one format (or leave it out)")
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise ValueError("delimiter must be one character (or left out to guess it)")
        if not self.group_by:
            raise ValueError("group_by needs at least one field")
        if self.columns is not None and self.columns.step_name is None:
            raise ValueError("columns.step_name is required: every row is a step")
        if self.columns is not None and self.columns.sn is None and not self.serial_from_name:
            raise ValueError(
                "columns.sn (or serial_from_name) is required: every report needs a serial number"
            )
        if self.serial_from_name is not None:
            try:
                re.compile(self.serial_from_name)
            except re.error as exc:
                raise ValueError(f"serial_from_name is not a regular expression: {exc}") from None
        if not self.header:
            named = self.columns is None or any(
                isinstance(ref, str) for ref in msgspec.structs.astuple(self.columns)
            )
            if named:
                raise ValueError("without a header row, give every column by its index")
