"""The Teradyne GR228x ICT log converter (``teradyne-gr228x``).

A GR228x log is line based: a program header ``<path>\\<program>.obc[DD-MMM-YY  HH:MM:SS``,
then per unit a start line ``@DD-MMM-YY  HH:MM:SS SN <serial>``, its measurement lines
(``Ref=value(low,high)Type``; ``#`` instead of ``=`` when the limits were not checked),
failure lists ``(F pins...`` and opens ``(O pins...``, and an end line whose first character
is the unit's result (``"`` pass, ``/`` fail, ``?`` aborted, ``*`` error, ``&`` system error,
``!`` cancelled, ``]`` return to diagnose) followed by the end time. Each unit becomes one
UUT report.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import msgspec

from pywats_actors.report import (
    ReportBuilder,
    ReportInvalid,
    ReportResult,
    SequenceBuilder,
    StepStatus,
    UUTReport,
)

from ._check import validated
from ._errors import FileRejected
from ._ict_verdict import with_verdict
from ._sdk import API_VERSION, Converter, ConverterOutput
from ._timezone import check_timezone, localize

__all__ = ["Gr228xArguments", "Gr228xConverter"]

_STAMP = r"(\d{1,2}-[A-Za-z]{3}-\d{2})\s+(\d{1,2}:\d{2}:\d{2})"
_HEADER_RE = re.compile(r"^(?P<path>[^\[]*\.obc)\[" + _STAMP + r"\s*$", re.I)
_START_RE = re.compile(r"^@" + _STAMP + r"\s+SN\s*(?P<sn>\S*)\s*$")
_END_RE = re.compile(r"^(?P<event>[?\"/*&!\]])" + _STAMP + r"\s*$")
_MEAS_RE = re.compile(
    r"^(?P<ref>[^=#(\s]+)(?P<mark>[=#])(?P<value>[^(\s]*)"
    r"(?:\((?P<low>[^,)]*),(?P<high>[^)]*)\)(?P<kind>\S*))?\s*$"
)
_LIST_RE = re.compile(r"^\((?P<kind>[A-Z])\s*(?P<items>.*)$")
_NUMBER_RE = re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(MEG|[KMUNPGF]?)$", re.I)
_SCALE = {
    "": 1.0,
    "MEG": 1e6,
    "G": 1e9,
    "K": 1e3,
    "M": 1e-3,
    "U": 1e-6,
    "N": 1e-9,
    "P": 1e-12,
    "F": 1e-15,
}
_UNITS = {"R": "Ohm", "C": "F", "L": "H", "V": "V", "I": "A", "D": "V", "A": "V"}
_EVENTS = {
    '"': (ReportResult.PASSED, "passed"),
    "/": (ReportResult.FAILED, "failed"),
    "]": (ReportResult.FAILED, "returned to diagnose"),
    "?": (ReportResult.TERMINATED, "aborted"),
    "!": (ReportResult.TERMINATED, "cancelled"),
    "*": (ReportResult.ERROR, "error"),
    "&": (ReportResult.ERROR, "system error"),
}
_LISTS = {"F": "Failing pins", "O": "Opens", "S": "Shorts"}
_HEADER_KEYS = {
    "WATS_partNumber": "pn",
    "WATS_partRevision": "rev",
    "WATS_sequenceName": "sequence",
    "WATS_sequenceVersion": "version",
    "WATS_operator": "operator",
    "WATS_stationName": "station",
}
_MAX_TEXT = 2000
_MAX_NAME = 100


class Gr228xArguments(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a GR228x log maps to UUT reports (``WATS_*`` lines in the log take precedence).

    Attributes:
        part_number_pattern: a regular expression matched at the start of the file name (no
            folder); its group ``pn`` (or group 1, or the whole match) is the part number.
        part_number: the part number when the pattern does not match.
        revision: the revision.
        process_code: the test operation code.
        station: the machine name (default: the program name from the header).
        location: the station's location.
        purpose: the station's purpose.
        operator: the operator.
        timezone: the IANA time zone of the log's local times (default: the station's).
    """

    part_number_pattern: str = r"(?P<pn>[^_]+)_?"
    part_number: str = "teradyne-gr228x"
    revision: str = "1"
    process_code: int = 10
    station: str | None = None
    location: str = "Unknown"
    purpose: str = "Production"
    operator: str | None = None
    timezone: str | None = None

    def __post_init__(self) -> None:
        """Check the pattern compiles.

        Raises:
            ValueError: ``part_number_pattern`` is not a regular expression.
        """
        check_timezone(self.timezone)
        try:
            re.compile(self.part_number_pattern)
        except re.error as exc:
            raise ValueError(f"part_number_pattern: {exc}") from None


