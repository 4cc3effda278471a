"""The example tree in docs/supervisors.md runs as documented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "supervisors.md"


class TestDocumentedExample:
    def test_example_tree_runs_and_prints_what_the_doc_says(self, tmp_path: Path) -> None:
        """The first Python block of the doc runs, loses only the item in flight, restarts."""
        block = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
        assert block is not None
        script = tmp_path / "tree.py"
        script.write_text(block.group(1))
        result = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0] == "sum: 51"
        assert "ChildExited consumer RuntimeError: cannot digest 4" in lines
        assert any(line.startswith("ChildRestarting consumer") for line in lines)
        # orderly stop: producer first, then the consumer drains, then the sub-supervisor
        stops = [line for line in lines if line.startswith("ChildExited") and "stopped" in line]
        assert [line.split()[1] for line in stops] == ["producer", "consumer", "pipeline"]
