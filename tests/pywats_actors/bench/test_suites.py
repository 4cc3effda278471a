"""Every bench suite runs end to end with its smallest settings and prints sane figures.

These are smoke runs, not measurements: they assert that each figure is there and positive (or
in its range), never how fast anything is. The measured figures live in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CLI = [sys.executable, "-m", "pywats_actors._cli"]


def bench(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    """Run ``pywats-node bench ARGS --json FILE``; the figures it wrote (it must exit 0, with
    no traceback)."""
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [*CLI, "bench", *args, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.strip(), "the suite printed nothing"
    return json.loads(out.read_text())


@pytest.fixture(autouse=True)
def _no_inherited_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Subprocesses never see the developer's own XDG folders."""
    for var in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))


class TestNodeSuite:
    def test_short_run_reports_every_figure(self, tmp_path: Path) -> None:
        """A short `pywats-node bench` (no suite: the node suite) completes and reports every
        figure."""
        figures = bench(tmp_path, "--files", "30", "--rate", "20", "--seconds", "1")
        assert figures["files"] == 30
        for key in (
            "startup_to_ready_s",
            "idle_rss_node_mib",
            "burst_reports_per_s",
            "burst_cpu_ms_per_report",
            "latency_p50_ms",
            "sigterm_to_exit_s",
            "idle_rss_upload_mib",  # the upload process ran (separate_process is the default)
        ):
            assert figures[key] > 0, key
        assert figures["latency_p99_ms"] >= figures["latency_p50_ms"]
        assert figures["upload_concurrency"] == "adaptive 2-16"
        assert 1 <= figures["upload_limit_at_stop"] <= figures["upload_highest_limit"] <= 16

    def test_named_suite_with_fixed_concurrency(self, tmp_path: Path) -> None:
        """`bench node` is the same suite; --fixed-concurrency pins the limit it reports."""
        figures = bench(
            tmp_path, "node", "--files", "10", "--rate", "10", "--seconds", "1",
            "--fixed-concurrency", "3", "--server-latency", "5",
        )  # fmt: skip
        assert figures["files"] == 10
        assert figures["burst_reports_per_s"] > 0
        assert figures["server_latency_ms"] == 5.0
        assert figures["upload_concurrency"] == "fixed 3"
        assert figures["upload_limit_at_stop"] == figures["upload_highest_limit"] == 3

    def test_a_node_that_exits_is_reported_in_one_line(self, tmp_path: Path) -> None:
        """A node killed during the burst ends the bench with exit 1 and a message naming the
        node's exit, not a traceback."""
        env = {**os.environ, "PYWATS_FAILPOINTS": "pipeline.committed=kill@1"}
        done = subprocess.run(
            [*CLI, "bench", "--files", "5", "--rate", "5", "--seconds", "1"],
            capture_output=True,
            text=True,
            timeout=240,
            env=env,
            check=False,
        )
        assert done.returncode == 1, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        assert done.stderr.startswith("pywats-node bench: the node exited with code -9")


class TestClientSuite:
    def test_tiny_run_reports_every_figure(self, tmp_path: Path) -> None:
        """A tiny run writes the client, emulator and floor figures, all positive."""
        figures = bench(
            tmp_path, "client", "--requests", "40", "--warmup", "5", "--load-requests", "600",
            "--seconds", "0.3", "--connections", "2",
        )  # fmt: skip
        assert figures["report_bytes"] > 0
        assert figures["client_cpu_us"] > 0
        assert figures["httpx_cpu_us"] > 0
        for server in ("emulator", "floor"):
            assert figures[server]["requests"] > 0
            assert figures[server]["per_second"] > 0
            assert figures[server]["cpu_us"] > 0


