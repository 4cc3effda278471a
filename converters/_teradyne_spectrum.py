"""The Teradyne Spectrum ICT log converter (``teradyne-spectrum``).

A Spectrum log (the ``CTRDIMEX`` export) is nested ``(KEY: ...)`` text: ``PROGRAM_NAME``,
``SECTION_NAME`` markers, ``STEP`` nodes (``TIME``, ``SNAME``, ``DESC``, ``PAGE`` nodes each
with test elements ``ANA``/``INTC`` holding ``LOLIM``, ``HILIM``, ``NOMVAL``, ``MEASVAL`` and
``STAT``) and ``USER`` lines the test program writes (``Serialnumber:...``). One file is one
UUT report: each section a sequence, each step a test step (a sequence when it holds several
test elements).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections.abc import Sequence
from typing import ClassVar

import msgspec

from pywats_actors.report import (
    ReportBuilder,
    ReportInvalid,
    ReportResult,
    SequenceBuilder,
    StepOptions,
    UUTReport,
)

from ._check import validated
from ._errors import FileRejected
from ._ict_verdict import with_verdict
from ._sdk import API_VERSION, Converter, ConverterOutput
from ._teradyne_sexpr import Node, parse_sexpr
from ._timezone import check_timezone, localize

__all__ = ["SpectrumArguments", "SpectrumConverter"]

_SCALE = {"T": 1e12, "G": 1e9, "M": 1e6, "K": 1e3, "k": 1e3, "m": 1e-3, "u": 1e-6, "n": 1e-9}
_SCALE |= {"p": 1e-12, "f": 1e-15, "": 1.0}
_UNITS = {"O": "Ohm", "F": "F", "V": "V", "A": "A", "H": "H", "S": "s", "HZ": "Hz"}
_ELEMENTS = ("ANA", "INTC", "DIG", "FUNC")
_MAX = 100
_MAX_MISC = 20
_HEAD_RE = re.compile(r"\((?:PROGRAM_NAME|SUBPROGRAM_NAME|SECTION_NAME|STEP)\s*:")


class SpectrumArguments(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a Spectrum log maps to a UUT report.

    Attributes:
        serial_key: the ``USER`` line key holding the serial number (case-insensitive);
            without it in the log the file name without its extension is the serial number.
        operator_key: the ``USER`` line key holding the operator.
        part_number: the part number (default: the log's ``PROGRAM_NAME``).
        revision: the revision.
        process_code: the test operation code.
        station: the machine name.
        location: the station's location.
        purpose: the station's purpose.
        date_format: how the step ``TIME`` values are written (``strptime`` format).
        timezone: the IANA time zone of the log's local times (default: the station's).
    """

    serial_key: str = "Serialnumber"
    operator_key: str = "Operator"
    part_number: str | None = None
    revision: str = "1"
    process_code: int = 10
    station: str = "teradyne-spectrum"
    location: str = "Unknown"
    purpose: str = "Production"
    date_format: str = "%m/%d/%Y %H:%M:%S"
    timezone: str | None = None

    def __post_init__(self) -> None:
        """Check the time zone.

        Raises:
            ValueError: ``timezone`` is not an IANA time zone.
        """
        check_timezone(self.timezone)


class SpectrumConverter(Converter[SpectrumArguments]):
    """Teradyne Spectrum in-circuit test logs mapped to one UUT report per file."""

    name: ClassVar[str] = "teradyne-spectrum"
    version: ClassVar[str] = "1.0"
    api_version: ClassVar[int] = API_VERSION
    patterns: ClassVar[tuple[str, ...]] = ("*.txt", "*.log")
    Arguments: ClassVar[type[msgspec.Struct]] = SpectrumArguments

    def detect(self, head: bytes, name: str) -> float:
        """0.95 when the text starts with ``(PROGRAM_NAME:`` (or another Spectrum node) and a
        ``(STEP:`` or ``(SECTION_NAME:`` node follows, 0.6 for the first node alone, else 0."""
        text = head[:8192].decode("latin-1").lstrip("\ufeff\r\n\t ")
        if _HEAD_RE.match(text) is None:
            return 0.0
        return 0.95 if "(STEP:" in text or "(SECTION_NAME:" in text else 0.6

    def convert(self, data: bytes, name: str, args: SpectrumArguments) -> Sequence[ConverterOutput]:
        """One report for the file.

        Raises:
            FileRejected: binary data, unbalanced or unclosed nodes, no ``STEP``, a bad
                number or time, or values that make an invalid report; ``where`` names the
                line.
        """
        if b"\x00" in data:
            raise FileRejected("binary data, not a Spectrum log", where="line 1")
        nodes = parse_sexpr(data.decode("utf-8", "replace"))
        steps = [node for node in nodes if node.key == "STEP"]
        if not steps:
            raise FileRejected("no (STEP: ...) in the file", where="line 1")
        return [_build(nodes, steps, name, args)]


def _users(nodes: list[Node]) -> dict[str, tuple[str, str]]:
    """The ``USER`` lines: lower-case key to (key, value), the first of each key kept."""
    found: dict[str, tuple[str, str]] = {}
    for node in nodes:
        for user in [node] if node.key == "USER" else node.walk("USER"):
            key, sep, value = user.text.partition(":")
            if sep and key.strip():
                found.setdefault(key.strip().lower(), (key.strip(), value.strip()))
    return found


def _time(text: str | None, args: SpectrumArguments, where: str) -> dt.datetime | None:
    """A step's ``TIME`` as a local-time aware datetime; None when absent.

    Raises:
        FileRejected: a time not in ``date_format``.
    """
    if not text:
        return None
    try:
        return localize(dt.datetime.strptime(text.strip(), args.date_format), args.timezone)
    except ValueError:
        raise FileRejected(f"bad TIME {text!r} for {args.date_format!r}", where=where) from None


