"""The NI TestStand XML report converter: native ``Reports/Report`` and the WATS AddOn dump.

A native report (``<Reports><Report Type='UUT'>``, TestStand's default process model) and the
``<TSReport>`` dump written with the WATS TestStand AddOn both hold ``Prop Name=... Type=...``
trees. The UUT Prop gives the unit's identity, ``StationInfo`` the station, ``StartDate`` and
``StartTime`` the start, and the ``TEResult`` objects of each ``ResultList`` the steps (a
``SequenceCall`` nests its own ResultList). XML is read by :mod:`._junit_xml` (no DTD, no
entities, bounded text and depth).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from typing import ClassVar

import msgspec

from pywats_actors.report import (
    ReportBuilder,
    ReportInvalid,
    SequenceBuilder,
    StepOptions,
    UUTReport,
)

from ._errors import FileRejected
from ._junit_xml import Node, parse_xml
from ._sdk import API_VERSION, Converter, ConverterOutput

__all__ = ["TestStandArguments", "TestStandConverter"]

_NAME_LIMIT = 100
_TEXT_LIMIT = 2000
_STATUS = {
    "passed": "P",
    "failed": "F",
    "error": "E",
    "terminated": "T",
    "skipped": "S",
    "done": "D",
}
_COMP = {
    "GELE",
    "GTLT",
    "GELT",
    "GTLE",
    "LTGT",
    "LEGE",
    "LEGT",
    "LTGE",
    "EQ",
    "NE",
    "GT",
    "LT",
    "GE",
    "LE",
    "LOG",
    "CASESENSIT",
    "IGNORECASE",
}


class TestStandArguments(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Values used when a TestStand report lacks them.

    Attributes:
        part_number: the part number when the UUT has no UUTPartNumber or PartNumber.
        part_revision: the revision when the UUT has no UUTPartRevisionNumber.
        operation_type_code: the test operation when the UUT has no UUTOperationType.
        station: the machine name when StationInfo has no StationID.
        location: the station's location.
        purpose: the station's purpose.
    """

    part_number: str = "teststand"
    part_revision: str = "1.0"
    operation_type_code: int = 10
    station: str = "teststand"
    location: str = "Unknown"
    purpose: str = "Production"


class TestStandConverter(Converter[TestStandArguments]):
    """NI TestStand XML reports (native and WATS AddOn flavours) mapped to UUT reports."""

    __test__ = False  # not a pytest test class despite its name

    name: ClassVar[str] = "teststand"
    version: ClassVar[str] = "1.0"
    api_version: ClassVar[int] = API_VERSION
    patterns: ClassVar[tuple[str, ...]] = ("*.xml",)
    Arguments: ClassVar[type[msgspec.Struct]] = TestStandArguments

    def detect(self, head: bytes, name: str) -> float:
        """0.95 when the first element is ``Reports`` or ``TSReport`` and a TestStand ``Prop``
        or ``Report Type='UUT'`` follows in the head, 0.4 for the root element alone, else 0."""
        text = head[:4096].decode("latin-1").lstrip("\ufeff").lstrip("\xef\xbb\xbf")
        if _ROOT_RE.search(text) is None:
            return 0.0
        if re.search(r"<Report\s+Type=['\"]UUT|<ReportInfo\s|<Prop\s+Name=", text):
            return 0.95
        return 0.4

    def convert(
        self, data: bytes, name: str, args: TestStandArguments
    ) -> Sequence[ConverterOutput]:
        """One report per ``Report`` element (native) or per file (``TSReport``).

        Raises:
            FileRejected: not well-formed XML, a DOCTYPE, a root that is not ``Reports`` or
                ``TSReport``, no UUT report in it, or values that make an invalid report;
                ``where`` names the line.
        """
        root = parse_xml(data)
        if root.tag == "Reports":
            reports = [c for c in root.children if c.tag == "Report"]
            reports = [r for r in reports if r.attrib.get("Type", "UUT") == "UUT"]
            if not reports:
                raise FileRejected("no <Report Type='UUT'> in <Reports>", where=f"line {root.line}")
            return [_build(report, report.attrib.get("UUTResult"), args) for report in reports]
        if root.tag == "TSReport":
            return [_build(root, None, args)]
        raise FileRejected(
            f"not a TestStand XML report: the root element is <{root.tag}>, "
            "not <Reports> or <TSReport>",
            where=f"line {root.line}",
        )


