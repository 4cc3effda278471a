"""One documented error tree: docs/errors.md draws every exception the packages export, under
its real base class, and pywats_actors/_errors.py lists the product's sub-trees."""

from __future__ import annotations

import importlib
import inspect
import re
import textwrap
from pathlib import Path

import pywats_actors
from pywats_actors import PywatsError
from pywats_actors.node import NodeNotRunning

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "errors.md"
PACKAGES = [
    "pywats_actors",
    "pywats_actors.client",
    "pywats_actors.config",
    "pywats_actors.emulator",
    "pywats_actors.ipc",
    "pywats_actors.node",
    "pywats_actors.report",
    "pywats_actors.spool",
    "converters",
    "supervisors",
    "supervisors.testing",
]
_ENTRY = re.compile(r"^(?P<indent>(?:[│ ]   )*)(?:[├└]── )?(?P<name>[A-Z]\w+)")


def exported_exceptions() -> dict[str, type[BaseException]]:
    """Every exception class in the ``__all__`` of the packages, by name."""
    found: dict[str, type[BaseException]] = {}
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isclass(value) and issubclass(value, BaseException):
                found[name] = value
    return found


def drawn_tree(text: str) -> dict[str, str | None]:
    """Each class of a box-drawn tree and the class drawn as its parent (None for a root)."""
    parents: dict[str, str | None] = {}
    stack: list[str] = []
    for line in text.splitlines():
        match = _ENTRY.match(line)
        if not match:
            continue
        depth = len(match["indent"]) // 4 + (1 if line[len(match["indent"]) :][:1] in "├└" else 0)
        del stack[depth:]
        parents[match["name"]] = stack[-1] if stack else None
        stack.append(match["name"])
    return parents


def doc_tree() -> dict[str, str | None]:
    text = DOC.read_text(encoding="utf-8")
    block = text.split("## The tree", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    return drawn_tree(block)


class TestErrorTree:
    def test_every_exported_exception_is_drawn(self) -> None:
        """docs/errors.md draws exactly the exceptions the packages export."""
        assert set(doc_tree()) == set(exported_exceptions())

    def test_each_is_drawn_under_its_real_base(self) -> None:
        """Each class's parent in the drawing is its nearest exported base class."""
        exported = exported_exceptions()
        for name, parent in doc_tree().items():
            cls = exported[name]
            bases = [b.__name__ for b in cls.__mro__[1:] if b.__name__ in exported]
            assert parent == (bases[0] if bases else None), name

    def test_product_errors_share_one_root(self) -> None:
        """Everything but the generic supervisors library derives from PywatsError."""
        for name, cls in exported_exceptions().items():
            if not cls.__module__.startswith("supervisors"):
                assert issubclass(cls, PywatsError), name

    def test_root_docstring_lists_the_subtrees(self) -> None:
        """pywats_actors/_errors.py draws the direct children of PywatsError."""
        docstring = importlib.import_module("pywats_actors._errors").__doc__ or ""
        drawn = drawn_tree(textwrap.dedent(docstring.split("::", 1)[1].split("\n\n", 2)[1]))
        children = {n for n, c in exported_exceptions().items() if c.__bases__[0] is PywatsError}
        assert {n for n, p in drawn.items() if p == "PywatsError"} == children

    def test_node_not_running_is_a_runtime_error_too(self) -> None:
        """Code that caught the RuntimeError the node used to raise still catches it."""
        assert issubclass(NodeNotRunning, RuntimeError)
        assert issubclass(NodeNotRunning, pywats_actors.PywatsError)
