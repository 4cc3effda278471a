"""The WATS benchmark still runs end to end (a smoke run with tiny counts, not a measurement)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


class TestBenchmarkSmoke:
    def test_tiny_run_reports_every_figure(self, tmp_path: Path) -> None:
        """A tiny run exits 0 and writes the client, emulator and floor figures."""
        out = tmp_path / "bench.json"
        command = [sys.executable, "-m", "pywats_actors._bench_wats", "--json", str(out)]
        command += ["--requests", "40", "--warmup", "5", "--load-requests", "600"]
        command += ["--seconds", "0.3", "--connections", "2"]
        subprocess.run(command, check=True, capture_output=True, timeout=120)
        figures = json.loads(out.read_text())
        assert figures["client_cpu_us"] > 0
        assert figures["httpx_cpu_us"] > 0
        for server in ("emulator", "floor"):
            assert figures[server]["requests"] > 0
            assert figures[server]["cpu_us"] > 0