def _build(nodes: list[Node], steps: list[Node], name: str, args: SpectrumArguments) -> UUTReport:
    """The report of a whole log.

    Raises:
        FileRejected: a bad number or time, or values that make an invalid report.
    """
    users = _users(nodes)
    head = {node.key: node.text for node in nodes if node.key != "USER" and not node.children}
    program = head.get("PROGRAM_NAME") or ""
    sn = (
        users.get(args.serial_key.lower(), ("", ""))[1]
        or os.path.splitext(os.path.basename(name))[0]
    )
    first = _time(steps[0].value("TIME"), args, f"line {steps[0].line}")
    last = _time(steps[-1].value("TIME"), args, f"line {steps[-1].line}")
    try:
        builder = ReportBuilder(
            pn=(args.part_number or program or "teradyne-spectrum")[:_MAX],
            sn=sn[:_MAX],
            rev=args.revision,
            process_code=args.process_code,
            machine_name=args.station,
            location=args.location,
            purpose=args.purpose,
            operator=users.get(args.operator_key.lower(), ("", ""))[1] or None,
            start=first,
        )
    except ValueError as exc:
        raise FileRejected(f"bad report header: {exc}", where="line 1") from None
    for key in ("PROGRAM_NAME", "SUBPROGRAM_NAME"):
        if head.get(key):
            builder.add_misc_info(key, text=head[key][:_MAX])
    skip = {args.serial_key.lower(), args.operator_key.lower()}
    for key, value in [pair for k, pair in users.items() if k not in skip][:_MAX_MISC]:
        if value:
            builder.add_misc_info(key[:_MAX], text=value[:_MAX])
    section: SequenceBuilder = builder.root
    for node in nodes:
        if node.key == "SECTION_NAME":
            section = builder.root.sequence(node.text[:_MAX] or "Section")
        elif node.key == "STEP":
            _add_step(section, node)
    board = users.get("status", ("", ""))[1].upper()
    exec_time = (last - first).total_seconds() if first and last else None
    try:
        report = builder.build(exec_time=None if exec_time is None else max(exec_time, 0.0))
        if "PASS" in board or "FAIL" in board:
            result = ReportResult.FAILED if "FAIL" in board else ReportResult.PASSED
            report = with_verdict(report, result)
        return validated(report)
    except (ReportInvalid, ValueError) as exc:
        raise FileRejected(f"the log makes an invalid report: {exc}", where="line 1") from None


def _number(node: Node | None, where: str) -> tuple[float | None, str | None]:
    """The value (scaled) and unit of a ``(VAL:) (SCALE:) (UNIT:)`` node; None when absent.

    Raises:
        FileRejected: a value that is not a finite number, or an unknown scale.
    """
    if node is None or node.value("VAL") is None:
        return None, None
    text = node.value("VAL") or ""
    scale = node.value("SCALE") or ""
    try:
        value = float(text) * _SCALE[scale]
    except (ValueError, KeyError):
        raise FileRejected(f"{node.key}: bad value {text!r} scale {scale!r}", where=where) from None
    if not math.isfinite(value):
        raise FileRejected(f"{node.key}: {text!r} is not a finite number", where=where)
    unit = node.value("UNIT")
    return value, (_UNITS.get(unit.upper(), unit) if unit else None)


def _options(text: str | None) -> StepOptions:
    """The step options holding ``text`` (cut to 2000 characters) as report text, if any."""
    return StepOptions(report_text=text[:2000]) if text else StepOptions()


def _element_step(sequence: SequenceBuilder, name: str, element: Node, text: str | None) -> None:
    """Add one test element: numeric when it has a measured value, else pass/fail by STAT.

    Raises:
        FileRejected: a bad number.
    """
    where = f"line {element.line}"
    result = element.first("INTC_RESULT")
    holder = element if element.first("MEASVAL") is not None or result is None else result
    value, unit = _number(holder.first("MEASVAL"), where)
    passed = (element.value("STAT") or (result.value("STAT") if result else "") or "").upper()
    options = _options(text)
    if value is None:
        sequence.pass_fail(name, passed == "PASS", **options)
        return
    low, _ = _number(element.first("LOLIM"), where)
    high, _ = _number(element.first("HILIM"), where)
    try:
        sequence.numeric(name, value, unit=unit, low=low, high=high, **options)
    except ValueError as exc:
        raise FileRejected(f"{name}: {exc}", where=where) from None


def _add_step(section: SequenceBuilder, step: Node) -> None:
    """Add a ``STEP``: one test step, or a sequence when it holds several test elements.

    Raises:
        FileRejected: a bad number or time.
    """
    name = (step.value("SNAME") or step.value("TYPE") or "Step")[:_MAX]
    pages = step.walk("PAGE")
    elements = [
        (page, element) for page in pages for key in _ELEMENTS for element in page.walk(key)
    ]
    notes = [page.value(k) for page in pages for k in ("COMMENT", "FAIL_MSG")]
    text = "; ".join(n for n in [step.value("DESC"), *notes] if n) or None
    if not elements:
        stat = (step.value("STAT") or "").upper()
        section.pass_fail(name, stat == "PASS", **_options(text))
        return
    if len(elements) == 1:
        _element_step(section, name, elements[0][1], text)
        return
    sequence = section.sequence(name)
    seen: dict[str, int] = {}
    for page, element in elements:
        label = f"{page.value('PAGE_NAME') or name} {element.value('TYPE') or element.key}"
        seen[label] = seen.get(label, 0) + 1
        label = label if seen[label] == 1 else f"{label} #{seen[label]}"
        _element_step(sequence, label[:_MAX], element, None)
