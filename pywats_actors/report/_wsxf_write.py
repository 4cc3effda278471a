"""Report model -> WSXF bytes: :func:`encode_wsxf`.

The writer emits the elements and attributes of ``_wsxf_names.py`` in the order the server writes
them, compact (no indentation), UTF-8, in the WSXF namespace. Fields WSXF does not carry are left
out (see ``docs/reports.md``, section WSXF); ``None`` and ``UNSET`` both mean "no attribute".

Text is escaped so that it reads back exactly: ``& < > "`` as entities, and in attribute values
tab, line feed and carriage return as character references (an XML reader turns literal ones into
spaces); a carriage return in element text likewise (a reader turns a literal one into a line
feed). Characters XML 1.0 cannot hold at all (most control characters, lone surrogates, U+FFFE
and U+FFFF) make the report unwritable: ``ValueError``, never a document no reader accepts.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence

import msgspec
from msgspec import UNSET, UnsetType

from ._base import Maybe, parse_timestamp, value_or_none
from ._model import Report, UURReport, UUTReport
from ._steps import Chart, Step
from ._wsxf_names import (
    BOOLEAN_MEASUREMENT,
    CALL_EXECUTABLE,
    CHART,
    CHART_SERIES,
    LOOP,
    MESSAGE_POPUP,
    MISC_INFO,
    NUMERIC_MEASUREMENT,
    PROCESS,
    REPORT,
    SEQUENCE_CALL,
    STEP,
    STRING_MEASUREMENT,
    SUB_UNIT,
    UUT,
    WSXF_NAMESPACE,
    Attribute,
)
from ._wsxf_xml import MAX_DEPTH

__all__ = ["encode_wsxf"]

# Reports and Report above the steps, Chart/Series/ydata below the deepest: 5 levels are not steps.
_MAX_STEP_DEPTH = MAX_DEPTH - 5
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Anything that is not plain text: a character to escape, or one XML cannot hold. One search
# finds it, so the usual plain value costs one regex search and no translation.
_NOT_PLAIN = re.compile(
    "[^\x20\x21\x23-\x25\x27-\x3b\x3d\x3f-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
_ATTRIBUTE_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\t": "&#9;",
        "\n": "&#10;",
        "\r": "&#13;",
    }
)
_FRACTION_RE = re.compile(r"\.[0-9]+")
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})


class _Unwritable(Exception):
    """A value WSXF cannot hold, at ``path`` (a JSON path into the report)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message


def encode_wsxf(reports: Sequence[Report]) -> bytes:
    """Encode test reports as one WSXF document: ``<Reports>`` with a ``<Report>`` each.

    What the model holds and WSXF cannot carry is left out (the ``*Format`` fields, step start
    times, attachments, additional data, assets...; the full list is in ``docs/reports.md``). A
    report without ``startUTC`` gets one computed from ``start``, as WSXF requires it. The
    document reads back with :func:`~pywats_actors.report.decode_wsxf` as the same reports, minus
    what was left out.

    Raises:
        ValueError: a report WSXF cannot express: a repair (UUR) report, text with a character
            XML 1.0 cannot hold, or an enumerated value without a WSXF word (a step ``status`` of
            ``"X"``; :func:`~pywats_actors.report.validate` reports those too). The message names
            the report by its index and the value by its JSON path.
    """
    out = _Xml()
    out.append(f'<?xml version="1.0" encoding="utf-8"?><Reports xmlns="{WSXF_NAMESPACE}">')
    for index, report in enumerate(reports):
        if isinstance(report, UURReport):
            raise ValueError(
                f"report {index} is a repair (UUR) report; WSXF is written for test (UUT) "
                "reports only"
            )
        try:
            _report(out, report)
        except _Unwritable as exc:
            raise ValueError(
                f"report {index} cannot be written as WSXF: {exc.message} - at {exc.path}"
            ) from None
    out.append("</Reports>")
    return out.document()


def _report(out: _Xml, report: UUTReport) -> None:
    report = _with_start_utc(report)
    out.open("Report", ' type="UUT"' + _attributes(report, REPORT, "$"))
    out.open("UUT", _attributes(report.uut, UUT, "$.uut"))
    _text(out, "Comment", report.uut.comment, "$.uut.comment")
    out.close()
    out.empty("Process", _attributes(report, PROCESS, "$"))
    for index, info in enumerate(report.misc_infos or ()):
        path = f"$.miscInfos[{index}]"
        attributes = _attributes(info, MISC_INFO, path)
        out.text_element("MiscInfo", attributes, value_or_none(info.text) or "", f"{path}.text")
    _elements(out, "ReportUnitHierarchy", report.sub_units, SUB_UNIT, "$.subUnits")
    _step(out, report.root, "$.root", 1)
    out.close()


def _step(out: _Xml, step: Step, path: str, depth: int) -> None:
    if depth > _MAX_STEP_DEPTH:
        message = f"steps nest more than {_MAX_STEP_DEPTH} deep, deeper than decode_wsxf reads"
        raise _Unwritable(path, message)
    out.open("Step", _attributes(step, STEP, path))
    _element(out, "Loop", step.loop, LOOP, f"{path}.loop")
    _element(out, "SequenceCall", step.seq_call, SEQUENCE_CALL, f"{path}.seqCall")
    _text(out, "ReportText", step.report_text, f"{path}.reportText")
    _elements(out, "NumericLimit", step.numeric_meas, NUMERIC_MEASUREMENT, f"{path}.numericMeas")
    _elements(out, "StringValue", step.string_meas, STRING_MEASUREMENT, f"{path}.stringMeas")
    _elements(out, "PassFail", step.boolean_meas, BOOLEAN_MEASUREMENT, f"{path}.booleanMeas")
    chart = value_or_none(step.chart)
    if chart is not None:
        _chart(out, chart, f"{path}.chart")
    _element(out, "MessagePopup", step.message_popup, MESSAGE_POPUP, f"{path}.messagePopup")
    _element(out, "Callexe", step.call_exe, CALL_EXECUTABLE, f"{path}.callExe")
    for index, child in enumerate(step.steps or ()):
        _step(out, child, f"{path}.steps[{index}]", depth + 1)
    out.close()


