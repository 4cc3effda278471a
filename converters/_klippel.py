"""The Klippel QC converter: one DUT's header file and folder of results make one UUT report.

Klippel QC (audio end-of-line test) logs each DUT as a header file ``DUT <serial> <date> <time>
UTC+hhmm.txt`` of ``Key=Value`` lines (``Cfg_...``, ``Ctrl_...``, ``Results_...``) with ``//``
comment lines, beside a folder of the same name holding tab-separated tables per measurement:
``<measurement>-values.txt`` (``name value max min``: single values with their limits) and
``<measurement>-<result>.txt`` curves (``frq <result> [max [min]]``: a value and its limit curves
per frequency); ``-`` marks a missing value. It is a folder converter (``kind = "folder"``): the
watch folder takes each DUT as a unit (``unit = "folder"``, ``unit_sibling = "required"``).

The mapping: every measurement a sequence; every row of a values table a numeric step (``GELE``
between min and max; a missing value a pass/fail step from the header's ``Results_Pass`` /
``Results_Fail`` lists, else a skipped action); every curve a chart step (``WATS_XYGMNLT``) with
the curve and its limit curves as series, and, when it has limit curves, a numeric measurement
"points outside limits" that must be 0. The header's ``Ctrl_OverallVerdict`` is the report's
result. Files of the folder that are not such tables are listed in a misc info, not converted.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import ClassVar

import msgspec

from pywats_actors.report import (
    Chart,
    ChartType,
    ReportBuilder,
    ReportInvalid,
    ReportResult,
    SequenceBuilder,
    StepStatus,
    UUTReport,
    chart_series,
    numeric_measurement,
)

from ._errors import FileRejected
from ._ict_verdict import with_verdict
from ._junit_steps import cut
from ._sdk import API_VERSION, Converter, ConverterOutput
from ._timezone import check_timezone, localize

__all__ = ["KlippelArguments", "KlippelConverter"]

_KEY_LINE = re.compile(rb"^(?:Cfg|Ctrl|Results)_[A-Za-z0-9]+=", re.MULTILINE)
_SIGNATURE_KEYS = (b"Cfg_SerialNumber=", b"Ctrl_OverallVerdict=", b"Cfg_DutStartTime=")
_NAME_RE = re.compile(
    r"^DUT (?P<sn>.+?) (?P<date>\d{4}-\d{2}-\d{2}) (?P<time>\d{1,2}-\d{2}-\d{2})(?:-(?P<frac>\d+))?"
    r"(?: UTC(?P<sign>[+-])(?P<oh>\d{2}):?(?P<om>\d{2}))?$"
)
_VERDICTS = {
    "1": ReportResult.PASSED,
    "2": ReportResult.PASSED,  # warning: passed with a remark
    "0": ReportResult.FAILED,
    "-1": ReportResult.ERROR,  # void, no result
    "3": ReportResult.ERROR,  # noise
    "4": ReportResult.ERROR,  # invalid
}
_VERDICT_WORDS = {
    "1": "pass",
    "2": "warning",
    "0": "fail",
    "-1": "void",
    "3": "noise",
    "4": "invalid",
}
_MISSING = frozenset({"", "-", "nan", "NaN", "inf", "-inf"})
_MAX_IGNORED = 20


class KlippelArguments(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a Klippel QC DUT maps to a UUT report.

    Attributes:
        serial_number: the serial number; otherwise ``Cfg_SerialNumber``, otherwise the serial
            in the unit's name (``DUT <serial> ...``).
        part_number: the part number; otherwise the name of the Klippel database
            (``Cfg_DatabasePath`` without folder and extension), otherwise ``klippel``.
        revision: the revision.
        process_code: the test operation.
        station: the machine name when ``Cfg_PCName`` is empty.
        location: the report's location.
        purpose: the report's purpose.
        operator: the operator; otherwise ``Cfg_UserName``.
        sequence_name: the root sequence's name.
        timezone: the IANA time zone of the start time when the unit's name carries no
            ``UTC+hhmm`` offset; ``None`` means the station's.
    """

    serial_number: str | None = None
    part_number: str | None = None
    revision: str = "1"
    process_code: int = 10
    station: str = "klippel"
    location: str = "Unknown"
    purpose: str = "Production"
    operator: str | None = None
    sequence_name: str = "Klippel QC"
    timezone: str | None = None

    def __post_init__(self) -> None:
        """Check the time zone.

        Raises:
            ValueError: ``timezone`` is not an IANA time zone.
        """
        check_timezone(self.timezone)


