"""Rows to WSJF: one step per row, sequences by the ``sequence`` column, statuses rolled up.

Step type: an explicit ``step_type`` cell wins (numeric / string / pass-fail names, TestStand's or
WATS's); otherwise it is inferred: a number is a numeric limit test, other text a string value
test, an empty value a pass/fail test. Status: a ``status`` cell is honoured as the source's
verdict (import mode); without one the status is computed from the value and the limits (active
mode). Limits go where WSJF wants them: a single limit in ``lowLimit``, two-sided pairs as GELE
unless a ``comp_op`` says otherwise, LOG without limits.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import uuid
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Literal

import msgspec
from msgspec import UNSET

from pywats_actors.report import (
    ReportInvalid,
    Step,
    UUTInfo,
    UUTReport,
    boolean_measurement,
    format_timestamp,
    numeric_measurement,
    string_measurement,
)

from ._check import validated
from ._csv_args import CsvArguments
from ._csv_curves import Curve, chart_step, parse_number
from ._csv_tree import step_tree
from ._errors import FileRejected

__all__ = ["Record", "ReportFactory"]

_Kind = Literal["numeric", "string", "passfail"]
_Verdict = Literal["passed", "failed", "skipped", "error"]
_KIND_NAMES: Mapping[str, _Kind] = {
    **dict.fromkeys(
        ("numeric", "numericlimit", "numericlimittest", "et_nlt", "nlt", "number"), "numeric"
    ),
    **dict.fromkeys(
        ("string", "stringvalue", "stringvaluetest", "et_svt", "svt", "text"), "string"
    ),
    **dict.fromkeys(
        ("passfail", "pass/fail", "passfailtest", "et_pft", "pft", "boolean", "bool"), "passfail"
    ),
}
_STEP_TYPES: Mapping[_Kind, str] = {"numeric": "ET_NLT", "string": "ET_SVT", "passfail": "ET_PFT"}
_MEASUREMENT_STATUS: Mapping[_Verdict, str] = {
    "passed": "P",
    "failed": "F",
    "skipped": "S",
    "error": "F",
}
_STEP_STATUS: Mapping[_Verdict, str] = {"passed": "P", "failed": "F", "skipped": "S", "error": "E"}
_SINGLE_LIMIT_OPS = frozenset({"EQ", "NE", "GT", "GE", "LT", "LE"})


@dataclass(frozen=True, slots=True)
class Record:
    """One data row: its line number, its mapped cells (stripped; ``""`` when absent), and its
    curve when it is a curve row (then only the header fields of ``cells`` count)."""

    line: int
    cells: Mapping[str, str]
    curve: Curve | None = None

    def get(self, field: str) -> str:
        """The cell of ``field``, or ``""``."""
        return self.cells.get(field, "")


class ReportFactory:
    """Builds one UUT report from the rows of one group, under one set of arguments."""

    def __init__(self, args: CsvArguments) -> None:
        self.args = args
        words = args.status
        self._verdicts: dict[str, _Verdict] = {}
        for verdict, vocabulary in (
            ("passed", words.passed),
            ("failed", words.failed),
            ("skipped", words.skipped),
            ("error", words.error),
        ):
            for word in vocabulary:
                self._verdicts.setdefault(_norm(word), verdict)  # type: ignore[arg-type]
        # checked with the arguments (converters._timezone)
        self._tz = zoneinfo.ZoneInfo(args.timezone) if args.timezone is not None else None

    def build(self, records: Sequence[Record], file_name: str = "") -> UUTReport:
        """The report of one group of rows (of the file ``file_name``).

        Raises:
            FileRejected: a cell that does not parse, a missing serial or part number, or a
                report that breaks a WSJF rule; ``where`` names the line(s).
        """
        defaults = self.args.defaults
        first = records[0]
        where = f"line {first.line}"
        sn = first.get("sn") or self._serial_from_name(file_name)
        if not sn:
            why = " and serial_from_name does not match the file name"
            raise FileRejected(
                f"the serial number is empty{why if self.args.serial_from_name else ''}",
                where=where,
            )
        pn = first.get("pn") or defaults.part_number
        if not pn:
            raise FileRejected(
                "no part number: map columns.pn or set defaults.part_number", where=where
            )
        start = self._start(first)
        station = first.get("station") or defaults.station or socket.gethostname()
        root, failed_id = step_tree(
            [(r.get("sequence"), self._step(r)) for r in records],
            defaults.sequence_name,
            defaults.sequence_version,
        )
        report = UUTReport(
            id=uuid.uuid4(),  # the pool replaces it with the deterministic id
            pn=pn,
            sn=sn,
            rev=first.get("rev") or defaults.revision,
            process_code=self._process_code(first),
            process_name=UNSET if defaults.process_name is None else defaults.process_name,
            result=root.status,
            machine_name=station,
            location=defaults.location,
            purpose=defaults.purpose,
            start=format_timestamp(start),
            start_utc=format_timestamp(start, utc=True),
            root=root,
            uut=UUTInfo(
                user=first.get("operator") or defaults.operator or UNSET,
                step_id_caused_uut_failure=UNSET if failed_id is None else failed_id,
            ),
        )
        try:
            validated(report)  # the worker's own check, done here to name the rows
        except ReportInvalid as exc:
            problem = exc.problems[0]
            lines = f"lines {first.line}-{records[-1].line}" if len(records) > 1 else where
            raise FileRejected(
                f"the rows make an invalid report: {problem.message} ({problem.path})", where=lines
            ) from None
        return report

    # -- header ------------------------------------------------------------------------------

    def _serial_from_name(self, file_name: str) -> str:
        pattern = self.args.serial_from_name
        if not pattern:
            return ""
        found = re.search(pattern, PurePath(file_name).name)
        if found is None:
            return ""
        return (found.group(1) if found.groups() else found.group(0)).strip()

    def _start(self, record: Record) -> dt.datetime:
        text = record.get("start")
        if not text:
            return dt.datetime.now().astimezone()
        moment = self._parse_time(text)
        if moment is None:
            fmt = self.args.date_format
            if fmt is None:
                expected = "ISO 8601 (or set date_format)"
            elif isinstance(fmt, str):
                expected = f"date_format {fmt!r}"
            else:
                expected = f"any date_format ({', '.join(map(repr, fmt))})"
            raise FileRejected(
                f"start time {text!r} does not match {expected}", where=f"line {record.line}"
            )
        if moment.tzinfo is not None:
            return moment
        if self._tz is not None:
            return moment.replace(tzinfo=self._tz)
        return moment.astimezone()  # the station's local time zone

    def _parse_time(self, text: str) -> dt.datetime | None:
        fmt = self.args.date_format
        if fmt is None:
            try:
                return dt.datetime.fromisoformat(text)
            except ValueError:
                return None
        for one in (fmt,) if isinstance(fmt, str) else fmt:
            try:
                return dt.datetime.strptime(text, one)
            except ValueError:
                continue
        return None

    def _process_code(self, record: Record) -> int:
        text = record.get("process_code")
        if not text:
            return self.args.defaults.process_code
        try:
            return int(text)
        except ValueError:
            raise FileRejected(
                f"the process code {text!r} is not an integer", where=f"line {record.line}"
            ) from None

    # -- steps ------------------------------------------------------------------------------

    def _step(self, record: Record) -> Step:
        if record.curve is not None:
            try:
                return chart_step(record.curve)
            except ValueError as exc:
                raise FileRejected(
                    f"curve {record.curve.name!r}: {exc}", where=f"line {record.line}"
                ) from None
        step = self._measurement_step(record)
        notes = [record.get("comment")]
        limits = record.get("limits")
        numeric_limits = record.get("low") or record.get("high")
        if limits and not numeric_limits and self._split_limits(limits) == (None, None):
            notes.append(f"limits: {limits}")
        text = "; ".join(note for note in notes if note)
        return msgspec.structs.replace(step, report_text=text) if text else step

    def _measurement_step(self, record: Record) -> Step:
        where = f"line {record.line}"
        name = record.get("step_name")
        if not name:
            raise FileRejected("the step name is empty", where=where)
        verdict = self._verdict(record)
        value = record.get("value")
        kind = self._kind(record, value)
        try:
            if kind == "numeric":
                return self._numeric(record, name, value, verdict)
            if kind == "string":
                return self._string(record, name, value, verdict)
        except ValueError as exc:
            raise FileRejected(f"step {name!r}: {exc}", where=where) from None
        if verdict is None:
            raise FileRejected(
                f"step {name!r} has no value, so it is a pass/fail step, and needs a status",
                where=where,
            )
        measurement = boolean_measurement(verdict in ("passed", "skipped"))
        measurement = msgspec.structs.replace(measurement, status=_MEASUREMENT_STATUS[verdict])
        return _leaf("passfail", name, _STEP_STATUS[verdict], boolean_meas=(measurement,))

    def _kind(self, record: Record, value: str) -> _Kind:
        declared = record.get("step_type")
        if declared:
            kind = _KIND_NAMES.get(declared.replace(" ", "").replace("_", "").casefold())
            kind = kind or _KIND_NAMES.get(declared.casefold())
            if kind is None:
                known = ", ".join(sorted(_KIND_NAMES))
                raise FileRejected(
                    f"unknown step type {declared!r} (known: {known})", where=f"line {record.line}"
                )
            return kind
        if not value:
            return "passfail"
        return "numeric" if self._number(value) is not None else "string"

    def _verdict(self, record: Record) -> _Verdict | None:
        text = record.get("status")
        if not text:
            return None
        verdict = self._verdicts.get(_norm(text))
        if verdict is None:
            raise FileRejected(
                f"status {text!r} is not in the status vocabulary", where=f"line {record.line}"
            )
        return verdict

    def _numeric(self, record: Record, name: str, value: str, verdict: _Verdict | None) -> Step:
        number = self._number(value)
        if number is None:
            raise ValueError(f"value {value!r} is not a number")
        low, high = self._limits(record)
        comp_op = record.get("comp_op").upper() or None
        unit = record.get("unit") or None
        if comp_op in _SINGLE_LIMIT_OPS:
            limit = low if low is not None else high
            measurement = numeric_measurement(number, unit=unit, limit=limit, comp_op=comp_op)
        else:
            measurement = numeric_measurement(
                number, unit=unit, low=low, high=high, comp_op=comp_op
            )
        status = measurement.status
        if verdict is not None:
            status = _MEASUREMENT_STATUS[verdict]
            measurement = msgspec.structs.replace(measurement, status=status)
        step_status = _STEP_STATUS[verdict] if verdict is not None else status
        return _leaf("numeric", name, step_status, numeric_meas=(measurement,))

    def _string(self, record: Record, name: str, value: str, verdict: _Verdict | None) -> Step:
        limit = record.get("low") or None
        comp_op = record.get("comp_op") or None
        measurement = string_measurement(value, limit=limit, comp_op=comp_op)
        status = measurement.status
        if verdict is not None:
            status = _MEASUREMENT_STATUS[verdict]
            measurement = msgspec.structs.replace(measurement, status=status)
        step_status = _STEP_STATUS[verdict] if verdict is not None else status
        return _leaf("string", name, step_status, string_meas=(measurement,))

    def _limits(self, record: Record) -> tuple[float | None, float | None]:
        low = self._limit(record, "low")
        high = self._limit(record, "high")
        combined = record.get("limits")
        if combined and low is None and high is None:
            low, high = self._split_limits(combined)
        return low, high

    def _split_limits(self, combined: str) -> tuple[float | None, float | None]:
        """The two numbers of a ``limits`` cell; any other text ("Floating Limits") carries no
        numeric limits (the step keeps it as text)."""
        parts = combined.split(self.args.limits_separator)
        numbers = [self._number(part.strip()) for part in parts]
        if len(numbers) != 2 or numbers[0] is None or numbers[1] is None:
            return None, None
        first, second = numbers
        return (second, first) if self.args.limits_order == "high/low" else (first, second)

    def _limit(self, record: Record, field: str) -> float | None:
        text = record.get(field)
        if not text:
            return None
        number = self._number(text)
        if number is None:
            raise FileRejected(
                f"the {field} limit {text!r} is not a number", where=f"line {record.line}"
            )
        return number

    def _number(self, text: str) -> float | None:
        """The finite number ``text`` spells in the file's locale, else ``None``."""
        return parse_number(text, self.args)


def _leaf(kind: _Kind, name: str, status: str, **payload: object) -> Step:
    step = Step(id=0, group="M", step_type=_STEP_TYPES[kind], name=name, status=status)
    return msgspec.structs.replace(step, **payload)


def _norm(word: str) -> str:
    return word.strip().replace(" ", "").casefold()