@dataclass
class _Unit:
    """One unit's lines as parsed: start, serial, measurements, lists and end event."""

    line: int
    start: dt.datetime
    sn: str
    header: dict[str, str] = field(default_factory=dict)
    items: list[tuple[str, re.Match[str] | tuple[str, str]]] = field(default_factory=list)
    event: str | None = None
    end: dt.datetime | None = None


class Gr228xConverter(Converter[Gr228xArguments]):
    """Teradyne GR228x in-circuit test logs mapped to one UUT report per unit."""

    name: ClassVar[str] = "teradyne-gr228x"
    version: ClassVar[str] = "1.0"
    api_version: ClassVar[int] = API_VERSION
    patterns: ClassVar[tuple[str, ...]] = ("*.LOG", "*.log")
    Arguments: ClassVar[type[msgspec.Struct]] = Gr228xArguments

    def detect(self, head: bytes, name: str) -> float:
        """0.95 for a ``.obc[`` header line or a unit start line (``@date time SN``) followed
        by a known line form, 0.6 for only one of them, else 0."""
        lines = head[:8192].decode("latin-1").splitlines()
        header = any(_HEADER_RE.match(line.strip()) for line in lines[:5])
        start = any(_START_RE.match(line.strip()) for line in lines)
        if header and start:
            return 0.95
        return 0.6 if header or start else 0.0

    def convert(self, data: bytes, name: str, args: Gr228xArguments) -> Sequence[ConverterOutput]:
        """One report per unit in the log.

        Raises:
            FileRejected: binary data, no unit start line, a line of no known form, a unit
                without its end line (a truncated log), a bad date, or values that make an
                invalid report; ``where`` names the line.
        """
        if b"\x00" in data:
            raise FileRejected("binary data, not a GR228x log", where="line 1")
        text = data.decode("latin-1")
        program, units = _parse(text.splitlines())
        if not units:
            raise FileRejected("no unit start line (@DD-MMM-YY HH:MM:SS SN ...)", where="line 1")
        return [_build(unit, program, name, args) for unit in units]


def _stamp(day: str, time: str, where: str) -> dt.datetime:
    """The local (naive) datetime of ``31-JUL-12`` ``14:17:35``.

    Raises:
        FileRejected: not a date.
    """
    try:
        naive = dt.datetime.strptime(f"{day.title()} {time}", "%d-%b-%y %H:%M:%S")
    except ValueError:
        raise FileRejected(f"bad date {day} {time}", where=where) from None
    return naive


def _parse(lines: list[str]) -> tuple[str, list[_Unit]]:
    """The program name and the units of a log.

    Raises:
        FileRejected: a line of no known form, or a unit without its end line.
    """
    program = ""
    units: list[_Unit] = []
    unit: _Unit | None = None
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        where = f"line {number}"
        if not line:
            continue
        if (match := _HEADER_RE.match(line)) is not None:
            program = re.split(r"[\\/]", match["path"])[-1][: -len(".obc")]
            continue
        if (match := _START_RE.match(line)) is not None:
            if unit is not None:
                raise FileRejected(f"unit {unit.sn} has no end line", where=f"line {unit.line}")
            if not match["sn"]:
                raise FileRejected("a unit start line without a serial number", where=where)
            unit = _Unit(number, _stamp(match[1], match[2], where), match["sn"])
            continue
        end = _END_RE.match(line)
        if unit is None:
            if end is not None:
                _stamp(end[2], end[3], where)  # a station event between units (kept out)
                continue
            raise FileRejected(f"not a GR228x log line: {line[:60]!r}", where=where)
        if (match := end) is not None:
            unit.event, unit.end = match["event"], _stamp(match[2], match[3], where)
            units.append(unit)
            unit = None
        elif (match := _LIST_RE.match(line)) is not None:
            unit.items.append(("list", (match["kind"], match["items"].strip())))
        elif line.startswith("WATS_") and "=" in line:
            key, _, value = line.partition("=")
            unit.header[key] = value.strip()
        elif (match := _MEAS_RE.match(line)) is not None:
            unit.items.append((where, match))
        else:
            raise FileRejected(f"not a GR228x log line: {line[:60]!r}", where=where)
    if unit is not None:
        raise FileRejected(
            f"unit {unit.sn} has no end line (truncated log?)", where=f"line {unit.line}"
        )
    return program, units