class KlippelConverter(Converter[KlippelArguments]):
    """Klippel QC logs (a header file plus a folder of tables per DUT) as UUT reports."""

    name: ClassVar[str] = "klippel"
    version: ClassVar[str] = "1.0"
    api_version: ClassVar[int] = API_VERSION
    kind: ClassVar[str] = "folder"
    patterns: ClassVar[tuple[str, ...]] = ("DUT *",)
    Arguments: ClassVar[type[msgspec.Struct]] = KlippelArguments

    def detect(self, head: bytes, name: str) -> float:
        """A Klippel header (or a packed unit holding one): ``Cfg_``/``Ctrl_``/``Results_``
        key lines, among them the serial number, verdict or start time."""
        keys = len(_KEY_LINE.findall(head))
        signature = sum(key in head for key in _SIGNATURE_KEYS)
        if keys >= 3 and signature >= 2:
            return 0.95
        if keys >= 2 and signature >= 1:
            return 0.4
        return 0.0

    def convert_folder(
        self, files: Mapping[str, bytes], name: str, args: KlippelArguments
    ) -> Sequence[ConverterOutput]:
        """One UUT report from a DUT's header file and folder of tables.

        Raises:
            FileRejected: no header, a header line that is not ``Key=Value``, a table row that
                does not parse (naming the file and line), or no start time.
        """
        header_path = _header_path(files, name)
        header = _parse_header(files[header_path], header_path)
        tables = {p: data for p, data in files.items() if p != header_path}
        return [_build(header, tables, name, args)]


def _header_path(files: Mapping[str, bytes], name: str) -> str:
    """The header file: ``<name>.txt`` beside the folder, else a sibling or file of the unit
    that holds ``Cfg_`` keys."""
    if f"{name}.txt" in files:
        return f"{name}.txt"
    for path in sorted(files, key=lambda p: ("/" in p, p)):
        if _KEY_LINE.search(files[path][:65536]):
            return path
    raise FileRejected(f"no Klippel header file ({name}.txt with Cfg_... lines) in the unit")


def _text(data: bytes) -> str:
    return data.decode("cp1252", errors="replace").lstrip("\ufeff")


