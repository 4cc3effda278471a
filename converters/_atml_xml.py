"""Reading ATML test results a ``TestResults`` element at a time, with hardened expat.

An ATML file is either one ``TestResults`` element (IEEE 1636.1 as TestStand writes it for
ATML 2.02) or a ``TestResultsCollection`` holding several (5.00, 6.01; one per UUT of a batch
or parallel run). The UUT's identity comes after its steps in each ``TestResults``, so one
whole ``TestResults`` subtree is what a report needs, and all it needs: this reader feeds the
bytes to expat in chunks and hands out each ``TestResults`` subtree as soon as its end tag is
read, dropping it from memory before the next one is built.

Names are matched on their local part; namespaces are taken from the document (expat's
namespace processing), never assumed per version: TestStand's 2.02 files use
``http://www.ieee.org/ATML/2007/TestResults``, 5.00 ``urn:IEEE-1636.1:2011:01:TestResults``
and 6.01 ``urn:IEEE-1636.1:2013:TestResults``. The hardening is :mod:`._junit_xml`'s: a DOCTYPE
or entity declaration is refused before any entity can be defined, element text is kept up to a
bound, and depth is bounded; whitespace-only text and the ``TestProgram`` block (report options
nothing maps) are not kept at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ._errors import FileRejected
from ._junit_xml import Refused, feed, hardened_parser

__all__ = ["AtmlNode", "is_atml_namespace", "iter_test_results"]

_TEXT_LIMIT = 65_536  # characters of text kept per element
_MAX_DEPTH = 256
_MAX_NODES = 500_000  # elements kept per TestResults: about 350 MB of tree, ~30 MB of XML
_CHUNK = 1 << 20
_SKIPPED = frozenset({"TestProgram"})  # TestStand's report options: nothing in it is mapped
_EMPTY: dict[str, str] = {}


def is_atml_namespace(uri: str) -> bool:
    """Whether ``uri`` names an IEEE 1636.1 test-results namespace (any version)."""
    lowered = uri.lower()
    return ("ieee.org/atml" in lowered or "urn:ieee-1636.1" in lowered) and (
        "testresults" in lowered
    )


@dataclass(eq=False, slots=True)
class AtmlNode:
    """One element: its local name, namespace, attributes by local name, children and line."""

    tag: str
    ns: str
    attrib: dict[str, str]
    line: int
    children: list[AtmlNode] = field(default_factory=list)
    text_parts: list[str] = field(default_factory=list)
    text_size: int = 0

    @property
    def text(self) -> str:
        """The element's own text (up to the kept limit)."""
        return "".join(self.text_parts)

    def find(self, *path: str) -> AtmlNode | None:
        """The first descendant along ``path`` (local names, one per level), or None."""
        node: AtmlNode | None = self
        for tag in path:
            if node is None:
                return None
            node = next((c for c in node.children if c.tag == tag), None)
        return node

    def findall(self, tag: str) -> list[AtmlNode]:
        """The children named ``tag``."""
        return [child for child in self.children if child.tag == tag]

    def descendant(self, tag: str) -> AtmlNode | None:
        """The first element named ``tag`` below this one (depth first), or None."""
        pending = list(reversed(self.children))
        while pending:
            node = pending.pop()
            if node.tag == tag:
                return node
            pending.extend(reversed(node.children))
        return None


def _split(name: str) -> tuple[str, str]:
    """``uri local`` (expat's namespaced form) as ``(local, uri)``."""
    uri, _, local = name.rpartition(" ")
    return local, uri