class TestConverterSuites:
    def test_sandbox_latency(self, tmp_path: Path) -> None:
        """`bench converters` measures throughput and worker start (the overhead may be any
        sign on a busy machine, but is a number)."""
        figures = bench(tmp_path, "converters", "--files", "20")
        assert figures["files_per_s"] > 0
        assert figures["worker_start_ms"] > 0
        assert figures["overhead_us"] == figures["overhead_us"]  # not NaN

    def test_csv_cpu_per_file(self, tmp_path: Path) -> None:
        """`bench converters --csv` reports one run per caller count, each with files/s, CPU
        and latency figures."""
        runs = bench(tmp_path, "converters", "--csv", "--files", "20", "--workers", "1")
        assert [run["callers"] for run in runs] == [1, 4]
        for run in runs:
            assert run["files"] == 20
            assert run["files_per_s"] > 0
            assert run["parent_cpu_us"] >= 0
            assert run["worker_cpu_us"] >= 0
            assert 0 < run["p50_us"] <= run["p99_us"]

    def test_csv_peak_rss(self, tmp_path: Path) -> None:
        """`bench csv-rss` converts the export into reports and reads the worker's peak memory,
        at least its idle one."""
        figures = bench(tmp_path, "csv-rss", "--mb", "0.2")
        assert figures["csv_bytes"] >= 200_000
        assert figures["reports"] > 1
        assert figures["wsjf_bytes"] > 0
        assert 0 < figures["worker_idle"] <= figures["worker_peak"]
        assert figures["parent_peak"] > 0

    def test_one_report(self, tmp_path: Path) -> None:
        """With --one-report the whole export is one report."""
        figures = bench(tmp_path, "csv-rss", "--mb", "0.05", "--one-report")
        assert figures["reports"] == 1

    def test_formats(self, tmp_path: Path, samples_dir: Path) -> None:
        """`bench formats` converts each sample (a file by auto-detection, a folder unit by its
        folder converter) and reports its converter, reports, times and peak memory."""
        samples = tmp_path / "samples"
        (samples / "junit").mkdir(parents=True)
        shutil.copy(samples_dir / "junit" / "psu100_pass_xunit1.xml", samples / "junit")
        shutil.copytree(samples_dir / "klippel", samples / "klippel")
        figures = bench(tmp_path, "formats", "--samples", str(samples), "--repeat", "1")
        by_file = {f["file"]: f for f in figures}
        assert by_file["junit/psu100_pass_xunit1.xml"]["converter"] == "junit"
        (unit,) = [f for f in figures if f["file"].startswith("klippel/")]
        assert (unit["converter"], unit["reports"]) == ("klippel", 1)
        for f in figures:
            assert f["worker_seconds"] > 0
            assert f["total_seconds"] >= f["worker_seconds"]
            assert f["peak_rss"] >= f["idle_rss"] > 0


class TestSpoolSuites:
    def test_throughput(self, tmp_path: Path) -> None:
        """`bench spool` runs every scenario and reports positive rates."""
        figures = bench(
            tmp_path, "spool", "--seconds", "0.1", "--repeat", "1", "--dir", str(tmp_path)
        )
        assert len(figures) == 5
        for name, runs in figures.items():
            (run,) = runs
            assert run["ops_per_s"] > 0, name
            assert run["calls_per_commit"] >= 1, name
            assert 0 < run["p50_ms"] <= run["p99_ms"], name

    def test_startup(self, tmp_path: Path) -> None:
        """`bench spool --startup` opens each size --repeat times."""
        figures = bench(tmp_path, "spool", "--startup", "--rows", "20", "40", "--repeat", "2")
        assert set(figures) == {"20", "40"}
        for times in figures.values():
            assert len(times) == 2
            assert all(t > 0 for t in times)

    def test_per_call(self, tmp_path: Path) -> None:
        """`bench spool --per-call N` reports the three calls' costs."""
        figures = bench(tmp_path, "spool", "--per-call", "20", "--repeat", "1")
        assert set(figures) == {"enqueue µs", "claim, per report µs", "mark_sent µs"}
        assert all(value > 0 for value in figures.values())