def _parse_header(data: bytes, path: str) -> dict[str, str]:
    """The header's keys and values, in file order.

    Raises:
        FileRejected: a line that is neither blank, a ``//`` comment nor ``Key=Value``.
    """
    values: dict[str, str] = {}
    for number, raw in enumerate(_text(data).splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("//"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key or not re.fullmatch(r"[A-Za-z0-9_.]+", key):
            raise FileRejected(
                f"expected Key=Value or a // comment, got {cut(line, 60)!r}",
                where=f"{path} line {number}",
            )
        values[key] = value.strip()
    if not values:
        raise FileRejected("the header file holds no Key=Value line", where=path)
    return values


class _Table(msgspec.Struct, frozen=True):
    path: str
    measurement: str
    result: str
    columns: tuple[str, ...]
    rows: tuple[tuple[int, tuple[str, ...]], ...]


def _table(path: str, data: bytes) -> _Table | None:
    """A ``<measurement>-<result>.txt`` tab-separated table, or ``None`` for another file."""
    base = path.rsplit("/", 1)[-1]
    if not base.lower().endswith(".txt") or "-" not in base:
        return None
    measurement, _, result = base[:-4].rpartition("-")
    lines = _text(data).splitlines()
    if not lines or "\t" not in lines[0]:
        return None
    columns = tuple(c.strip() for c in lines[0].split("\t"))
    if len(columns) < 2 or not all(columns[:2]):
        return None
    rows = tuple(
        (number, tuple(cell.strip() for cell in line.split("\t")))
        for number, line in enumerate(lines[1:], 2)
        if line.strip()
    )
    return _Table(path, measurement.strip(), result.strip(), columns, rows)


def _number(cell: str, table: _Table, line: int) -> float | None:
    """A cell's number (``-`` and empty are missing; a decimal comma is accepted).

    Raises:
        FileRejected: not a number.
    """
    if cell in _MISSING:
        return None
    try:
        value = float(cell.replace(",", ".") if "." not in cell else cell)
    except ValueError:
        raise FileRejected(f"{cell!r} is not a number", where=f"{table.path} line {line}") from None
    return value if value == value and abs(value) != float("inf") else None


def _cell(row: tuple[str, ...], index: int) -> str:
    return row[index] if index < len(row) else ""


def _build(
    header: Mapping[str, str], tables: Mapping[str, bytes], name: str, args: KlippelArguments
) -> UUTReport:
    match = _NAME_RE.match(name)
    serial = args.serial_number or header.get("Cfg_SerialNumber") or (match and match["sn"])
    if not serial:
        raise FileRejected("no serial number: Cfg_SerialNumber is empty and the name has none")
    database = re.split(r"[\\/]", header.get("Cfg_DatabasePath", ""))[-1].rsplit(".", 1)[0]
    passed = set(header.get("Results_Pass", "").split())
    failed = set(header.get("Results_Fail", "").split())
    builder = ReportBuilder(
        pn=cut(args.part_number or database or "klippel", 100),
        sn=cut(serial, 100),
        rev=args.revision,
        process_code=args.process_code,
        machine_name=cut(header.get("Cfg_PCName") or args.station, 100),
        location=args.location,
        purpose=args.purpose,
        operator=args.operator or header.get("Cfg_UserName") or None,
        start=_start(header, match, args),
        root_name=args.sequence_name,
    )
    for key, value in header.items():
        if value and key not in ("Cfg_SerialNumber", "Cfg_UserName", "Cfg_PCName"):
            builder.add_misc_info(cut(key, 100), text=cut(value, 100))
    ignored: list[str] = []
    parsed = []
    for path in sorted(tables):
        table = _table(path, tables[path])
        if table is None:
            ignored.append(path.split("/", 1)[-1])
        else:
            parsed.append(table)
    groups: dict[str, list[_Table]] = {}
    for table in parsed:
        groups.setdefault(table.measurement, []).append(table)
    for measurement in sorted(groups):
        sequence = builder.root.sequence(cut(measurement or "measurement"))
        ordered = sorted(groups[measurement], key=lambda t: (t.result != "values", t.result))
        for table in ordered:
            if table.result == "values":
                _values(sequence, table, passed, failed)
            else:
                _curve(sequence, table)
    for path in ignored[:_MAX_IGNORED]:
        builder.add_misc_info("ignored file", text=cut(path, 100))
    verdict = header.get("Ctrl_OverallVerdict", "")
    if verdict:
        builder.add_misc_info("verdict", text=_VERDICT_WORDS.get(verdict, verdict))
    try:
        report = builder.build()
    except ReportInvalid as exc:
        raise FileRejected(f"the unit makes no valid report: {exc}") from None
    result = _VERDICTS.get(verdict)
    return report if result is None else with_verdict(report, result)


def _start(
    header: Mapping[str, str], match: re.Match[str] | None, args: KlippelArguments
) -> dt.datetime:
    """The start time: ``Cfg_DutStartTime`` (SciLab ``getdate()`` fields: year, month, week,
    day of year, weekday, day, hour, minute, second, millisecond), else the date and time in
    the unit's name; in the name's ``UTC+hhmm`` offset, else *timezone*, else the station's.

    Raises:
        FileRejected: neither gives a time, or the time zone is unknown.
    """
    local: dt.datetime | None = None
    fields = header.get("Cfg_DutStartTime", "").split("-")
    if len(fields) >= 10 and all(f.isdigit() for f in fields[:10]):
        y, mo, _, _, _, d, h, mi, s, ms = (int(f) for f in fields[:10])
        try:
            local = dt.datetime(y, mo, d, h, mi, s, min(ms, 999) * 1000)
        except ValueError:
            local = None
    if local is None and match is not None:
        frac = (match["frac"] or "0")[:6].ljust(6, "0")
        try:
            local = dt.datetime.strptime(f"{match['date']} {match['time']}", "%Y-%m-%d %H-%M-%S")
        except ValueError:
            raise FileRejected(f"the unit's name {match.string!r} has no valid date") from None
        local = local.replace(microsecond=int(frac))
    if local is None:
        raise FileRejected("no start time: no Cfg_DutStartTime and no date in the unit's name")
    if match is not None and match["sign"]:
        minutes = int(match["oh"]) * 60 + int(match["om"])
        offset = dt.timedelta(minutes=-minutes if match["sign"] == "-" else minutes)
        return local.replace(tzinfo=dt.timezone(offset))
    return localize(local, args.timezone)


def _values(
    sequence: SequenceBuilder, table: _Table, passed: Iterable[str], failed: Iterable[str]
) -> None:
    """A ``name value max min`` table: a numeric step per row with a value."""
    columns = [c.lower() for c in table.columns]
    at = {c: columns.index(c) for c in ("value", "max", "min") if c in columns}
    for line, row in table.rows:
        step = cut(row[0] or f"line {line}")
        value = _number(_cell(row, at.get("value", 1)), table, line)
        high = _number(_cell(row, at["max"]), table, line) if "max" in at else None
        low = _number(_cell(row, at["min"]), table, line) if "min" in at else None
        if value is None:
            if row[0] in failed or row[0] in passed:
                sequence.pass_fail(step, row[0] not in failed, report_text="no value (-)")
            else:
                sequence.action(step, status=StepStatus.SKIPPED, report_text="no value (-)")
            continue
        if low is not None and high is not None and low > high:
            low, high = high, low
        try:
            sequence.numeric(step, value, low=low, high=high)
        except ValueError as exc:
            raise FileRejected(str(exc), where=f"{table.path} line {line}") from None


def _curve(sequence: SequenceBuilder, table: _Table) -> None:
    """A ``frq <result> [max [min]]`` curve: a chart step with its limit curves."""
    names = table.columns
    series: dict[int, tuple[list[float], list[float]]] = {i: ([], []) for i in range(1, len(names))}
    outside = 0
    lower = {c.lower(): i for i, c in enumerate(names)}
    for line, row in table.rows:
        x = _number(row[0], table, line)
        if x is None:
            continue
        cells = {i: _number(_cell(row, i), table, line) for i in series}
        for i, y in cells.items():
            if y is not None:
                series[i][0].append(x)
                series[i][1].append(y)
        y = cells.get(1)
        high = cells.get(lower["max"]) if "max" in lower else None
        low = cells.get(lower["min"]) if "min" in lower else None
        if y is not None and ((high is not None and y > high) or (low is not None and y < low)):
            outside += 1
    drawn = [
        chart_series(cut(names[i] or f"column {i + 1}"), ys, xs)
        for i, (xs, ys) in series.items()
        if ys
    ]
    step = cut(f"{table.measurement} {table.result}".strip())
    if not drawn:
        sequence.action(step, status=StepStatus.SKIPPED, report_text="no values")
        return
    frequency = names[0].lower() in ("frq", "freq", "frequency")
    chart = Chart(
        chart_type=(ChartType.LINE_LOG_X if frequency else ChartType.LINE).value,
        label=step,
        x_label=names[0],
        x_unit="Hz" if frequency else msgspec.UNSET,
        y_label=names[1],
        series=tuple(drawn),
    )
    limits = "max" in lower or "min" in lower
    measurements = (
        [numeric_measurement(outside, name="points outside limits", comp_op="EQ", limit=0)]
        if limits
        else []
    )
    sequence.chart(step, chart, measurements)
