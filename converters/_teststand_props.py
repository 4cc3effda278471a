"""Reading TestStand's ``Prop`` trees: named children, values, numbers, arrays, free data.

TestStand writes every variable as ``<Prop Name=... Type=...>``: a scalar holds its text in a
``Value`` child, an ``Obj`` nests named ``Prop`` children, and an ``Array`` holds one ``Value
ID='[i]'`` per element (the element is the ``Value``'s text, or a ``Prop`` inside it); an
``ArrayElementPrototype`` only describes the element type and is never data. These helpers take
``None`` for a missing node, so a path through absent props reads as "not there".
"""

from __future__ import annotations

import math
import re

from msgspec import UNSET

from pywats_actors.report import (
    AdditionalData,
    AdditionalDataArray,
    AdditionalDataArrayIndex,
    AdditionalDataProperty,
)

from ._junit_xml import Node

__all__ = [
    "NAME_LIMIT",
    "additional_data",
    "array_values",
    "cut",
    "element_props",
    "flag",
    "number",
    "prop",
    "props",
    "text",
    "to_float",
    "value",
]

NAME_LIMIT = 100
_INDEX_RE = re.compile(r"\[(-?\d+)\]")
_MAX_DATA_DEPTH = 16


def prop(node: Node | None, *names: str) -> Node | None:
    """The ``Prop`` reached from ``node`` through the child names ``names``, or None."""
    for name in names:
        if node is None:
            return None
        node = next(
            (c for c in node.children if c.tag == "Prop" and c.attrib.get("Name") == name), None
        )
    return node


def props(node: Node | None) -> list[Node]:
    """The ``Prop`` children of ``node`` (the fields of an ``Obj``)."""
    return [] if node is None else [c for c in node.children if c.tag == "Prop"]


def value(node: Node | None) -> str | None:
    """The stripped text of a scalar ``Prop``'s ``Value``, or None when there is none."""
    found = None if node is None else node.find("Value")
    return None if found is None else found.text.strip()


def text(node: Node | None, *names: str) -> str | None:
    """The value of the ``Prop`` at ``names`` below ``node``."""
    return value(prop(node, *names))


def to_float(raw: str | None) -> float | None:
    """A finite number from TestStand's text (``5``, ``5.41e-05``, ``0x1F``), else None."""
    if not raw:
        return None
    try:
        result = float(int(raw, 16)) if raw.lower().startswith(("0x", "-0x")) else float(raw)
    except ValueError:
        return None
    return result if math.isfinite(result) else None


def number(node: Node | None, *names: str) -> float | None:
    """The finite number at ``names`` below ``node``, or None."""
    return to_float(text(node, *names))


def flag(node: Node | None, *names: str) -> bool | None:
    """A ``Boolean`` value (``True``/``False``, any case), or None."""
    raw = (text(node, *names) or "").lower()
    return True if raw == "true" else False if raw == "false" else None


def element_props(array: Node | None) -> list[Node]:
    """The element objects of an array of objects: the ``Prop`` inside each ``Value``."""
    found: list[Node] = []
    for item in [] if array is None else array.children:
        if item.tag == "Value":
            found.extend(c for c in item.children if c.tag == "Prop")
    return found


def array_values(array: Node | None) -> list[tuple[tuple[int, ...], str]]:
    """The elements of an array of scalars: each ``Value``'s indexes (from ``ID='[i][j]'``)
    and text; elements without a readable ID are skipped."""
    found: list[tuple[tuple[int, ...], str]] = []
    for item in [] if array is None else array.children:
        if item.tag == "Value":
            indexes = tuple(int(i) for i in _INDEX_RE.findall(item.attrib.get("ID", "")))
            if indexes:
                found.append((indexes, item.text.strip()))
    return found


def cut(raw: str, limit: int = NAME_LIMIT) -> str:
    """``raw`` shortened to ``limit`` characters (an ellipsis marks the cut)."""
    return raw if len(raw) <= limit else raw[: limit - 1] + "…"


def additional_data(node: Node) -> AdditionalData:
    """One ``Prop`` as a named group of additional data (its fields, or itself when scalar)."""
    name = cut(node.attrib.get("Name") or "data")
    if node.attrib.get("Type") == "Obj":
        return AdditionalData(name=name, props=tuple(_property(c, 1) for c in props(node)))
    return AdditionalData(name=name, props=(_property(node, 1),))


def _property(node: Node, depth: int) -> AdditionalDataProperty:
    """A ``Prop`` as an additional-data property: scalars keep their value text, objects their
    fields, arrays their elements (nesting deeper than ``_MAX_DATA_DEPTH`` is dropped)."""
    kind = node.attrib.get("Type") or "String"
    name = node.attrib.get("Name") or "value"
    if depth >= _MAX_DATA_DEPTH:
        return AdditionalDataProperty(name=name, type=kind)
    if kind == "Obj":
        fields = tuple(_property(c, depth + 1) for c in props(node))
        return AdditionalDataProperty(name=name, type=kind, props=fields)
    if kind == "Array":
        elements: list[AdditionalDataArrayIndex] = []
        for item in node.children:
            if item.tag != "Value":
                continue
            ident = item.attrib.get("ID", "")
            inner = item.find("Prop")
            element = (
                _property(inner, depth + 1)
                if inner is not None
                else AdditionalDataProperty(
                    name=ident or "value",
                    type=node.attrib.get("ElementType") or "String",
                    value=item.text.strip(),
                )
            )
            indexes = tuple(int(i) for i in _INDEX_RE.findall(ident))
            elements.append(
                AdditionalDataArrayIndex(text=ident, indexes=indexes or UNSET, value=element)
            )
        array = AdditionalDataArray(
            dimension=max((len(e.indexes or ()) for e in elements), default=1),
            type=node.attrib.get("ElementType") or "String",
            indexes=tuple(elements),
        )
        return AdditionalDataProperty(name=name, type=kind, array=array)
    return AdditionalDataProperty(name=name, type=kind, value=value(node) or "")
