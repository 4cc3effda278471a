"""The payloads of a TestStand step besides its measurements: a chart, free additional
results, and the step data TestStand serialised as XML.

A WATS ``Chart`` object holds its labels and units and a ``Plots`` array; each plot's
``PlotData`` is a two-dimensional number array whose row 0 holds the x values and row 1 the y
values (a single row is y alone). ``AdditionalResults``, a property loader's counts and an
``AttachedFileData`` description become additional results; ``XMLString`` an attachment.
"""

from __future__ import annotations

import base64

from msgspec import UNSET, UnsetType

from pywats_actors.report import (
    AdditionalData,
    AdditionalDataProperty,
    Attachment,
    Chart,
    ChartSeries,
    chart_series,
)

from ._junit_xml import Node
from ._teststand_props import (
    additional_data,
    array_values,
    cut,
    element_props,
    prop,
    props,
    text,
    to_float,
    value,
)

__all__ = ["chart", "extras", "xml_string"]


def chart(chart: Node, notes: list[str]) -> Chart:
    """A ``Chart`` object (ChartLabel, Xlabel, Xunit, Ylabel, Yunit, ChartType, Plots)."""
    series: list[ChartSeries] = []
    for index, plot in enumerate(element_props(prop(chart, "Plots"))):
        name = cut(text(plot, "PlotName") or f"Plot {index}")
        rows: dict[int, dict[int, float | None]] = {}
        for indexes, raw in array_values(prop(plot, "PlotData")):
            row, column = (0, indexes[0]) if len(indexes) == 1 else indexes[:2]
            rows.setdefault(row, {})[column] = to_float(raw)
        ordered = [rows[r] for r in sorted(rows)]
        if not ordered:
            notes.append(f"plot {name!r}: no data; not recorded")
            continue
        ys, xs = (ordered[1], ordered[0]) if len(ordered) > 1 else (ordered[0], None)
        keys = sorted(ys)
        pairs = [(xs.get(k) if xs is not None else 0.0, ys[k]) for k in keys]
        kept = [(x, y) for x, y in pairs if x is not None and y is not None]
        if len(kept) < len(pairs):
            notes.append(f"plot {name!r}: {len(pairs) - len(kept)} points not finite; left out")
        if not kept:
            continue
        x_values = None if xs is None else [x for x, _ in kept]
        series.append(chart_series(name, [y for _, y in kept], x_values))
    return Chart(
        label=_label(chart, "ChartLabel"),
        x_label=_label(chart, "Xlabel"),
        x_unit=_label(chart, "Xunit"),
        y_label=_label(chart, "Ylabel"),
        y_unit=_label(chart, "Yunit"),
        chart_type=_label(chart, "ChartType"),
        series=tuple(series),
    )


def _label(chart: Node, key: str) -> str | UnsetType:
    found = text(chart, key)
    return cut(found, 50) if found else UNSET


def extras(result: Node) -> list[AdditionalData]:
    """``AdditionalResults``, a property loader's counts and an ``AttachedFileData``
    description, as additional results."""
    found: list[AdditionalData] = []
    extra = prop(result, "AdditionalResults")
    if extra is not None:
        members = element_props(extra) if extra.attrib.get("Type") == "Array" else props(extra)
        found.extend(additional_data(member) for member in members)
    counts = [
        AdditionalDataProperty(name=key, type="Number", value=raw)
        for key in ("NumPropertiesRead", "NumPropertiesApplied")
        if (raw := text(result, key)) is not None
    ]
    if counts:
        found.append(AdditionalData(name="PropertyLoader", props=tuple(counts)))
    attached = prop(result, "AttachedFileData")
    if attached is not None:
        found.append(additional_data(attached))
    return found


def xml_string(result: Node) -> Attachment | None:
    """``XMLString`` (step data TestStand serialised as XML) as a ``stepdata.xml`` attachment."""
    raw = value(prop(result, "XMLString"))
    if not raw:
        return None
    data = base64.b64encode(raw.encode("utf-8")).decode("ascii")
    return Attachment(name="stepdata.xml", content_type="text/xml", data=data)