class TestOtherSuites:
    def test_supervisors(self, tmp_path: Path) -> None:
        """`bench supervisors` reports the three costs."""
        figures = bench(tmp_path, "supervisors", "--children", "10", "--crashes", "10")
        assert set(figures) == {"start_child_us", "stop_children_ms", "crash_restart_us"}
        assert all(value > 0 for value in figures.values())

    def test_probe(self, tmp_path: Path) -> None:
        """`bench probe` reports each way of looking at a file, and the /proc scan."""
        figures = bench(tmp_path, "probe", "--files", "10", "--repeat", "1")
        assert len(figures) == 5
        assert all(value > 0 for value in figures.values())

    def test_python_m_is_the_same_command(self, tmp_path: Path) -> None:
        """`python -m pywats_actors.bench SUITE` runs the same suites."""
        out = tmp_path / "figures.json"
        command = [sys.executable, "-m", "pywats_actors.bench", "supervisors", "--children", "5"]
        command += ["--crashes", "5", "--json", str(out)]
        subprocess.run(command, check=True, capture_output=True, timeout=120)
        assert json.loads(out.read_text())["start_child_us"] > 0


class TestServers:
    def test_an_emulator_that_died_is_named(self) -> None:
        """When the emulator the node suite polls is gone, the poll fails with BenchFailed
        naming the emulator's exit, which the command prints as one line."""
        from pywats_actors.bench._measure import BenchFailed
        from pywats_actors.bench._servers import Emulator

        emulator = Emulator("bench-test-token")
        try:
            assert emulator.stored() == 0
            emulator.process.kill()
            emulator.process.wait(10)
            with pytest.raises(BenchFailed, match=r"emulator did not answer.*exited with code -9"):
                emulator.stored()
        finally:
            emulator.stop()


class TestArguments:
    @pytest.mark.parametrize(
        ("args", "needle"),
        [
            (["--files", "0"], "--files"),
            (["--rate", "0"], "--rate"),
            (["--server-latency", "-1"], "--server-latency"),
            (["--server-latency", "nan"], "--server-latency"),
            (["--fixed-concurrency", "0"], "--fixed-concurrency"),
            (["--json", "/nonexistent/folder/x.json"], "--json"),
            (["node", "--seconds", "0"], "--seconds"),
            (["nonsense"], "invalid choice"),
            (["client", "--load-requests", "200"], "--load-requests"),
            (["converters", "--sample", "/nonexistent.json"], "--sample"),
            (["converters", "--workers", "0"], "--workers"),
            (["csv-rss", "--mb", "0"], "--mb"),
            (["spool", "--startup", "--per-call", "100"], "not allowed with"),
            (["spool", "--per-call", "5"], "--per-call"),
            (["spool", "--dir", "/nonexistent"], "--dir"),
            (["supervisors", "--children", "0"], "--children"),
            (["probe", "--repeat", "0"], "--repeat"),
        ],
    )
    def test_bad_arguments_exit_2(self, args: list[str], needle: str) -> None:
        """A bad argument of any suite is refused with exit 2, naming it, before anything
        starts, and without a traceback."""
        done = subprocess.run(
            [*CLI, "bench", *args], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 2
        assert needle in done.stderr
        assert "Traceback" not in done.stderr

    def test_options_before_node_are_kept(self) -> None:
        """`bench --files 7 node` and `bench node --files 7` mean the same; `bench` alone is the
        node suite with its defaults."""
        from pywats_actors._cli import _parser

        before = _parser().parse_args(["bench", "--files", "7", "node"])
        after = _parser().parse_args(["bench", "node", "--files", "7"])
        default = _parser().parse_args(["bench"])
        assert before.files == after.files == 7
        assert before.handler is after.handler is default.handler
        assert _parser().parse_args(["bench", "spool"]).handler is not default.handler
        assert (default.files, default.rate, default.seconds) == (1000, 50.0, 10.0)
        assert (after.rate, after.fixed_concurrency) == (50.0, None)