_ROOT_RE = re.compile(
    r"^\s*(?:<\?xml[^>]*\?>\s*)?(?:<\?xml-stylesheet[^>]*\?>\s*)?(?:<!--.*?-->\s*)*"
    r"<(?:Reports|TSReport)[\s>]",
    re.S,
)


def _prop(node: Node | None, name: str) -> Node | None:
    if node is None:
        return None
    return next(
        (c for c in node.children if c.tag == "Prop" and c.attrib.get("Name") == name), None
    )


def _path(node: Node | None, *names: str) -> Node | None:
    for name in names:
        node = _prop(node, name)
    return node


def _value(node: Node | None) -> str | None:
    if node is None:
        return None
    value = node.find("Value")
    return None if value is None else value.text.strip()


def _text(node: Node | None, *names: str) -> str | None:
    return _value(_path(node, *names))


def _number(node: Node | None, *names: str) -> float | None:
    text = _text(node, *names)
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _cut(text: str, limit: int = _NAME_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _elements(array: Node | None) -> list[Node]:
    """The ``TEResult`` objects of a ``ResultList`` array (its ``Value`` children)."""
    if array is None:
        return []
    found: list[Node] = []
    for value in array.children:
        if value.tag == "Value":
            found.extend(c for c in value.children if c.tag == "Prop")
    return found


def _build(report: Node, result: str | None, args: TestStandArguments) -> UUTReport:
    """The report for one native ``Report`` or one ``TSReport`` element.

    Raises:
        FileRejected: no UUT Prop, or header values the report cannot hold.
    """
    where = f"line {report.line}"
    uut = _prop(report, "UUT")
    if uut is None:
        raise FileRejected("no UUT information (Prop Name='UUT')", where=where)
    info = {
        c.attrib.get("key", ""): c.attrib.get("value", "")
        for c in report.children
        if c.tag == "ReportInfo"
    }
    sn = _text(uut, "SerialNumber") or info.get("SN") or ""
    pn = _text(uut, "UUTPartNumber") or _text(uut, "PartNumber") or info.get("PN")
    rev = _text(uut, "UUTPartRevisionNumber") or info.get("Rev")
    code = _number(uut, "UUTOperationType")
    if code is None and info.get("PCode", "").isdigit():
        code = float(info["PCode"])
    station = _prop(report, "StationInfo")
    try:
        builder = ReportBuilder(
            pn=_cut(pn or args.part_number),
            sn=_cut(sn or "unknown"),
            rev=_cut(rev or args.part_revision),
            process_code=int(code) if code is not None else args.operation_type_code,
            machine_name=_cut(_text(station, "StationID") or args.station),
            location=args.location,
            purpose=args.purpose,
            operator=_text(station, "LoginName") or None,
            start=_start(report, info),
        )
    except ValueError as exc:
        raise FileRejected(f"bad report header: {exc}", where=where) from None
    comment = _text(uut, "Comment")
    if comment:
        builder.add_misc_info("Comment", text=_cut(comment, _TEXT_LIMIT))
    fixture = _text(uut, "UUT_Fixture_ID")
    if fixture:
        builder.add_misc_info("UUT_Fixture_ID", text=_cut(fixture))
    batch = _text(uut, "BatchSerialNumber")
    if batch:
        builder.add_misc_info("BatchSerialNumber", text=_cut(batch))
    tops = [c for c in report.children if c.tag == "Prop" and c.attrib.get("Type") == "TEResult"]
    exec_time = 0.0
    for top in tops:
        _add_results(builder.root, _results_of(top))
        exec_time += _number(top, "TS", "TotalTime") or 0.0
    try:
        built = builder.build(exec_time=exec_time)
    except ReportInvalid as exc:
        raise FileRejected(f"the file makes an invalid report: {exc}", where=where) from None
    wanted = _STATUS.get((result or "").lower())
    if wanted in ("P", "F", "E", "T") and built.result != wanted:
        built = msgspec.structs.replace(built, result=wanted)
    return built


def _results_of(result: Node) -> list[Node]:
    call = _path(result, "TS", "SequenceCall")
    if call is None:
        call = _prop(result, "SequenceCall")
    listed = _prop(call, "ResultList") if call is not None else _prop(result, "ResultList")
    return _elements(listed)


def _start(report: Node, info: dict[str, str]) -> dt.datetime | None:
    """The start from ReportInfo ``Start`` or StartDate/StartTime (local time taken as UTC)."""
    text = info.get("Start")
    if text:
        trimmed = re.sub(r"(\.\d{6})\d+", r"\1", text)
        try:
            moment = dt.datetime.fromisoformat(trimmed)
        except ValueError:
            moment = None
        if moment is not None:
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    date = _prop(report, "StartDate")
    time = _prop(report, "StartTime")
    parts = [
        _number(date, "Year"),
        _number(date, "Month"),
        _number(date, "MonthDay"),
        _number(time, "Hours"),
        _number(time, "Minutes"),
        _number(time, "Seconds"),
    ]
    if any(p is None for p in parts):
        return None
    y, mo, d, h, mi, s = (int(p or 0) for p in parts)
    ms = int(_number(time, "Milliseconds") or 0)
    try:
        return dt.datetime(y, mo, d, h, mi, s, ms * 1000, tzinfo=dt.UTC)
    except ValueError:
        return None


def _add_results(sequence: SequenceBuilder, results: list[Node]) -> None:
    for result in results:
        _add_step(sequence, result)


def _add_step(sequence: SequenceBuilder, result: Node) -> None:
    """One ``TEResult`` as one step (a sequence call as a sequence of its results)."""
    name = _cut(_text(result, "TS", "StepName") or "step")
    status = _STATUS.get((_text(result, "Status") or "").lower(), "D")
    options: StepOptions = {}
    total = _number(result, "TS", "TotalTime")
    if total is not None and total >= 0:
        options["tot_time"] = total
    group = (_text(result, "TS", "StepGroup") or "Main")[:1].upper()
    if group in ("S", "M", "C"):
        options["group"] = group
    text = _text(result, "ReportText")
    if text:
        options["report_text"] = _cut(text, _TEXT_LIMIT)
    call = _path(result, "TS", "SequenceCall")
    if call is not None:
        child = sequence.sequence(name, **options)
        _add_results(child, _results_of(result))
        return
    numeric = _number(result, "Numeric")
    passfail = _text(result, "PassFail")
    string = _prop(result, "String")
    try:
        if numeric is not None:
            limits = _prop(result, "Limits") or _prop(result, "RawLimits")
            comp = (_text(result, "Comp") or "").upper()
            low = _number(limits, "Low")
            high = _number(limits, "High")
            sequence.numeric(
                name,
                numeric,
                unit=_text(result, "Units") or None,
                low=low,
                high=high,
                comp_op=comp if comp in _COMP and comp != "LOG" else None,
                **options,
            )
        elif passfail is not None:
            sequence.pass_fail(name, passfail.lower() == "true", **options)
        elif string is not None:
            sequence.string(name, _cut(_value(string) or "", _TEXT_LIMIT), **options)
        else:
            sequence.generic(
                _cut(_text(result, "TS", "StepType") or "Action"),
                name,
                status=status,
                **options,
            )
    except ValueError as exc:
        raise FileRejected(f"step {name!r}: {exc}", where=f"line {result.line}") from None
