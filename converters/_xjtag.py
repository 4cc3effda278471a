"""The XJTAG boundary-scan converter: ``.xjlog`` archives and plain XJTAG XML run logs.

An ``.xjlog`` is a zip holding ``Run N.xml`` (one per test run), ``Run N.checksum`` and
``Info.xml`` (the project path); a plain log is one ``<testrun>`` document. Each run becomes
one UUT report: each ``<testgroup>`` a sequence, each ``<testfunction>`` a step whose status is
its ``<result value=...>``. The archive is read in memory with bounds on member count and total
uncompressed size; member names are only matched, never used as paths; encrypted members or
unknown compression are refused. XML is read by :mod:`._junit_xml` (no DTD, no entities).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Sequence
from typing import Annotated, ClassVar

import msgspec

from pywats_actors.report import (
    ReportBuilder,
    ReportInvalid,
    SequenceBuilder,
    StepOptions,
    UUTReport,
)

from ._errors import FileRejected
from ._junit_steps import cut
from ._junit_xml import Node, parse_xml
from ._sdk import API_VERSION, Converter, ConverterOutput

__all__ = ["XjtagArguments", "XjtagConverter"]

_MAX_MEMBERS = 256
_MAX_TOTAL = 64 * 1024 * 1024  # bytes uncompressed, all members read together
_RUN_RE = re.compile(r"^Run (\d+)\.xml$")
_SERIAL_RE = re.compile(r"Serial number set to (\S+)")
_FAILED = {"failed", "fail"}
_SKIPPED = {"skipped", "notrun", "not run"}


class XjtagArguments(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How an XJTAG log maps to UUT reports.

    Attributes:
        serial_number: the unit's serial number; otherwise the last "Serial number set to X"
            line of the log, otherwise the file name without its extension.
        part_number: the part number when the archive's ``Info.xml`` names no project (the
            project file's name without extension is used when it does).
        revision: the revision.
        process_code: the test operation.
        station: the machine name.
        location: the report's location.
        purpose: the report's purpose.
        operator: the operator, if any.
        max_text: characters kept of a test function's user text in its report text.
    """

    serial_number: str | None = None
    part_number: str = "xjtag"
    revision: str = "1"
    process_code: int = 10
    station: str = "xjtag"
    location: str = "Unknown"
    purpose: str = "Production"
    operator: str | None = None
    max_text: Annotated[int, msgspec.Meta(ge=20)] = 2000


class XjtagConverter(Converter[XjtagArguments]):
    """XJTAG ``.xjlog`` archives and XJTAG XML run logs mapped to UUT reports."""

    name: ClassVar[str] = "xjtag"
    version: ClassVar[str] = "1.0"
    api_version: ClassVar[int] = API_VERSION
    patterns: ClassVar[tuple[str, ...]] = ("*.xjlog", "*.xml")
    Arguments: ClassVar[type[msgspec.Struct]] = XjtagArguments

    def detect(self, head: bytes, name: str) -> float:
        """0.95 for a zip naming ``Run N.xml`` or a ``<testrun>`` root followed by a
        ``<testgroup>``; 0.6 for a zip named ``*.xjlog`` or a bare ``<testrun>`` root; else 0."""
        if head.startswith(b"PK\x03\x04"):
            if re.search(rb"Run \d+\.xml", head[:4096]):
                return 0.95
            return 0.6 if name.lower().endswith(".xjlog") else 0.0
        text = head[:4096].decode("utf-8", "replace").lstrip("\ufeff")
        if _ROOT_RE.search(text) is None:
            return 0.0
        return 0.95 if "<testgroup" in text else 0.6

    def convert(self, data: bytes, name: str, args: XjtagArguments) -> Sequence[ConverterOutput]:
        """One report per run (an archive may hold several).

        Raises:
            FileRejected: a damaged, encrypted or oversized archive (``where`` names the
                member), not well-formed XML or a DOCTYPE, a root that is not ``testrun``, no
                test function, or header values that make an invalid report.
        """
        if data.startswith(b"PK"):
            runs, project = _unzip(data)
        else:
            runs, project = [(name, data)], None
        part = args.part_number
        if project:
            stem = project.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
            part = stem or part
        return [_build(_root(blob, where), name, where, part, args) for where, blob in runs]


_ROOT_RE = re.compile(r"^\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*<testrun[\s>/]", re.S)