def _number(text: str, where: str) -> float | None:
    """``100.2K`` as 100200.0; None for an empty text.

    Raises:
        FileRejected: not a number with an SI suffix.
    """
    text = text.strip()
    if not text:
        return None
    match = _NUMBER_RE.match(text)
    if match is None:
        raise FileRejected(f"not a number: {text!r}", where=where)
    return float(match[1]) * _SCALE[match[2].upper()]


def _part_number(name: str, args: Gr228xArguments) -> str:
    """The part number the pattern finds at the start of the file name, else the argument."""
    base = os.path.basename(name.replace("\\", "/"))
    match = re.match(args.part_number_pattern, base)
    if match is None:
        return args.part_number
    if "pn" in match.re.groupindex:
        found = match["pn"]
    else:
        found = match[1] if match.re.groups else match[0]
    return found or args.part_number


def _build(unit: _Unit, program: str, name: str, args: Gr228xArguments) -> UUTReport:
    """The report of one unit.

    Raises:
        FileRejected: a bad number, or values that make an invalid report.
    """
    where = f"line {unit.line}"
    head = unit.header
    try:
        builder = ReportBuilder(
            pn=(head.get("WATS_partNumber") or _part_number(name, args))[:_MAX_NAME],
            sn=unit.sn[:_MAX_NAME],
            rev=(head.get("WATS_partRevision") or args.revision)[:_MAX_NAME],
            process_code=args.process_code,
            machine_name=(
                head.get("WATS_stationName") or args.station or program or "teradyne-gr228x"
            )[:_MAX_NAME],
            location=args.location,
            purpose=args.purpose,
            operator=head.get("WATS_operator") or args.operator,
            start=localize(unit.start, args.timezone),
        )
    except ValueError as exc:
        raise FileRejected(f"bad report header: {exc}", where=where) from None
    if program:
        builder.add_misc_info("Program", text=program[:_MAX_NAME])
    sequence = builder.root.sequence(
        head.get("WATS_sequenceName") or program or "GR228x",
        version=head.get("WATS_sequenceVersion"),
    )
    for item_where, item in unit.items:
        if isinstance(item, tuple):
            kind, pins = item
            sequence.action(
                _LISTS.get(kind, f"List {kind}"),
                status=StepStatus.FAILED,
                report_text=pins[:_MAX_TEXT],
            )
        else:
            _add_measurement(sequence, item, item_where)
    result, said = _EVENTS[unit.event or "*"]
    exec_time = (unit.end - unit.start).total_seconds() if unit.end is not None else None
    try:
        report = builder.build(exec_time=max(exec_time or 0.0, 0.0))
        report = with_verdict(report, result)
        return validated(report)
    except (ReportInvalid, ValueError) as exc:
        raise FileRejected(
            f"unit {unit.sn} ({said}) makes an invalid report: {exc}", where=where
        ) from None


def _add_measurement(sequence: SequenceBuilder, match: re.Match[str], where: str) -> None:
    """Add one measurement line as a numeric step (a done action step when it has no value).

    ``#`` (limits not checked) logs the value without limits. The tester writes lines with no
    value (``D103_B1=``) in passing units too, so they are neither passed nor failed.

    Raises:
        FileRejected: a value or limit that is not a number.
    """
    name = match["ref"][:_MAX_NAME]
    kind = match["kind"] or ""
    unit = _UNITS.get(kind[:1].upper())
    value = _number(match["value"], where)
    checked = match["mark"] == "="
    text = f"type {kind}" if kind else None
    if value is None:
        limits = (
            f" ({match['low'] or ''},{match['high'] or ''})"
            if match["low"] or match["high"]
            else ""
        )
        said = f"no value logged{limits}" + (f", {text}" if text else "")
        sequence.action(name, status=StepStatus.DONE, report_text=said)
        return
    low = _number(match["low"] or "", where) if checked else None
    high = _number(match["high"] or "", where) if checked else None
    try:
        if text is None:
            sequence.numeric(name, value, unit=unit, low=low, high=high)
        else:
            sequence.numeric(name, value, unit=unit, low=low, high=high, report_text=text)
    except ValueError as exc:
        raise FileRejected(f"{name}: {exc}", where=where) from None
