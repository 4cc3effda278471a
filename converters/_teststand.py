"""The NI TestStand XML report converter: native ``Reports/Report`` and the WATS AddOn dump.

A native report (``<Reports><Report Type='UUT'>``, TestStand's default process model) and the
``<TSReport>`` dump written with the WATS TestStand AddOn both hold ``Prop Name=... Type=...``
trees. The UUT Prop gives the unit's identity (and its misc infos and sub-units),
``StationInfo`` the station, ``ReportInfo Start`` or ``StartDate``/``StartTime`` the start, and
the top-level ``TEResult`` (the main sequence) the step tree, made by :mod:`._teststand_steps`
while the file is parsed; :mod:`._teststand_header` reads the start time and the UUT's extras.
XML is read by :mod:`._junit_xml` (no DTD, no entities, bounded text and depth).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import ClassVar

import msgspec
from msgspec import UNSET

from pywats_actors.report import (
    ReportBuilder,
    ReportInvalid,
    SequenceCallInfo,
    Step,
    UUTReport,
)

from ._check import validated
from ._errors import FileRejected
from ._junit_xml import Node, parse_xml
from ._sdk import API_VERSION, Converter, ConverterOutput
from ._teststand_header import add_uut_extras, engine_start_of, start_of, zone_of
from ._teststand_props import cut, number, prop, text
from ._teststand_steps import STEP_STATUS, StepMaker, is_result, numbered, relative_start
from ._timezone import check_timezone

__all__ = ["TestStandArguments", "TestStandConverter"]

_TEXT_LIMIT = 2000
_INT32 = 2**31 - 1
_RESULTS = ("P", "F", "E", "T")


class TestStandArguments(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Values used when a TestStand report lacks them.

    Attributes:
        part_number: the part number when the UUT has no UUTPartNumber or PartNumber.
        part_revision: the revision when the UUT has no UUTPartRevisionNumber.
        operation_type_code: the test operation when the UUT has no UUTOperationType.
        station: the machine name when StationInfo has no StationID.
        location: the station's location when StationInfo has no Location.
        purpose: the station's purpose when StationInfo has no Purpose.
        operator: the operator when StationInfo has no LoginName.
        sequence_name: the root sequence's name when the main sequence result does not say.
        sequence_version: the root sequence file's version when the result does not say.
        timezone: the IANA time zone (``Europe/Oslo``) of TestStand's local start time, which
            carries no UTC offset; ``None`` means the station's local time zone. A start with an
            offset (the AddOn's ``ReportInfo Start``) keeps its own.
    """

    part_number: str = "teststand"
    part_revision: str = "1.0"
    operation_type_code: int = 10
    station: str = "teststand"
    location: str = "Unknown"
    purpose: str = "Production"
    operator: str | None = None
    sequence_name: str = "MainSequence"
    sequence_version: str | None = None
    timezone: str | None = None

    def __post_init__(self) -> None:
        """Check the time zone.

        Raises:
            ValueError: ``timezone`` is not an IANA time zone.
        """
        check_timezone(self.timezone)


