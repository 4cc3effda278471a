"""The nested ``(KEY: value (CHILD: ...) ...)`` text of Teradyne Spectrum ICT logs, parsed.

Each node has a key, its own text (the bare or quoted words between its children, joined) and
its children. Quoted strings may hold parentheses. Parsing is iterative (no recursion) with a
depth limit, so a hostile file costs time and memory linear in its size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._errors import FileRejected

__all__ = ["Node", "parse_sexpr"]

_MAX_DEPTH = 64


@dataclass
class Node:
    """One ``(KEY: ...)`` node: its key, text, children and the line it starts on."""

    key: str
    line: int
    text: str = ""
    children: list[Node] = field(default_factory=list)

    def first(self, key: str) -> Node | None:
        """The first direct child called ``key``, or None."""
        return next((child for child in self.children if child.key == key), None)

    def value(self, key: str) -> str | None:
        """The text of the first direct child called ``key``, or None."""
        child = self.first(key)
        return None if child is None else child.text

    def walk(self, key: str) -> list[Node]:
        """Every node called ``key`` below this one (not inside a matching node), in order."""
        found: list[Node] = []
        stack = list(reversed(self.children))
        while stack:
            node = stack.pop()
            if node.key == key:
                found.append(node)
            else:
                stack.extend(reversed(node.children))
        return found


def parse_sexpr(text: str) -> list[Node]:
    """The top-level nodes of ``text``.

    Raises:
        FileRejected: text outside a node, an unbalanced parenthesis, an unclosed quote, a
            node without ``KEY:``, or nesting deeper than 64; ``where`` names the line.
    """
    top: list[Node] = []
    stack: list[tuple[Node, list[str]]] = []
    line = 1
    i = 0
    size = len(text)
    while i < size:
        char = text[i]
        if char == "(":
            colon = text.find(":", i)
            key = text[i + 1 : colon].strip() if colon > 0 else ""
            if not key or len(key) > 40 or not key.replace("_", "").isalnum():
                raise FileRejected("a node without a KEY: after '('", where=f"line {line}")
            if len(stack) >= _MAX_DEPTH:
                raise FileRejected(f"nesting deeper than {_MAX_DEPTH}", where=f"line {line}")
            node = Node(key, line)
            (stack[-1][0].children if stack else top).append(node)
            stack.append((node, []))
            i = colon + 1
            continue
        if char == ")":
            if not stack:
                raise FileRejected("a ')' without its '('", where=f"line {line}")
            node, words = stack.pop()
            node.text = " ".join(" ".join(words).split())
            i += 1
            continue
        if char == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise FileRejected("a quote without its end", where=f"line {line}")
            if not stack:
                raise FileRejected("text outside a (KEY: ...) node", where=f"line {line}")
            stack[-1][1].append(text[i + 1 : end])
            line += text.count("\n", i, end)
            i = end + 1
            continue
        stop = i
        while stop < size and text[stop] not in '()"':
            stop += 1
        chunk = text[i:stop]
        if stack:
            stack[-1][1].append(chunk)
        elif chunk.strip():
            raise FileRejected("text outside a (KEY: ...) node", where=f"line {line}")
        line += chunk.count("\n")
        i = stop
    if stack:
        node = stack[-1][0]
        raise FileRejected(f"({node.key}: is never closed (truncated?)", where=f"line {node.line}")
    return top
