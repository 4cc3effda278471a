"""The JUnit / xUnit XML converter: pytest (xunit1, xunit2) and Jenkins test results.

A ``<testsuites>`` document or a bare ``<testsuite>`` becomes one UUT report (or one per
top-level suite with ``report_per_suite``). Each suite is a sequence, the test cases of one
``classname`` a sequence inside it, each test case a step; nested suites (Jenkins) nest as
sequences. The unit's identity, limits and measurements come from ``<properties>`` by the
convention in ``docs/converters.md`` (what pytest's ``record_testsuite_property`` and
``record_property`` write). XML is read by :mod:`._junit_xml` (no DTD, no entities).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Annotated, ClassVar

import msgspec

from pywats_actors.report import (
    ReportBuilder,
    ReportInvalid,
    ReportResult,
    Step,
    StepStatus,
    UUTReport,
)

from ._errors import FileRejected
from ._junit_steps import add_suite, cut, properties, seconds, testcases
from ._junit_xml import Node, parse_xml
from ._sdk import API_VERSION, Converter, ConverterOutput

__all__ = ["JunitArguments", "JunitConverter"]

_HEADER_KEYS = ("serial_number", "part_number", "revision", "process_code", "operator")
_MORE_HEADER_KEYS = ("station", "location", "purpose")
_MISC_LIMIT = 20  # other suite properties kept as misc infos


class JunitArguments(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a JUnit file maps to UUT reports (values used when the file's properties lack them).

    Attributes:
        serial_number: the unit's serial number; overrides the ``serial_number`` property.
        serial_number_pattern: a regular expression searched in the file name when there is no
            serial number from the arguments or properties; its group ``sn`` (or group 1, or the
            whole match) is the serial number. Without a match, the file name without its
            extension is the serial number.
        part_number: the part number when the file has no ``part_number`` property.
        revision: the revision when the file has no ``revision`` property.
        process_code: the test operation when the file has no ``process_code`` property.
        station: the machine name when the file has no ``station`` property (then the
            suite's ``hostname``, then ``"junit"``).
        location: ``location`` when the file has no ``location`` property.
        purpose: ``purpose`` when the file has no ``purpose`` property.
        operator: the operator when the file has no ``operator`` property.
        report_per_suite: one report per top-level ``testsuite`` (each with its own
            properties) instead of one per file.
        max_text: characters kept of a failure's message and text in a step's report text.
    """

    serial_number: str | None = None
    serial_number_pattern: str | None = None
    part_number: str = "junit"
    revision: str = "1"
    process_code: int = 10
    station: str | None = None
    location: str = "Unknown"
    purpose: str = "Production"
    operator: str | None = None
    report_per_suite: bool = False
    max_text: Annotated[int, msgspec.Meta(ge=20)] = 2000

    def __post_init__(self) -> None:
        """Check the pattern compiles.

        Raises:
            ValueError: ``serial_number_pattern`` is not a regular expression (reported by
                msgspec as a validation error of the arguments).
        """
        if self.serial_number_pattern is not None:
            try:
                re.compile(self.serial_number_pattern)
            except re.error as exc:
                raise ValueError(f"serial_number_pattern: {exc}") from None


class JunitConverter(Converter[JunitArguments]):
    """JUnit / xUnit XML (pytest ``--junitxml``, Jenkins, ...) mapped to UUT reports."""

    name: ClassVar[str] = "junit"
    version: ClassVar[str] = "1.0"
    api_version: ClassVar[int] = API_VERSION
    patterns: ClassVar[tuple[str, ...]] = ("*.xml",)
    Arguments: ClassVar[type[msgspec.Struct]] = JunitArguments

    def detect(self, head: bytes, name: str) -> float:
        """0.95 when the first element is ``testsuites`` or ``testsuite`` and a ``testcase``
        or a suite attribute (``tests=``) follows, 0.7 for the root element alone, else 0."""
        text = head[:4096].decode("utf-8", "replace").lstrip("\ufeff")
        match = _ROOT_RE.search(text)
        if match is None:
            return 0.0
        if "<testcase" in text or re.search(r"\btests\s*=", text) is not None:
            return 0.95
        return 0.7

    def convert(self, data: bytes, name: str, args: JunitArguments) -> Sequence[ConverterOutput]:
        """One report per file (or per top-level suite with ``report_per_suite``).

        Raises:
            FileRejected: not well-formed XML, a DOCTYPE, a root that is not ``testsuites`` or
                ``testsuite``, no test case, or header values that make an invalid report;
                ``where`` names the line.
        """
        root = parse_xml(data)
        if root.tag == "testsuite":
            suites = [root]
        elif root.tag == "testsuites":
            suites = [child for child in root.children if child.tag == "testsuite"]
        else:
            raise FileRejected(
                f"not JUnit XML: the root element is <{root.tag}>, not <testsuites> or <testsuite>",
                where=f"line {root.line}",
            )
        if not any(testcases(suite) for suite in suites):
            raise FileRejected("no <testcase> in the file", where=f"line {root.line}")
        groups = [[suite] for suite in suites] if args.report_per_suite else [suites]
        return [_build(group, name, args) for group in groups if any(map(testcases, group))]