def _chart(out: _Xml, chart: Chart, path: str) -> None:
    out.open("Chart", _attributes(chart, CHART, path))
    for index, series in enumerate(chart.series or ()):
        where = f"{path}.series[{index}]"
        out.open("Series", _attributes(series, CHART_SERIES, where))
        _text(out, "ydata", series.ydata, f"{where}.ydata")
        _text(out, "xdata", series.xdata, f"{where}.xdata")
        out.close()
    out.close()


def _element(
    out: _Xml,
    name: str,
    obj: msgspec.Struct | UnsetType | None,
    table: Sequence[Attribute],
    path: str,
) -> None:
    """``<name .../>`` with ``obj``'s attributes, when ``obj`` is given."""
    if obj is not None and not isinstance(obj, UnsetType):
        out.empty(name, _attributes(obj, table, path))


def _elements(
    out: _Xml,
    name: str,
    objects: Iterable[msgspec.Struct] | UnsetType | None,
    table: Sequence[Attribute],
    path: str,
) -> None:
    """One ``<name .../>`` per object of a list."""
    for index, obj in enumerate(objects or ()):
        out.empty(name, _attributes(obj, table, f"{path}[{index}]"))


def _text(out: _Xml, name: str, text: Maybe[str], path: str) -> None:
    """``<name>text</name>``, when ``text`` is given."""
    given = value_or_none(text)
    if given is not None:
        out.text_element(name, "", given, path)


# -- attributes and text ---------------------------------------------------------------------------


def _attributes(obj: msgspec.Struct, table: Sequence[Attribute], path: str) -> str:
    """``obj``'s fields as ``' Name="value"...'``, for the fields that have a value."""
    parts: list[str] = []
    for attribute in table:
        value = getattr(obj, attribute.field)
        if value is None or value is UNSET:
            continue
        try:
            text = attribute.kind.write(value)
        except ValueError as exc:
            raise _Unwritable(_field_path(obj, attribute.field, path), str(exc)) from None
        if _NOT_PLAIN.search(text):
            if _NOT_XML.search(text):
                raise _Unwritable(_field_path(obj, attribute.field, path), _not_xml(text))
            text = text.translate(_ATTRIBUTE_ESCAPES)
        parts.append(f' {attribute.xml}="{text}"')
    return "".join(parts)


def _with_start_utc(report: UUTReport) -> UUTReport:
    """``report`` with a ``startUTC``: WSXF requires ``Start_utc``; compute it from ``start``."""
    if value_or_none(report.start_utc) is not None:
        return report
    try:
        moment = parse_timestamp(report.start)
        if moment.tzinfo is None:
            raise ValueError(f"start {report.start!r} has no UTC offset")
        utc = moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")
    except (ValueError, OverflowError) as exc:
        raise _Unwritable(
            "$.start", f"there is no startUTC and none can be computed: {exc}"
        ) from None
    fraction = _FRACTION_RE.search(report.start)  # whole-minute offsets keep the fraction as is
    return msgspec.structs.replace(
        report, start_utc=f"{utc}{fraction.group() if fraction else ''}Z"
    )


def _field_path(obj: msgspec.Struct, field: str, path: str) -> str:
    """The JSON path of ``obj.field`` (its wire name, e.g. ``numericMeas``)."""
    for info in msgspec.structs.fields(obj):
        if info.name == field:
            return f"{path}.{info.encode_name}"
    return f"{path}.{field}"  # pragma: no cover - every table names a model field


def _not_xml(text: str) -> str:
    match = _NOT_XML.search(text)
    assert match is not None
    return f"the character U+{ord(match.group()):04X} cannot be written in XML 1.0"


class _Xml:
    """The document being written: a list of text parts and the stack of open elements."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._open: list[tuple[str, int]] = []

    def append(self, text: str) -> None:
        self._parts.append(text)

    def open(self, name: str, attributes: str) -> None:
        self._open.append((name, len(self._parts)))
        self._parts.append(f"<{name}{attributes}>")

    def close(self) -> None:
        """Close the innermost element; one that got no content becomes ``<Name .../>``."""
        name, start = self._open.pop()
        if start == len(self._parts) - 1:
            self._parts[start] = self._parts[start][:-1] + "/>"
        else:
            self._parts.append(f"</{name}>")

    def empty(self, name: str, attributes: str) -> None:
        self._parts.append(f"<{name}{attributes}/>")

    def text_element(self, name: str, attributes: str, text: str, path: str) -> None:
        if _NOT_XML.search(text):
            raise _Unwritable(path, _not_xml(text))
        if text:
            self._parts.append(f"<{name}{attributes}>{text.translate(_TEXT_ESCAPES)}</{name}>")
        else:
            self.empty(name, attributes)

    def document(self) -> bytes:
        return "".join(self._parts).encode()
