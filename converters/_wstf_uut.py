"""One UUT of a WSTF file: its header and footer lines, sub-units and step rows, made into a
report.

Header (and footer) lines are ``Key<TAB>Value``; the keys below are mapped, any other key with a
value becomes a misc info, and ``Subunit<TAB>Description<TAB>PN<TAB>SN<TAB>Rev`` a sub-unit.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import uuid
import zoneinfo
from typing import TYPE_CHECKING

import msgspec
from msgspec import UNSET

from pywats_actors.report import (
    MiscInfo,
    ReportInvalid,
    ReportResult,
    SequenceCallInfo,
    SubUnit,
    UUTInfo,
    UUTReport,
    format_timestamp,
)

from ._check import validated
from ._errors import FileRejected
from ._ict_verdict import with_verdict
from ._wstf_steps import StepTree
from ._wstf_values import decimal_comma, number, parse_time, uut_status

if TYPE_CHECKING:
    from ._wstf import WstfArguments

__all__ = ["Uut"]

_MISC_LIMIT = 100
_ROOT_NAME = "MainSequence Callback"
_MAX_OFFSET = dt.timedelta(hours=14)
_INT_RE = re.compile(r"^[-+]?\d{1,9}$")
_KNOWN_KEYS = (
    "SerialNumber PartNumber Revision OperationTypeCode OperationTypeName StationName "
    "OperatorName StartDateTime UTCStartDateTime ExecutionTime UUTStatus FixtureId "
    "SoftwareName SoftwareVersion BatchSerialNumber TestSocketIndex Comment ErrorCode "
    "ErrorMessage ConverterMode"
)
_KNOWN = {key.lower(): key for key in _KNOWN_KEYS.split()}


class Uut:
    """One UUT being read: its header values, misc infos, sub-units and step tree."""

    def __init__(self, line: int, args: WstfArguments) -> None:
        self.line = line
        self.args = args
        self.comma = decimal_comma(args.culture_code)
        self.section = "header"
        self.values: dict[str, tuple[str, int]] = {}
        self.misc: list[MiscInfo] = []
        self.sub_units: list[SubUnit] = []
        self.tree: StepTree | None = None

    def add(self, text: str, marker: str, line: int) -> None:
        """Take one non-blank line of the UUT (not its start or end marker)."""
        where = f"line {line}"
        if marker == "--step-data-start--" and self.section == "header":
            self.section = "steps"
            self.tree = StepTree(self.comma, _ROOT_NAME, self._sequence())
            return
        if marker == "--step-data-end--" and self.section == "steps":
            self.section = "footer"
            return
        if marker:
            raise FileRejected(f"{text.strip()!r} is out of place", where=where)
        cells = text.split("\t")
        key = cells[0].strip()
        if self.section == "steps" and self.tree is not None:
            if key.lower() == "steptype":
                return  # the column header row
            if key.lower() != "uutstatus":
                self.tree.add(cells, line)
                return
        if len(cells) < 2:
            raise FileRejected(f"expected Key<TAB>Value, found {text.strip()[:40]!r}", where)
        if key.lower() == "subunit":
            self._sub_unit(cells, where)
            return
        value = cells[1].strip()
        known = _KNOWN.get(key.lower())
        if known is not None:
            self.values[known] = (value, line)
        elif value and key:
            self.misc.append(MiscInfo(description=key, text=_cut(value)))

    def report(self, line: int) -> UUTReport:
        """The UUT's report (``line`` is its ``--UUT-End--``).

        Raises:
            FileRejected: no serial or part number, a bad header value, a sequence left open,
                or values that make an invalid report.
        """
        tree = self.tree or StepTree(self.comma, _ROOT_NAME, self._sequence())
        root, caused = tree.finish(line)
        sn = self._text("SerialNumber")
        if not sn:
            raise FileRejected("the header has no SerialNumber", where=f"line {self.line}")
        pn = self._text("PartNumber") or self.args.part_number
        if not pn:
            raise FileRejected(
                "the header has no PartNumber; set the argument part_number",
                where=f"line {self.line}",
            )
        start = self._start()
        code = self._int("OperationTypeCode")
        report = UUTReport(
            id=uuid.uuid4(),  # the pool replaces it with the deterministic id
            pn=pn,
            sn=sn,
            rev=self._text("Revision") or self.args.revision,
            process_code=self.args.operation_type_code if code is None else code,
            process_name=self._text("OperationTypeName") or UNSET,
            result=root.status if root.status in ("P", "F", "E", "T") else "P",
            machine_name=self._text("StationName")
            or self.args.station_name
            or socket.gethostname(),
            location=self.args.location,
            purpose=self.args.purpose,
            start=format_timestamp(start),
            start_utc=format_timestamp(start, utc=True),
            root=msgspec.structs.replace(root, start=format_timestamp(start)),
            uut=UUTInfo(
                user=self._text("OperatorName") or self.args.operator or UNSET,
                comment=self._text("Comment") or UNSET,
                exec_time=self._seconds("ExecutionTime"),
                test_socket_index=_given(self._int("TestSocketIndex")),
                batch_sn=self._text("BatchSerialNumber") or UNSET,
                error_code=_given(self._int("ErrorCode")),
                error_message=self._text("ErrorMessage") or UNSET,
                fixture_id=self._text("FixtureId") or UNSET,
                step_id_caused_uut_failure=UNSET if caused is None else caused,
            ),
            misc_infos=tuple(self.misc) or UNSET,
            sub_units=tuple(self.sub_units) or UNSET,
        )
        value = self.values.get("UUTStatus")
        result = uut_status(value[0], f"line {value[1]}") if value else None
        try:
            if result is not None:
                report = with_verdict(report, ReportResult(result))
            return validated(report)
        except ReportInvalid as exc:
            problem = exc.problems[0]
            raise FileRejected(
                f"the UUT makes an invalid report: {problem.message} ({problem.path})",
                where=f"lines {self.line}-{line}",
            ) from None

    # -- header values ---------------------------------------------------------------------

    def _text(self, key: str) -> str | None:
        value = self.values.get(key)
        return value[0] if value and value[0] else None

    def _int(self, key: str) -> int | None:
        value = self.values.get(key)
        if not value or not value[0]:
            return None
        if not _INT_RE.match(value[0]):
            raise FileRejected(f"{key} {value[0]!r} is not a whole number", f"line {value[1]}")
        return int(value[0])

    def _seconds(self, key: str) -> float | msgspec.UnsetType:
        value = self.values.get(key)
        if not value or not value[0]:
            return UNSET
        seconds = number(value[0], self.comma, key, f"line {value[1]}")
        return seconds if seconds >= 0 else UNSET

    def _sequence(self) -> SequenceCallInfo:
        name = self._text("SoftwareName") or self.args.sequence_name or _ROOT_NAME
        version = self._text("SoftwareVersion") or self.args.sequence_version
        return SequenceCallInfo(path=name, name=name, version=version or UNSET)

    def _sub_unit(self, cells: list[str], where: str) -> None:
        part_type, pn, sn, rev = ([cell.strip() for cell in cells[1:5]] + [""] * 4)[:4]
        if not pn or not sn:
            raise FileRejected(
                "a Subunit line needs Description, PartNumber, SerialNumber (and Revision)",
                where=where,
            )
        self.sub_units.append(
            SubUnit(part_type=part_type or "Unknown", pn=pn, sn=sn, rev=rev or UNSET)
        )

    def _start(self) -> dt.datetime:
        """The start: StartDateTime with the offset UTCStartDateTime implies, else in the
        ``timezone`` argument's zone; the UTC time alone; else now.

        Raises:
            FileRejected: a time that does not parse, or two times more than 14 hours apart.
        """
        zone = zoneinfo.ZoneInfo(self.args.timezone) if self.args.timezone else None
        local_value = self.values.get("StartDateTime")
        utc_value = self.values.get("UTCStartDateTime")
        local = utc = None
        utc_where = ""
        if local_value and local_value[0]:
            local = parse_time(local_value[0], "StartDateTime", f"line {local_value[1]}")
        if utc_value and utc_value[0]:
            utc_where = f"line {utc_value[1]}"
            utc = parse_time(utc_value[0], "UTCStartDateTime", utc_where)
            utc = utc.replace(tzinfo=dt.UTC) if utc.tzinfo is None else utc.astimezone(dt.UTC)
        if local is not None and local.tzinfo is not None:
            return local
        if local is not None and utc is not None:
            offset = local - utc.replace(tzinfo=None)
            if abs(offset) > _MAX_OFFSET:
                raise FileRejected(
                    f"StartDateTime and UTCStartDateTime are {offset} apart (at most 14 hours)",
                    where=utc_where,
                )
            minutes = round(offset.total_seconds() / 60)
            return local.replace(tzinfo=dt.timezone(dt.timedelta(minutes=minutes)))
        if local is not None:
            return local.replace(tzinfo=zone) if zone is not None else local.astimezone()
        if utc is not None:
            return utc.astimezone(zone) if zone is not None else utc.astimezone()
        return dt.datetime.now(zone).astimezone(zone)


def _given(value: int | None) -> int | msgspec.UnsetType:
    return UNSET if value is None else value


def _cut(text: str) -> str:
    return text if len(text) <= _MISC_LIMIT else text[: _MISC_LIMIT - 1] + "…"
