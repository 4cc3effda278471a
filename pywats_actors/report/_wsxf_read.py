"""WSXF bytes -> report model: :func:`decode_wsxf`.

The document is parsed safely (``_wsxf_xml.py``), then read element by element with the attribute
tables of ``_wsxf_names.py``. What WSXF cannot say comes out absent:

* XML has no ``null``. An absent attribute is an absent (``UNSET``) field; an empty attribute is the
  empty string, kept as such.
* A list with no elements (no ``MiscInfo``, no child ``Step``...) is an absent list, not ``()``.
* A ``MiscInfo`` without text has no ``text``; a ``Comment``, ``ReportText``, ``ydata`` or
  ``xdata`` element that is there but empty is ``""``.

Elements and attributes the mapping does not know (the server's bookkeeping attributes such as
``StepIndex``, elements of other namespaces) are ignored. A repair (``type="UUR"``) report is
refused: the mapping covers test reports only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from msgspec import UNSET, UnsetType

from ._errors import ReportDecodeError
from ._model import MiscInfo, Report, SubUnit, UUTInfo, UUTReport
from ._steps import (
    BooleanMeasurement,
    CallExecutableInfo,
    Chart,
    ChartSeries,
    LoopInfo,
    MessagePopupInfo,
    NumericMeasurement,
    SequenceCallInfo,
    Step,
    StringMeasurement,
)
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
    WRML_NAMESPACE,
    WSXF_NAMESPACE,
    Attribute,
)
from ._wsxf_values import REPORT_TYPE
from ._wsxf_xml import XmlElement, parse_xml

__all__ = ["decode_wsxf"]

T = TypeVar("T")
_Children = dict[str, list[XmlElement]]
_TYPE = Attribute("type", "type", REPORT_TYPE, required=True)


def decode_wsxf(data: bytes) -> list[Report]:
    """Decode a WSXF document (``<Reports>`` with any number of ``<Report>``) into reports.

    Both the WSXF namespace and the legacy WRML namespace are read. A report keeps its GUID (the
    model writes it in lower case; GUIDs compare case-insensitively). Decoding checks the XML, the
    required elements and attributes, and the spelling of every value; everything else is
    :func:`~pywats_actors.report.validate`'s job.

    Raises:
        ReportDecodeError: malformed or unsafe XML (a DTD, over the size bounds), the wrong root
            element or namespace, a missing required element or attribute, a value that is not
            of its type, a repair report. ``.path`` names the element, e.g.
            ``Reports/Report[0]/Step[0]/Step[2]/NumericLimit[0]@CompOperator``.
    """
    root = parse_xml(data)
    if root.name != "Reports" or root.namespace not in (WSXF_NAMESPACE, WRML_NAMESPACE):
        found = f"{{{root.namespace}}}{root.name}" if root.namespace else root.name
        raise ReportDecodeError(
            root.path,
            f"the root element is {found}; a WSXF document is <Reports> in the namespace "
            f"{WSXF_NAMESPACE} (or the legacy {WRML_NAMESPACE})",
        )
    try:
        return [_report(element) for element in root.grouped().get("Report", ())]
    except RecursionError:  # pragma: no cover - MAX_DEPTH keeps the step tree shallower
        raise ReportDecodeError(root.path, "the document is nested too deeply") from None


def _report(element: XmlElement) -> UUTReport:
    if _attributes(element, (_TYPE,))["type"] != "UUT":
        raise ReportDecodeError(
            f"{element.path}@type",
            "a repair (UUR) report cannot be read from WSXF: the mapping covers test (UUT) "
            "reports only",
        )
    children = element.grouped()
    header = _attributes(element, REPORT)
    header.update(_attributes(_required(element, children, "Process"), PROCESS))
    roots = children.get("Step", [])
    if len(roots) != 1:
        raise ReportDecodeError(
            element.path, f"a Report has exactly one root Step element, found {len(roots)}"
        )
    uut = _optional(element, children, "UUT")
    return UUTReport(
        **header,
        uut=UUTInfo() if uut is None else _uut(uut),
        misc_infos=_all(children, "MiscInfo", _misc_info),
        sub_units=_all(children, "ReportUnitHierarchy", _sub_unit),
        root=_step(roots[0]),
    )


def _uut(element: XmlElement) -> UUTInfo:
    return UUTInfo(
        **_attributes(element, UUT),
        comment=_text_of(element, element.grouped(), "Comment"),
    )


def _misc_info(element: XmlElement) -> MiscInfo:
    return MiscInfo(**_attributes(element, MISC_INFO), text=element.text or UNSET)


def _sub_unit(element: XmlElement) -> SubUnit:
    return SubUnit(**_attributes(element, SUB_UNIT))


def _step(element: XmlElement) -> Step:
    children = element.grouped()
    return Step(
        **_attributes(element, STEP),
        report_text=_text_of(element, children, "ReportText"),
        loop=_one(element, children, "Loop", LOOP, LoopInfo),
        seq_call=_one(element, children, "SequenceCall", SEQUENCE_CALL, SequenceCallInfo),
        numeric_meas=_all(children, "NumericLimit", _numeric),
        string_meas=_all(children, "StringValue", _string),
        boolean_meas=_all(children, "PassFail", _boolean),
        chart=_chart(element, children),
        message_popup=_one(element, children, "MessagePopup", MESSAGE_POPUP, MessagePopupInfo),
        call_exe=_one(element, children, "Callexe", CALL_EXECUTABLE, CallExecutableInfo),
        steps=_all(children, "Step", _step),
    )


def _numeric(element: XmlElement) -> NumericMeasurement:
    return NumericMeasurement(**_attributes(element, NUMERIC_MEASUREMENT))


def _string(element: XmlElement) -> StringMeasurement:
    return StringMeasurement(**_attributes(element, STRING_MEASUREMENT))


def _boolean(element: XmlElement) -> BooleanMeasurement:
    return BooleanMeasurement(**_attributes(element, BOOLEAN_MEASUREMENT))


def _chart(parent: XmlElement, children: _Children) -> Chart | UnsetType:
    element = _optional(parent, children, "Chart")
    if element is None:
        return UNSET
    return Chart(
        **_attributes(element, CHART),
        series=_all(element.grouped(), "Series", _series),
    )


def _series(element: XmlElement) -> ChartSeries:
    children = element.grouped()
    return ChartSeries(
        **_attributes(element, CHART_SERIES),
        ydata=_text_of(element, children, "ydata"),
        xdata=_text_of(element, children, "xdata"),
    )


# -- the helpers every element is read with --------------------------------------------------------


def _attributes(element: XmlElement, table: Sequence[Attribute]) -> dict[str, Any]:
    """The model fields of ``element``'s attributes, by field name; absent ones are left out."""
    fields: dict[str, Any] = {}
    for attribute in table:
        text = element.attributes.get(attribute.xml)
        if text is None:
            if attribute.required:
                raise ReportDecodeError(
                    f"{element.path}@{attribute.xml}",
                    f"the required attribute {attribute.xml} is missing",
                )
            continue
        try:
            fields[attribute.field] = attribute.kind.read(text)
        except ValueError as exc:
            raise ReportDecodeError(f"{element.path}@{attribute.xml}", str(exc)) from None
    return fields


def _all(
    children: _Children, name: str, read: Callable[[XmlElement], T]
) -> tuple[T, ...] | UnsetType:
    """Every child ``name``, read; absent when there is none."""
    elements = children.get(name)
    return tuple(read(element) for element in elements) if elements else UNSET


def _one(
    parent: XmlElement,
    children: _Children,
    name: str,
    table: Sequence[Attribute],
    cls: type[T],
) -> T | UnsetType:
    element = _optional(parent, children, name)
    return UNSET if element is None else cls(**_attributes(element, table))


def _text_of(parent: XmlElement, children: _Children, name: str) -> str | UnsetType:
    element = _optional(parent, children, name)
    return UNSET if element is None else element.text


def _optional(parent: XmlElement, children: _Children, name: str) -> XmlElement | None:
    elements = children.get(name)
    if not elements:
        return None
    if len(elements) > 1:
        raise ReportDecodeError(
            elements[1].path, f"a {parent.name} element has at most one {name} element"
        )
    return elements[0]


def _required(parent: XmlElement, children: _Children, name: str) -> XmlElement:
    element = _optional(parent, children, name)
    if element is None:
        raise ReportDecodeError(parent.path, f"the required element {name} is missing")
    return element
