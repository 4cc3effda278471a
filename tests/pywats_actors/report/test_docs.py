"""The examples in docs/reports.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "reports.md"


class TestReportsDoc:
    def test_building_example_runs(self) -> None:
        """The worked builder example executes and its own assertions hold."""
        blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
        assert blocks, f"no python example in {DOC}"
        namespace: dict[str, object] = {}
        exec(compile(blocks[0], str(DOC), "exec"), namespace)
        assert isinstance(namespace["wsjf"], bytes)

    def test_reading_example_runs_on_the_built_report(self) -> None:
        """The decode/encode example runs on the bytes the builder example produced."""
        blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
        namespace: dict[str, object] = {}
        for block in blocks[:3]:
            exec(compile(block, str(DOC), "exec"), namespace)

    @pytest.mark.parametrize("name", ["ReportBuilder", "validate_or_raise", "ReportDecodeError"])
    def test_doc_mentions_the_public_names(self, name: str) -> None:
        """The guide covers the names a user starts from."""
        assert name in DOC.read_text(encoding="utf-8")
