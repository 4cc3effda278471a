"""Safe XML parsing for WSXF: expat into a small element tree, with DTDs refused.

WSXF files come from stations and other tools, so the parser treats them as hostile:

* **No DTD.** A ``<!DOCTYPE ...>`` (and so any ``<!ENTITY ...>``) is refused with a
  :class:`ReportDecodeError` before it takes effect. That rules out entity expansion (the
  "billion laughs" and quadratic blow-up attacks) and external entities (reading local files or
  URLs). WSXF needs no DTD; an entity reference other than XML's five built-in ones and character
  references is then "undefined", so malformed.
* **Bounded size.** The document is at most :data:`MAX_DOCUMENT_BYTES`, one attribute value at most
  :data:`MAX_ATTRIBUTE_CHARS` characters, and elements nest at most :data:`MAX_DEPTH` deep (a
  step tree's depth; the reader recurses over it).
* **One parse call.** The whole document goes to expat at once, so expat never re-scans a large
  token that arrives in pieces (the quadratic case of expat before 2.6).

The tree is a :class:`XmlElement` per element with its namespace, local name, attributes, text and
the path the errors use (built only when asked for):
``Reports/Report[0]/Step[0]/Step[3]/NumericLimit[0]``, each step counting the siblings of the same
name from 0; an attribute is ``<path>@<name>``.
"""

from __future__ import annotations

from typing import Any
from xml.parsers import expat

from ._errors import ReportDecodeError

__all__ = [
    "MAX_ATTRIBUTE_CHARS",
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "XmlElement",
    "parse_xml",
]

MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
"""The largest WSXF document read (64 MiB; WSXF has no attachments, only text and numbers)."""

MAX_ATTRIBUTE_CHARS = 1024 * 1024
"""The longest attribute value read (1 Mi characters; real values are names, numbers, short
texts; the long texts, report texts and chart data, are element text)."""

MAX_DEPTH = 200
"""The deepest element nesting read (a step tree deeper than ~190 sequence calls)."""

_DOCUMENT = "$"
_NO_DTD = (
    "DOCTYPE and ENTITY declarations are refused: WSXF needs none, and entity expansion and "
    "external entities are a denial-of-service and file-disclosure risk"
)


class XmlElement:
    """One element of a parsed document.

    Attributes:
        namespace: the namespace URI, ``""`` for none.
        name: the local name.
        attributes: attribute values by name; namespaced attributes are keyed ``"<uri> <name>"``.
        children: the child elements, in document order.
    """

    __slots__ = (
        "_counts",
        "_index",
        "_parent",
        "_text",
        "attributes",
        "children",
        "name",
        "namespace",
    )

    def __init__(
        self,
        namespace: str,
        name: str,
        attributes: dict[str, str],
        parent: XmlElement | None,
    ) -> None:
        self.namespace = namespace
        self.name = name
        self.attributes = attributes
        self.children: list[XmlElement] = []
        self._parent = parent
        self._index = 0 if parent is None else parent._count(name)
        self._text: list[str] = []
        self._counts: dict[str, int] = {}

    @property
    def path(self) -> str:
        """Where the element is, for error messages (see the module docstring); built on demand,
        as only errors need it."""
        steps: list[str] = []
        element: XmlElement | None = self
        while element is not None and element._parent is not None:
            steps.append(f"{element.name}[{element._index}]")
            element = element._parent
        steps.append(self.name if element is None else element.name)
        return "/".join(reversed(steps))

    @property
    def text(self) -> str:
        """The character data directly inside the element (between its children too)."""
        return "".join(self._text)

    def grouped(self) -> dict[str, list[XmlElement]]:
        """The children in this element's namespace, by local name (others are left out)."""
        groups: dict[str, list[XmlElement]] = {}
        for child in self.children:
            if child.namespace == self.namespace:
                groups.setdefault(child.name, []).append(child)
        return groups

    def _count(self, name: str) -> int:
        """The index of a new child called ``name`` among its same-named siblings."""
        index = self._counts.get(name, 0)
        self._counts[name] = index + 1
        return index


def parse_xml(data: bytes) -> XmlElement:
    """Parse a document safely and return its root element.

    Raises:
        ReportDecodeError: the document is too large, nested too deeply, has an over-long
            attribute, declares a DTD, or is not well-formed XML (with line and column).
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"WSXF is bytes, not {type(data).__name__}")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ReportDecodeError(
            _DOCUMENT,
            f"the document is {len(data)} bytes; WSXF documents are read up to "
            f"{MAX_DOCUMENT_BYTES} bytes",
        )
    # No attribute can be longer than the document: skip the check for the usual small one.
    builder = _TreeBuilder(check_attributes=len(data) > MAX_ATTRIBUTE_CHARS)
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(bytes(data), True)
    except expat.ExpatError as exc:
        where = f"line {exc.lineno}, column {exc.offset + 1}"
        message = f"malformed XML: {expat.errors.messages[exc.code]} ({where})"
        raise ReportDecodeError(builder.current_path(), message) from None
    if builder.root is None:  # pragma: no cover - expat refuses a document without an element
        raise ReportDecodeError(_DOCUMENT, "the document has no element")
    return builder.root


def _refuse_dtd(*_: Any) -> None:
    raise ReportDecodeError(_DOCUMENT, _NO_DTD)


class _TreeBuilder:
    """expat's handlers: builds the tree, enforcing the depth and attribute bounds."""

    def __init__(self, *, check_attributes: bool) -> None:
        self.root: XmlElement | None = None
        self._open: list[XmlElement] = []
        self._check_attributes = check_attributes

    def current_path(self) -> str:
        return self._open[-1].path if self._open else _DOCUMENT

    def start(self, tag: str, attributes: dict[str, str]) -> None:
        namespace, _, name = tag.rpartition(" ")
        parent = self._open[-1] if self._open else None
        element = XmlElement(namespace, name, attributes, parent)
        if len(self._open) >= MAX_DEPTH:
            raise ReportDecodeError(element.path, f"elements are nested more than {MAX_DEPTH} deep")
        if self._check_attributes:
            _check_attributes(element)
        if parent is None:
            self.root = element
        else:
            parent.children.append(element)
        self._open.append(element)

    def end(self, _tag: str) -> None:
        self._open.pop()

    def data(self, text: str) -> None:
        if self._open:
            self._open[-1]._text.append(text)


def _check_attributes(element: XmlElement) -> None:
    for key, value in element.attributes.items():
        if len(value) > MAX_ATTRIBUTE_CHARS:
            raise ReportDecodeError(
                f"{element.path}@{key.rpartition(' ')[2]}",
                f"the attribute value is {len(value)} characters; WSXF attributes are read up to "
                f"{MAX_ATTRIBUTE_CHARS}",
            )
