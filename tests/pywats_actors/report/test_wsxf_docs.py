"""The WSXF example in docs/reports.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[3] / "docs" / "reports.md"


class TestWsxfDoc:
    def test_wsxf_example_runs_on_the_built_report(self) -> None:
        """Every Python example of the guide runs in order, the WSXF one on the builder's
        report, and its assertions hold."""
        text = DOC.read_text(encoding="utf-8")
        blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
        assert any("decode_wsxf" in block for block in blocks)
        namespace: dict[str, object] = {}
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), namespace)
        assert isinstance(namespace["xml"], bytes)

    def test_the_section_covers_safety_and_differences(self) -> None:
        """The guide states the XML safety rules and the known differences."""
        section = DOC.read_text(encoding="utf-8").partition("\n## WSXF\n")[2]
        for heading in ("### What maps where", "### Known differences", "### XML safety"):
            assert heading in section