class _Reader:
    """The expat handlers: builds ``TestResults`` subtrees and queues the finished ones."""

    def __init__(self) -> None:
        self.parser = hardened_parser(namespace_separator=" ")
        self.root: tuple[str, str] | None = None
        self.depth = 0
        self.skip_depth = 0  # > 0 while inside a skipped element
        self.stack: list[AtmlNode] = []
        self.nodes = 0
        self.done: list[AtmlNode] = []
        self.seen = 0
        parser = self.parser
        parser.buffer_text = True  # one text call per run of text, not one per line
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._text

    def _start(self, name: str, attrib: dict[str, str]) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise Refused(f"elements nested deeper than {_MAX_DEPTH}")
        local, uri = _split(name)
        if self.root is None:
            self.root = (local, uri)
            _check_root(local, uri)
            if local == "TestResults":
                self._open(local, uri, attrib)
            return
        if self.skip_depth:
            self.skip_depth += 1
            return
        if not self.stack:
            if self.depth == 2 and local == "TestResults":
                self._open(local, uri, attrib)
            else:
                self.skip_depth = 1  # the collection's own Extension (TSBatchTable)
            return
        if local in _SKIPPED:
            self.skip_depth = 1
            return
        self._open(local, uri, attrib)

    def _open(self, local: str, uri: str, attrib: dict[str, str]) -> None:
        self.nodes += 1
        if self.nodes > _MAX_NODES:
            raise Refused(f"a TestResults element with more than {_MAX_NODES} elements")
        attributes = {_split(key)[0]: value for key, value in attrib.items()} if attrib else _EMPTY
        node = AtmlNode(local, uri, attributes, self.parser.CurrentLineNumber)
        if self.stack:
            self.stack[-1].children.append(node)
        self.stack.append(node)

    def _end(self, _name: str) -> None:
        self.depth -= 1
        if self.skip_depth:
            self.skip_depth -= 1
            return
        if not self.stack:
            return
        node = self.stack.pop()
        if not self.stack:
            self.done.append(node)
            self.seen += 1
            self.nodes = 0

    def _text(self, chunk: str) -> None:
        if not self.stack or self.skip_depth:
            return
        node = self.stack[-1]
        if not node.text_parts and not chunk.strip():
            return  # indentation between elements
        room = _TEXT_LIMIT - node.text_size
        if room > 0:
            kept = chunk[:room]
            node.text_parts.append(kept)
            node.text_size += len(kept)


def _check_root(local: str, uri: str) -> None:
    """Raise unless the root is an ATML ``TestResults`` or ``TestResultsCollection``."""
    if local not in ("TestResults", "TestResultsCollection"):
        raise Refused(
            f"not ATML test results: the root element is <{local}>, "
            "not <TestResults> or <TestResultsCollection>"
        )
    if not is_atml_namespace(uri):
        shown = uri or "no namespace"
        raise Refused(
            f"not ATML test results: <{local}> is in {shown}, not an IEEE 1636.1 "
            "TestResults namespace (http://www.ieee.org/ATML/... or urn:IEEE-1636.1:...)"
        )


def iter_test_results(data: bytes) -> Iterator[AtmlNode]:
    """Each ``TestResults`` element of ``data``, in document order, built one at a time.

    Raises:
        FileRejected: not well-formed XML (a truncated file included), an unknown encoding, a
            DOCTYPE or entity declaration, too deep a nesting, a root that is not an ATML
            ``TestResults``/``TestResultsCollection``, or no ``TestResults`` at all; ``where``
            is ``line N``. Raised when reached: reports before the fault are yielded first.
    """
    if not data.strip():
        raise FileRejected("the file is empty", where="line 1")
    reader = _Reader()
    parser = reader.parser
    view = memoryview(data)
    try:
        for offset in range(0, max(len(view), 1), _CHUNK):
            final = offset + _CHUNK >= len(view)
            feed(parser, view[offset : offset + _CHUNK].tobytes(), final)
            while reader.done:
                yield reader.done.pop(0)
    finally:
        reader.done.clear()
        reader.stack.clear()
    if reader.root is None:
        raise FileRejected("no XML element", where="line 1")
    if not reader.seen:
        raise FileRejected(f"no <TestResults> in <{reader.root[0]}>", where="line 1")
