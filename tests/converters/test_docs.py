"""The examples in docs/converters.md work as shown: the example converter, the dry run, the unit
tests and the sandbox test."""

from __future__ import annotations

import contextlib
import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

DOC = Path(__file__).resolve().parents[2] / "docs" / "converters.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


@pytest.fixture
def acme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The example converter saved as acme_converter.py in the current directory."""
    (module,) = [b for b in python_blocks() if b.startswith("# acme_converter.py")]
    (tmp_path / "acme_converter.py").write_text(module)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("acme_converter", None)


def block_containing(text: str) -> str:
    (block,) = [b for b in python_blocks() if text in b]
    return block


class TestConverterGuide:
    def test_dry_run_example(self, acme: Path) -> None:
        """The convert_file_once example converts the example file in a sandboxed worker."""
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(block_containing('convert_file_once("unit42.acme"'), {})
        first, second = out.getvalue().splitlines()
        assert first.startswith("Converted (UUID(")
        assert second.startswith('b\'{"type":"T","id":')
        assert '"pn":"PCB-7"' in second

    def test_unit_test_examples(self, acme: Path) -> None:
        """The in-process unit tests of the guide pass."""
        namespace: dict[str, Any] = {}
        exec(block_containing("def test_one_unit_per_file"), namespace)
        tests = [fn for name, fn in namespace.items() if name.startswith("test_")]
        assert len(tests) == 3
        for test in tests:
            test()

    async def test_sandbox_test_example(self, acme: Path) -> None:
        """The guide's pytest-trio test of the converter in a pool passes."""
        namespace: dict[str, Any] = {}
        exec(block_containing("async def test_in_the_sandbox"), namespace)
        with trio.fail_after(60):
            await namespace["test_in_the_sandbox"]()

    async def test_scheduled_converter_example(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The guide's scheduled converter reads an oven's SQLite log in the sandbox: one
        report per row, and from its cursor only the rows added since."""
        import ast
        import json
        import sqlite3

        from converters import Converted

        (tmp_path / "oven_poll.py").write_text(block_containing("# oven_poll.py"))
        source = tmp_path / "srv" / "oven"
        source.mkdir(parents=True)
        with contextlib.closing(sqlite3.connect(source / "oven.db")) as db, db:
            db.execute("CREATE TABLE runs (lot TEXT, temperature REAL)")
            db.executemany("INSERT INTO runs VALUES (?, ?)", [("LOT-1", 241.5), ("LOT-2", 238)])
        trial = block_containing("await pool.poll(").replace("/srv/oven", str(source))
        code = compile(trial, "converters.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        monkeypatch.chdir(tmp_path)
        printed: list[object] = []
        namespace: dict[str, Any] = {"print": printed.append}
        with trio.fail_after(60):
            await eval(code, namespace)
        (first,) = printed
        assert isinstance(first, Converted)
        assert [json.loads(r.wsjf)["sn"] for r in first.reports] == ["LOT-1", "LOT-2"]
        assert [r.key for r in first.reports] == ["row 1", "row 2"]
        assert first.cursor is not None
        assert json.loads(first.cursor.native) == {"rowid": 2}