_ROOT_RE = re.compile(r"^\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*<testsuites?[\s>/]", re.S)


def _build(suites: list[Node], name: str, args: JunitArguments) -> UUTReport:
    """The report for ``suites``: header from their properties and arguments, then steps.

    Raises:
        FileRejected: a header value the report cannot hold (``where`` is the first suite's line).
    """
    first = suites[0]
    props: dict[str, str] = {}
    for suite in reversed(suites):
        props.update(properties(suite))
    where = f"line {first.line}"
    process = props.get("process_code")
    try:
        process_code = int(process) if process is not None else args.process_code
    except ValueError:
        raise FileRejected(f"process_code {process!r} is not an integer", where=where) from None
    try:
        builder = ReportBuilder(
            pn=cut(props.get("part_number") or args.part_number),
            sn=cut(_serial(props, name, args)),
            rev=cut(props.get("revision") or args.revision),
            process_code=process_code,
            machine_name=cut(
                props.get("station") or args.station or first.attrib.get("hostname") or "junit"
            ),
            location=props.get("location") or args.location,
            purpose=props.get("purpose") or args.purpose,
            operator=props.get("operator") or args.operator,
            start=_start(first),
        )
    except ValueError as exc:
        raise FileRejected(f"bad report header: {exc}", where=where) from None
    misc = [k for k in props if k not in _HEADER_KEYS and k not in _MORE_HEADER_KEYS]
    for key in misc[:_MISC_LIMIT]:
        builder.add_misc_info(cut(key), text=cut(props[key]))
    exec_time = 0.0
    for suite in suites:
        if testcases(suite):
            add_suite(builder.root, suite, args.max_text)
        exec_time += seconds(suite.attrib.get("time")) or 0.0
    try:
        report = builder.build(exec_time=exec_time)
    except ReportInvalid as exc:
        raise FileRejected(f"the file makes an invalid report: {exc}", where=where) from None
    if report.result == ReportResult.ERROR and _any_failed(report.root):
        # JUnit's rule, not TestStand's: a failed test fails the unit (and each sequence that
        # holds it) even when another test errored.
        report = msgspec.structs.replace(
            report, root=_failed_wins(report.root), result=ReportResult.FAILED.value
        )
    return report


def _any_failed(step: Step) -> bool:
    """Whether a leaf step under ``step`` (or ``step`` itself, a leaf) failed."""
    children = step.steps
    if not children:
        return step.status == StepStatus.FAILED
    return any(_any_failed(child) for child in children)


def _failed_wins(step: Step) -> Step:
    """``step`` with every sequence holding a failed leaf marked failed rather than in error."""
    children = step.steps
    if not children or not _any_failed(step):
        return step
    return msgspec.structs.replace(
        step,
        status=StepStatus.FAILED.value,
        steps=tuple(_failed_wins(child) for child in children),
    )


def _serial(props: dict[str, str], name: str, args: JunitArguments) -> str:
    if args.serial_number:
        return args.serial_number
    if props.get("serial_number"):
        return props["serial_number"]
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if args.serial_number_pattern:
        match = re.search(args.serial_number_pattern, base)
        if match is not None:
            if "sn" in match.groupdict():
                return match["sn"]
            return match[1] if match.re.groups else match[0]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return stem or "unknown"


def _start(suite: Node) -> dt.datetime | None:
    """The suite's ``timestamp`` (a naive one is taken as UTC), or None (now)."""
    text = suite.attrib.get("timestamp")
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
