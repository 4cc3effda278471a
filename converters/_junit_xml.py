"""Safe XML reading for the JUnit converter: expat with no DTD, no entities, bounded text.

The standard library's ``xml.etree`` expands internal entities, so a "billion laughs" file can
cost gigabytes. This reader drives expat itself and refuses any document that declares a
DOCTYPE (JUnit files never need one) the moment the declaration is read, before any entity is
defined, so no expansion can happen. Each element's text is kept up to ``_TEXT_LIMIT``
characters and the tree's depth is bounded; the rest is dropped, not held.
"""

from __future__ import annotations

import xml.parsers.expat
from collections.abc import Callable
from dataclasses import dataclass, field

from ._errors import FileRejected

__all__ = ["Node", "Refused", "feed", "hardened_parser", "parse_xml"]

_TEXT_LIMIT = 65_536  # characters of text kept per element
_MAX_DEPTH = 256


@dataclass(eq=False, slots=True)
class Node:
    """One element: its tag, attributes, children, the start of its text, and its line."""

    tag: str
    attrib: dict[str, str]
    line: int
    children: list[Node] = field(default_factory=list)
    text_parts: list[str] = field(default_factory=list)
    text_size: int = 0

    @property
    def text(self) -> str:
        """The element's own text (up to the kept limit)."""
        return "".join(self.text_parts)

    def find(self, tag: str) -> Node | None:
        """The first child with ``tag``, or None."""
        return next((child for child in self.children if child.tag == tag), None)


class Refused(Exception):
    """Raised by a handler to refuse the document; :func:`feed` turns it into
    ``FileRejected`` at the current line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _refuse_doctype(*_: object) -> None:
    raise Refused("a DOCTYPE is not allowed (no DTD or entity processing)")


def _refuse_entity(*_: object) -> None:
    raise Refused("an entity declaration is not allowed")


def hardened_parser(namespace_separator: str | None = None) -> xml.parsers.expat.XMLParserType:
    """An expat parser that refuses a DOCTYPE or entity declaration the moment it is read,
    before any entity is defined (every XML reader of the converters starts from one)."""
    parser = xml.parsers.expat.ParserCreate(namespace_separator=namespace_separator)
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_entity
    return parser


def feed(parser: xml.parsers.expat.XMLParserType, data: bytes, final: bool) -> None:
    """Give ``data`` to ``parser``.

    Raises:
        FileRejected: what a handler refused (:class:`Refused`), an unknown encoding, or
            not well-formed XML; ``where`` is ``line N``.
    """
    try:
        parser.Parse(data, final)
    except Refused as exc:
        raise FileRejected(exc.reason, where=f"line {parser.CurrentLineNumber}") from None
    except LookupError as exc:  # an XML declaration naming an unknown encoding
        raise FileRejected(f"unknown encoding: {exc}", where="line 1") from None
    except xml.parsers.expat.ExpatError as exc:
        message = xml.parsers.expat.errors.messages.get(exc.code, str(exc))
        raise FileRejected(f"not well-formed XML: {message}", where=f"line {exc.lineno}") from None


def parse_xml(data: bytes, *, on_end: Callable[[Node, Node | None], bool] | None = None) -> Node:
    """Parse ``data`` into a tree of :class:`Node`.

    Args:
        data: the XML document.
        on_end: called with each element and its parent (None for the root) when its end tag
            is read, its subtree complete; returning True drops it from its parent's children.
            A converter can so turn each finished part into its result and let the tree go,
            keeping memory from growing with the file. What it raises propagates.

    Raises:
        FileRejected: not well-formed XML, an unknown encoding, a DOCTYPE or entity
            declaration, or elements nested deeper than ``_MAX_DEPTH``; ``where`` is ``line N``.
    """
    parser = hardened_parser()
    stack: list[Node] = []
    roots: list[Node] = []

    def start(tag: str, attrib: dict[str, str]) -> None:
        if len(stack) >= _MAX_DEPTH:
            raise Refused(f"elements nested deeper than {_MAX_DEPTH}")
        node = Node(tag, attrib, parser.CurrentLineNumber)
        if stack:
            stack[-1].children.append(node)
        else:
            roots.append(node)
        stack.append(node)

    def end(_tag: str) -> None:
        node = stack.pop()
        parent = stack[-1] if stack else None
        if on_end is not None and on_end(node, parent) and parent is not None:
            parent.children.pop()  # the element just ended is its parent's last child

    def text(chunk: str) -> None:
        if not stack:
            return
        node = stack[-1]
        room = _TEXT_LIMIT - node.text_size
        if room > 0:
            kept = chunk[:room]
            node.text_parts.append(kept)
            node.text_size += len(kept)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    feed(parser, data, True)
    if not roots:
        raise FileRejected("no XML element", where="line 1")
    return roots[0]
