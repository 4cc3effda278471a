"""The ATML (IEEE 1636.1 test results) converter, as NI TestStand writes them: 2.02, 5.00, 6.01.

Each ``TestResults`` element is one UUT report: a 2.02 file is one ``TestResults``; a 5.00 or
6.01 file is a ``TestResultsCollection`` of one or more (a batch or parallel run holds one per
test socket). :mod:`._atml_xml` reads them one at a time, matching local names whatever the
version's namespaces; :mod:`._atml_steps` maps the ``ResultSet``'s steps. The header maps:
``Personnel/SystemOperator`` is the operator, ``UUT/.../IdentificationNumber@number`` the part
number, ``UUT/SerialNumber`` the serial number, ``TestStation/SerialNumber`` the station,
``ResultSet@startDateTime``/``@endDateTime`` the start and execution time,
``ts:TSResultSetProperties`` the batch serial number and test socket, and the UUT's and
station's ``AdditionalData`` collections misc infos.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import uuid
import zoneinfo
from collections.abc import Iterator, Sequence
from typing import ClassVar

import msgspec
from msgspec import UNSET

from pywats_actors.report import (
    MiscInfo,
    ReportInvalid,
    ReportResult,
    SequenceCallInfo,
    Step,
    StepStatus,
    UUTInfo,
    UUTReport,
    format_timestamp,
)

from ._atml_steps import StepContext, caller_name, sequence_step, settled, split_sequence
from ._atml_values import cut, datum_kind, datum_number, datum_text, number, outcome_status
from ._atml_xml import AtmlNode, is_atml_namespace, iter_test_results
from ._check import validated
from ._errors import FileRejected
from ._sdk import API_VERSION, Converter, ConverterOutput
from ._timezone import check_timezone

__all__ = ["AtmlArguments", "AtmlConverter"]

_NO_SERIAL = frozenset({"", "NONE", "NA", "N/A"})
_MISC_LIMIT = 100
_MAX_MISC = 200
_RESULTS = {
    StepStatus.PASSED: ReportResult.PASSED,
    StepStatus.FAILED: ReportResult.FAILED,
    StepStatus.ERROR: ReportResult.ERROR,
    StepStatus.TERMINATED: ReportResult.TERMINATED,
}
_ROOT_TAG_RE = re.compile(
    r"^\s*(?:<\?[^>]*\?>\s*|<!--.*?-->\s*)*<(?:(?P<prefix>[\w.-]+):)?(?P<local>[\w.-]+)(?P<rest>[^>]*)>",
    re.S,
)
_XMLNS_RE = re.compile(r"""xmlns(?::(?P<prefix>[\w.-]+))?\s*=\s*(?P<q>["'])(?P<uri>.*?)(?P=q)""")


class AtmlArguments(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Values an ATML file may lack (what the file says wins), and its time zone.

    Attributes:
        part_number: the part number when the UUT has no ``IdentificationNumber``.
        serial_number: the serial number when the UUT's is missing, empty or TestStand's
            ``NONE``; without it such a UUT gets its ``TestResults@uuid`` (TestStand writes one
            per UUT result, so the units of a batch stay apart), else ``NA``.
        revision: the part revision (ATML has none).
        process_code: the test operation code.
        operator: the operator when ``Personnel`` names none.
        station: the machine name when ``TestStation`` has no serial number (default: this
            computer's host name).
        location: the station's location.
        purpose: the station's purpose.
        sequence_name: the root sequence name (default: from ``ResultSet@name``).
        sequence_version: the root sequence version (default: the file's ``SeqFileVersion``).
        timezone: the IANA zone of times written without an offset (TestStand writes local
            time); ``None`` means the station's local zone. A time with an offset keeps it.
    """

    part_number: str = "atml"
    serial_number: str | None = None
    revision: str = "1"
    process_code: int = 10
    operator: str | None = None
    station: str | None = None
    location: str = "Unknown"
    purpose: str = "Production"
    sequence_name: str | None = None
    sequence_version: str | None = None
    timezone: str | None = None

    def __post_init__(self) -> None:
        """Check the time zone.

        Raises:
            ValueError: ``timezone`` is not an IANA time zone.
        """
        check_timezone(self.timezone)


class AtmlConverter(Converter[AtmlArguments]):
    """ATML / IEEE 1636.1 test results (TestStand 2.02, 5.00, 6.01): one UUT report per
    ``TestResults`` element."""

    name: ClassVar[str] = "atml"
    version: ClassVar[str] = "1.0"
    api_version: ClassVar[int] = API_VERSION
    patterns: ClassVar[tuple[str, ...]] = ("*.xml", "*.XML")
    Arguments: ClassVar[type[msgspec.Struct]] = AtmlArguments

    def detect(self, head: bytes, name: str) -> float:
        """0.95 when the root element is ``TestResults`` or ``TestResultsCollection`` in an
        IEEE 1636.1 namespace (``http://www.ieee.org/ATML/...`` or ``urn:IEEE-1636.1:...``,
        declared on the root), 0.3 for that root name in another or no namespace, else 0."""
        if head[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 with its byte order mark
            text = head[:16384].decode("utf-16", errors="ignore").lstrip("\ufeff")
        else:
            text = head[:8192].decode("latin-1").lstrip("\ufeff").lstrip("\xef\xbb\xbf")
        match = _ROOT_TAG_RE.match(text)
        if match is None or match["local"] not in ("TestResults", "TestResultsCollection"):
            return 0.0
        prefix = match["prefix"] or None
        for found in _XMLNS_RE.finditer(match["rest"]):
            if (found["prefix"] or None) == prefix and is_atml_namespace(found["uri"]):
                return 0.95
        return 0.3

    def convert(self, data: bytes, name: str, args: AtmlArguments) -> Sequence[ConverterOutput]:
        """One report per ``TestResults`` element: the reports :meth:`convert_iter` yields.

        Raises:
            FileRejected: see :meth:`convert_iter`.
        """
        return list(self.convert_iter(data, name, args))

    def convert_iter(self, data: bytes, name: str, args: AtmlArguments) -> Iterator[UUTReport]:
        """Each ``TestResults`` element's report, built and yielded as soon as it is read.

        Raises:
            FileRejected: not well-formed XML (a truncated file), a DOCTYPE, a root that is
                not ATML test results (the wrong namespace included), a ``TestResults``
                without a ``ResultSet``, or values that make an
                invalid report; ``where`` names the line.
        """
        # the name was checked with the arguments (converters._timezone)
        tz = zoneinfo.ZoneInfo(args.timezone) if args.timezone is not None else None
        for results in iter_test_results(data):
            yield _report(results, args, tz)


def _report(results: AtmlNode, args: AtmlArguments, tz: dt.tzinfo | None) -> UUTReport:
    """The report of one ``TestResults`` element.

    Raises:
        FileRejected: no ``ResultSet``, or values that make an invalid report.
    """
    where = f"line {results.line}"
    result_set = results.find("ResultSet")
    if result_set is None:
        raise FileRejected("a <TestResults> without a <ResultSet>", where=where)
    ctx = StepContext(tz)
    main = _main(result_set)
    root = sequence_step(main, ctx, args.sequence_version)
    path, sequence = split_sequence(main.attrib.get("name") or result_set.attrib.get("name", ""))
    info = SequenceCallInfo(
        path=cut(path, 500) if path else UNSET,
        name=cut(args.sequence_name or sequence or "MainSequence"),
        version=root.seq_call.version if isinstance(root.seq_call, SequenceCallInfo) else UNSET,
    )
    caller = main.attrib.get("callerName") or caller_name(main) or "MainSequence Callback"
    root = msgspec.structs.replace(root, name=cut(caller), seq_call=info, group="M")
    own = outcome_status(result_set.find("Outcome")) or outcome_status(main.find("Outcome"))
    result = _RESULTS.get(own) if own is not None else None
    if result is None:
        result = _RESULTS.get(StepStatus(_worst(root)), ReportResult.PASSED)
    root = settled(msgspec.structs.replace(root, status=result.value, caused_seq_failure=UNSET))
    root, failed = _numbered(root, result == ReportResult.FAILED)
    start = ctx.moment(result_set.attrib.get("startDateTime")) or dt.datetime.now().astimezone()
    end = ctx.moment(result_set.attrib.get("endDateTime"))
    exec_time = max((end - start).total_seconds(), 0.0) if end is not None else None
    props = results.find("Extension", "TSResultSetProperties")
    batch = _prop(props, "BatchSerialNumber")
    socket_number = number(_prop(props, "TestSocketIndex"))
    in_range = socket_number is not None and 0 <= socket_number < 2**31  # not NaN either
    socket_index = int(socket_number) if in_range and socket_number is not None else None
    uut = results.find("UUT")
    operator = results.find("Personnel", "SystemOperator")
    report = UUTReport(
        id=uuid.uuid4(),  # the pool replaces it with the deterministic id
        pn=cut(_part_number(uut) or args.part_number),
        sn=cut(_serial(uut, results, args)),
        rev=cut(args.revision),
        process_code=args.process_code,
        result=result.value,
        machine_name=cut(_station(results) or args.station or socket.gethostname()),
        location=args.location,
        purpose=args.purpose,
        start=format_timestamp(start),
        start_utc=format_timestamp(start, utc=True),
        root=root,
        uut=UUTInfo(
            user=_operator(operator) or args.operator or UNSET,
            batch_sn=cut(batch) if batch else UNSET,
            test_socket_index=UNSET if socket_index is None else socket_index,
            exec_time=UNSET if exec_time is None else exec_time,
            step_id_caused_uut_failure=UNSET if failed is None else failed,
        ),
        misc_infos=_misc_infos(results) or UNSET,
    )
    try:
        return validated(report)
    except ReportInvalid as exc:
        problem = exc.problems[0]
        raise FileRejected(
            f"the TestResults make an invalid report: {problem.message} ({problem.path})",
            where=where,
        ) from None


def _main(result_set: AtmlNode) -> AtmlNode:
    """The element whose steps are the main sequence's: the ``ResultSet`` itself (5.00, 6.01),
    or the single ``TestGroup`` a 2.02 ``ResultSet`` wraps them in."""
    steps = [c for c in result_set.children if c.tag in ("TestGroup", "Test", "SessionAction")]
    # 2.02: ResultSet@name is the sequence file, its one group's name "<that file>#<sequence>".
    wrapped = len(steps) == 1 and steps[0].tag == "TestGroup"
    file_name = result_set.attrib.get("name", "") + "#"
    if wrapped and result_set.find("Extension", "TSStepProperties") is None:
        return steps[0] if steps[0].attrib.get("name", "").startswith(file_name) else result_set
    return result_set


def _worst(root: Step) -> str:
    seen = {child.status for child in root.children}
    for status in (StepStatus.TERMINATED, StepStatus.ERROR, StepStatus.FAILED):
        if status in seen:
            return status.value
    return StepStatus.PASSED.value


def _numbered(root: Step, failed: bool) -> tuple[Step, int | None]:
    """``root`` with ids numbered depth-first from 1, and (when the report failed) the first
    failed leaf step marked as the cause of the UUT failure; also that step's id."""
    ids = iter(range(1, 1 << 31))
    cause: list[int] = []

    def number_step(step: Step) -> Step:
        own = next(ids)
        if isinstance(step.steps, tuple):  # a sequence call (maybe empty), not a leaf
            children = tuple(number_step(child) for child in step.children)
            return msgspec.structs.replace(step, id=own, steps=children)
        if failed and not cause and step.status == StepStatus.FAILED:
            cause.append(own)
            return msgspec.structs.replace(step, id=own, caused_uut_failure=True)
        return msgspec.structs.replace(step, id=own)

    numbered = number_step(root)
    return numbered, (cause[0] if cause else None)


def _text(node: AtmlNode | None) -> str:
    return node.text.strip() if node is not None else ""


def _prop(props: AtmlNode | None, tag: str) -> str | None:
    found = props.find(tag) if props is not None else None
    if found is None:
        return None
    return (found.attrib.get("value") or found.text).strip() or None


def _station(results: AtmlNode) -> str:
    return _text(results.find("TestStation", "SerialNumber"))


def _operator(operator: AtmlNode | None) -> str | None:
    if operator is None:
        return None
    said = operator.attrib.get("ID") or operator.attrib.get("name") or ""
    return cut(said.strip()) or None


def _part_number(uut: AtmlNode | None) -> str | None:
    numbers = uut.find("Definition", "Identification", "IdentificationNumbers") if uut else None
    for found in numbers.findall("IdentificationNumber") if numbers is not None else ():
        said = found.attrib.get("number", "").strip()
        if said and found.attrib.get("type", "Part").lower() in ("part", ""):
            return said
    return None


def _serial(uut: AtmlNode | None, results: AtmlNode, args: AtmlArguments) -> str:
    """The UUT's serial number, or the documented fallback when it is missing or ``NONE``."""
    said = _text(uut.find("SerialNumber") if uut is not None else None)
    if said.upper() not in _NO_SERIAL:
        return said
    if args.serial_number:
        return args.serial_number
    return results.attrib.get("uuid", "").strip() or "NA"


def _misc_infos(results: AtmlNode) -> tuple[MiscInfo, ...]:
    """The UUT's and the station's ``AdditionalData`` items, flattened to ``a.b`` names."""
    found: list[MiscInfo] = []
    for owner in (results.find("UUT", "Definition"), results.find("TestStation", "Definition")):
        extension = owner.find("Extension") if owner is not None else None
        if extension is None:
            continue
        for item in _additional_data(extension):
            collection = item.find("Collection")
            if collection is not None:
                _flatten(collection, "", found)
    return tuple(found[:_MAX_MISC])


def _additional_data(extension: AtmlNode) -> list[AtmlNode]:
    items: list[AtmlNode] = []
    for holder in (
        extension.find("TSCollection"),
        extension.find("TSAdditionalData", "TSCollection"),
    ):
        if holder is not None:
            items += [i for i in holder.findall("Item") if i.attrib.get("name") == "AdditionalData"]
    return items


def _flatten(collection: AtmlNode, prefix: str, found: list[MiscInfo]) -> None:
    for item in collection.findall("Item"):
        name = f"{prefix}{item.attrib.get('name', '')}"
        inner = item.find("Collection")
        if inner is not None:
            _flatten(inner, f"{name}.", found)
            continue
        datum = item.find("Datum")
        if datum is None:
            continue
        text = datum_text(datum).strip()
        numeric = datum_number(datum) if datum_kind(datum) == "number" else None
        whole = (
            int(numeric)
            if numeric is not None and numeric.is_integer() and abs(numeric) < 2**31
            else None
        )
        found.append(
            MiscInfo(
                description=cut(name, _MISC_LIMIT),
                text=cut(text, _MISC_LIMIT) if text else UNSET,
                numeric=UNSET if whole is None else whole,
            )
        )