def _unzip(data: bytes) -> tuple[list[tuple[str, bytes]], str | None]:
    """The archive's runs (in run order) and ``Info.xml``'s project path.

    Raises:
        FileRejected: not a readable zip, too many members, too much uncompressed data, an
            encrypted member, unknown compression, or no ``Run N.xml``.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise FileRejected(f"not a readable .xjlog (zip) archive: {exc}", where="archive") from None
    if len(infos) > _MAX_MEMBERS:
        raise FileRejected(f"more than {_MAX_MEMBERS} archive members", where="archive")
    wanted: list[tuple[int, zipfile.ZipInfo]] = []
    info_member: zipfile.ZipInfo | None = None
    for info in infos:
        match = _RUN_RE.match(info.filename)
        if match is not None:
            wanted.append((int(match[1]), info))
        elif info.filename == "Info.xml":
            info_member = info
    if not wanted:
        raise FileRejected("the archive holds no 'Run N.xml' member", where="archive")
    budget = [_MAX_TOTAL]
    runs = [(f"member {i.filename!r}", _read(archive, i, budget)) for _, i in sorted(wanted)]
    project = None
    if info_member is not None:
        info_root = _root(_read(archive, info_member, budget), "member 'Info.xml'", "LogFileInfo")
        node = info_root.find("ProjectPath")
        project = node.text.strip() if node is not None else None
    return runs, project


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: list[int]) -> bytes:
    """The member's bytes, counted against ``budget`` (what is left of the total allowed).

    Raises:
        FileRejected: encrypted, unknown compression, damaged, or over the budget.
    """
    where = f"member {info.filename!r}"
    if info.flag_bits & 0x1:
        raise FileRejected("encrypted archive members are not supported", where=where)
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise FileRejected(f"unsupported compression method {info.compress_type}", where=where)
    if info.file_size > budget[0]:
        raise FileRejected(f"the archive expands to more than {_MAX_TOTAL} bytes", where=where)
    try:
        with archive.open(info) as stream:
            blob = stream.read(budget[0] + 1)  # never trust the declared size alone
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise FileRejected(f"damaged archive member: {exc}", where=where) from None
    if len(blob) > budget[0]:
        raise FileRejected(f"the archive expands to more than {_MAX_TOTAL} bytes", where=where)
    budget[0] -= len(blob)
    return blob


def _root(blob: bytes, where: str, tag: str = "testrun") -> Node:
    """The parsed document, whose root must be ``tag``.

    Raises:
        FileRejected: bad XML or another root; ``where`` names the member (if any) and line.
    """
    try:
        root = parse_xml(blob)
    except FileRejected as exc:
        raise FileRejected(exc.reason, where=f"{where}, {exc.where}") from None
    if root.tag != tag:
        raise FileRejected(
            f"not an XJTAG log: the root element is <{root.tag}>, not <{tag}>",
            where=f"{where}, line {root.line}",
        )
    return root


def _build(run: Node, name: str, where: str, part: str, args: XjtagArguments) -> UUTReport:
    """The report for one ``<testrun>``.

    Raises:
        FileRejected: no test function, or a header or step the report cannot hold.
    """
    groups = [g for g in run.children if g.tag == "testgroup"]
    if not any(f.tag == "testfunction" for g in groups for f in g.children):
        raise FileRejected("no <testfunction> in the run", where=f"{where}, line {run.line}")
    try:
        builder = ReportBuilder(
            pn=cut(part),
            sn=cut(args.serial_number or _serial(run) or _stem(name)),
            rev=cut(args.revision),
            process_code=args.process_code,
            machine_name=cut(args.station),
            location=args.location,
            purpose=args.purpose,
            operator=args.operator,
            start=_start(run.attrib.get("datetime")),
        )
        total = 0.0
        for group in groups:
            sequence = builder.root.sequence(cut(group.attrib.get("name") or "testgroup"))
            for function in group.children:
                if function.tag == "testfunction":
                    total += _add_function(sequence, function, args.max_text)
        return builder.build(exec_time=total)
    except (ValueError, ReportInvalid) as exc:
        raise FileRejected(f"the run makes an invalid report: {exc}", where=where) from None


def _add_function(sequence: SequenceBuilder, function: Node, max_text: int) -> float:
    """One ``<testfunction>`` as a step; returns its time in seconds (0 when not given)."""
    name = cut(function.attrib.get("name") or "testfunction")
    result = function.find("result")
    value = (result.attrib.get("value", "") if result is not None else "").strip().lower()
    text = "".join(
        child.text
        for child in function.children
        if child.tag == "text-output" and child.attrib.get("output-type") == "UserText"
    ).strip()
    seconds = 0.0
    taken = function.find("time-taken")
    if taken is not None:
        try:
            seconds = max(float(taken.text.strip()) / 1000.0, 0.0)
        except ValueError:
            seconds = 0.0
    options: StepOptions = {"tot_time": seconds}
    if text:
        options["report_text"] = text[:max_text]
    if value in _SKIPPED:
        sequence.generic("Action", name, status="S", **options)
    elif value in ("passed", "pass") or value in _FAILED:
        sequence.pass_fail(name, value not in _FAILED, **options)
    else:
        sequence.generic("Action", name, status="E", **options)
    return seconds


def _serial(run: Node) -> str | None:
    found = None
    for node in _walk(run):
        if node.tag == "text-output":
            match = _SERIAL_RE.search(node.text)
            if match is not None:
                found = match[1]
    return found


def _walk(node: Node) -> list[Node]:
    out = [node]
    for child in node.children:
        if child.tag in ("testgroup", "testfunction", "text-output"):
            out.extend(_walk(child))
    return out


def _stem(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return (base.rsplit(".", 1)[0] if "." in base else base) or "unknown"


def _start(text: str | None) -> dt.datetime | None:
    """The run's ``datetime`` (7 fraction digits cut to 6; naive taken as UTC), or None."""
    if not text:
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.strip())
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