class TestStandConverter(Converter[TestStandArguments]):
    """NI TestStand XML reports (native and WATS AddOn flavours) mapped to UUT reports."""

    __test__ = False  # not a pytest test class despite its name

    name: ClassVar[str] = "teststand"
    version: ClassVar[str] = "1.1"
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
            FileRejected: an unknown ``timezone`` argument, not well-formed XML, a DOCTYPE, a
                root that is not ``Reports`` or ``TSReport``, no UUT report in it, or values
                that make an invalid report; ``where`` names the line.
        """
        zone = zone_of(args.timezone)
        reader = _Reader(args, zone)
        root = parse_xml(data, on_end=reader.on_end)
        if root.tag == "Reports":
            if not reader.reports:
                raise FileRejected("no <Report Type='UUT'> in <Reports>", where=f"line {root.line}")
            return reader.reports
        if root.tag == "TSReport":
            return [reader.build(root, None)]
        raise FileRejected(
            f"not a TestStand XML report: the root element is <{root.tag}>, "
            "not <Reports> or <TSReport>",
            where=f"line {root.line}",
        )


class _Reader:
    """Builds the reports while the file is parsed: each result becomes its step when its end
    tag is read and each native ``Report`` its UUT report, their elements then let go."""

    def __init__(self, args: TestStandArguments, zone: dt.tzinfo | None) -> None:
        self.args = args
        self.zone = zone
        self.maker = StepMaker()
        self.reports: list[UUTReport] = []
        self._steps: dict[int, tuple[Node, list[Step]]] = {}
        self._info: dict[str, str] = {}

    def on_end(self, node: Node, parent: Node | None) -> bool:
        """The parser's end-of-element hook; True drops a finished native ``Report`` (a UUT
        report, built first, or a batch report, which may hold UUT reports of its own)."""
        if parent is None:
            return False
        if node.tag == "ReportInfo" and node.attrib.get("key") in ("Start", "EngineStarted"):
            self._info[node.attrib["key"]] = node.attrib.get("value", "")
            self.maker.engine_start = engine_start_of(self._info)
            return False
        if is_result(node):
            if parent.tag == "Value":
                self.maker.finish(node)
            elif parent.tag in ("Report", "TSReport"):
                self._steps[id(node)] = (node, self.maker.collect(node))
            return False
        if node.tag == "Report" and parent.tag in ("Reports", "Report"):  # also in a batch
            if node.attrib.get("Type", "UUT") == "UUT":
                self.reports.append(self.build(node, node.attrib.get("UUTResult")))
            return True
        return False

    def build(self, report: Node, result: str | None) -> UUTReport:
        """The UUT report of one native ``Report`` or ``TSReport`` element.

        Raises:
            FileRejected: no UUT Prop, or values the report cannot hold.
        """
        tops = [c for c in report.children if is_result(c)]
        steps: list[Step] = []
        for top in tops:
            entry = self._steps.pop(id(top), None)
            if entry is not None and entry[0] is top:
                steps.extend(entry[1])
        return _build(report, result, self.args, self.zone, tops, steps)


_ROOT_RE = re.compile(
    r"^\s*(?:<\?xml[^>]*\?>\s*)?(?:<\?xml-stylesheet[^>]*\?>\s*)?(?:<!--.*?-->\s*)*"
    r"<(?:Reports|TSReport)[\s>]",
    re.S,
)


def _build(
    report: Node,
    result: str | None,
    args: TestStandArguments,
    zone: dt.tzinfo | None,
    tops: list[Node],
    steps: list[Step],
) -> UUTReport:
    """The report for one native ``Report`` or one ``TSReport`` element, whose top-level
    results (``tops``, their lists emptied) held ``steps``.

    Raises:
        FileRejected: no UUT Prop, or header values the report cannot hold.
    """
    where = f"line {report.line}"
    uut = prop(report, "UUT")
    if uut is None:
        raise FileRejected("no UUT information (Prop Name='UUT')", where=where)
    info = {
        c.attrib.get("key", ""): c.attrib.get("value", "")
        for c in report.children
        if c.tag == "ReportInfo"
    }
    sn = text(uut, "SerialNumber") or info.get("SN") or ""
    pn = text(uut, "UUTPartNumber") or text(uut, "PartNumber") or info.get("PN")
    rev = text(uut, "UUTPartRevisionNumber") or info.get("Rev")
    code = number(uut, "UUTOperationType")
    if code is None and info.get("PCode", "").isdigit():
        code = float(info["PCode"])
    station = prop(report, "StationInfo")
    socket = number(uut, "TestSocketIndex")
    try:
        builder = ReportBuilder(
            pn=cut(pn or args.part_number),
            sn=cut(sn or "unknown"),
            rev=cut(rev or args.part_revision),
            process_code=int(code) if code is not None else args.operation_type_code,
            machine_name=cut(text(station, "StationID") or args.station),
            location=cut(text(station, "Location") or args.location),
            purpose=cut(text(station, "Purpose") or args.purpose),
            operator=text(station, "LoginName") or args.operator,
            start=start_of(report, info, zone),
            comment=cut(text(uut, "Comment") or "", _TEXT_LIMIT) or None,
            fixture_id=cut(text(uut, "UUT_Fixture_ID") or "") or None,
            batch_sn=cut(text(uut, "BatchSerialNumber") or "") or None,
            test_socket_index=int(socket) if socket is not None and -1 <= socket < _INT32 else None,
        )
    except ValueError as exc:
        raise FileRejected(f"bad report header: {exc}", where=where) from None
    add_uut_extras(builder, uut, station)
    main = tops[0] if tops else None
    wanted = STEP_STATUS.get((result or text(main, "Status") or "").lower())
    outcome = wanted if wanted in _RESULTS else None
    if outcome is None:
        statuses = {step.status for child in steps for step in child.walk()}
        outcome = next((s for s in ("T", "E", "F") if s in statuses), "P")
    children, failed = numbered(steps, mark_failure=outcome != "P")
    try:
        built = builder.build(exec_time=sum(number(t, "TS", "TotalTime") or 0.0 for t in tops))
    except ReportInvalid as exc:
        raise FileRejected(f"the file makes an invalid report: {exc}", where=where) from None
    built = msgspec.structs.replace(
        built,
        result=outcome,
        root=_root(built.root, main, children, outcome, args, engine_start_of(info)),
        uut=msgspec.structs.replace(
            built.uut,
            step_id_caused_uut_failure=UNSET if failed is None else failed,
            batch_loop_index=_count(number(uut, "UUTLoopIndex")),
            batch_fail_count=_count(number(uut, "BatchFailCount")),
            **_error(main),
        ),
    )
    try:
        return validated(built)
    except ReportInvalid as exc:
        problem = exc.problems[0]
        raise FileRejected(
            f"the file makes an invalid report: {problem.message} ({problem.path})", where=where
        ) from None


def _count(raw: float | None) -> int | object:
    return int(raw) if raw is not None and 0 <= raw < _INT32 else UNSET


def _error(main: Node | None) -> dict[str, object]:
    """The main sequence's error (``Error.Code``/``Msg`` when ``Occurred``) for the uut block."""
    error = prop(main, "Error")
    code = number(error, "Code")
    occurred = (text(error, "Occurred") or "").lower() == "true" or bool(code)
    if not occurred:
        return {}
    message = text(error, "Msg")
    return {
        "error_code": int(code) if code is not None and abs(code) < _INT32 else UNSET,
        "error_message": cut(message, _TEXT_LIMIT) if message else UNSET,
    }


def _root(
    template: Step,
    main: Node | None,
    children: list[Step],
    status: str,
    args: TestStandArguments,
    engine_start: dt.datetime | None,
) -> Step:
    """The root step: the main sequence call (its name, sequence file and version) holding
    the steps, with the report's result as its status."""
    call = prop(main, "TS", "SequenceCall")
    name = cut(text(main, "TS", "StepName") or template.name)
    total = number(main, "TS", "TotalTime")
    version = text(call, "SequenceFileVersion") or args.sequence_version
    return msgspec.structs.replace(
        template,
        name=name,
        status=status,
        start=relative_start(engine_start, number(main, "TS", "StartTime")),
        tot_time=total if total is not None and total >= 0 else UNSET,
        seq_call=SequenceCallInfo(
            path=cut(text(call, "SequenceFile") or name, 500),
            name=cut(text(call, "Sequence") or args.sequence_name),
            version=cut(version, 30) if version else UNSET,
        ),
        steps=tuple(children),
    )
