"""``pywats-node bench`` (the ``node`` suite): the node measured end to end, as a user would run it.

The emulator and the node each run in their own process (``pywats-node emulator`` and
``pywats-node run``), so the node's CPU is its own (plus its converter workers'). The bench
process writes files into the watch folder and polls the emulator's admin API for arrivals.

Scenarios:

* **startup**: process spawn to the ``node ready`` log line; idle RSS of the node and of one
  converter worker once idle (and of the upload process, which starts with the first upload,
  once idle after the runs); time from SIGTERM to exit when idle.
* **burst**: N small CSV files dropped at once; reports per second from the first drop until the
  emulator has acknowledged every one; the node's CPU time (its process and its workers) per
  report.
* **latency**: files dropped at a steady rate; per file, the time from the moment it became
  stable (written + the folder's settle interval) to its acknowledgement by the emulator; p50 and
  p99.

``--server-latency MS`` makes the emulator wait that long before each answer (a distant
server), and ``--fixed-concurrency N`` pins the uploads in flight to N instead of the adaptive
limit; the figures then include the limit the uploader had when it stopped, and the highest it
reached (from its ``uploader stopped`` log line).
"""

from __future__ import annotations

import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

import psutil

from ._files import drop
from ._measure import BenchFailed, percentile, tree_cpu, wait_until
from ._servers import Emulator

__all__ = ["BenchResult", "run_bench"]

_SETTLE = 0.2


@dataclass
class BenchResult:
    """The figures of one run (seconds, bytes, reports per second)."""

    files: int
    startup_to_ready_s: float
    idle_rss_node_mib: float
    idle_rss_worker_mib: float
    idle_rss_upload_mib: float
    burst_reports_per_s: float
    burst_cpu_ms_per_report: float
    latency_rate_per_s: float
    latency_files: int
    latency_p50_ms: float
    latency_p99_ms: float
    sigterm_to_exit_s: float
    server_latency_ms: float
    upload_concurrency: str
    upload_limit_at_stop: int | None
    upload_highest_limit: int | None


def _config(
    root: Path,
    url: str,
    token: str,
    *,
    separate_process: bool = True,
    fixed_concurrency: int | None = None,
) -> Path:
    limits = (
        f"concurrency = {fixed_concurrency}\nmax_concurrency = {fixed_concurrency}"
        if fixed_concurrency is not None
        else "concurrency = 2\nmax_concurrency = 16"
    )
    path = root / "etc" / "bench.toml"
    path.parent.mkdir()
    path.write_text(
        f"""schema_version = 2
[node]
station_namespace = "{uuid.uuid4()}"
data_dir = "{root / "data"}"
log_format = "json"
log_level = "info"
[server]
base_url = "{url}"
token = "{token}"
[upload]
{limits}
separate_process = {"true" if separate_process else "false"}
[conversion]
workers = 2
[[watch]]
id = "bench"
path = "{root / "in"}"
include = ["*.csv"]
settle = {_SETTLE}
rescan_interval = 30
converter = "csv"
"""
    )
    path.chmod(0o600)
    return path


def _start_node(
    config: Path, log_file: BinaryIO, log_path: Path
) -> tuple[subprocess.Popen[bytes], float]:
    """Start ``pywats-node run``; returns it and the seconds it took to log ``node ready``.

    Its log goes to a file: an unread pipe would fill up and stall the node.
    """
    spawned = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pywats_actors._cli", "run", "--config", str(config)],
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    wait_until(
        lambda: proc.poll() is not None or b"node ready" in log_path.read_bytes(),
        120,
        "node ready",
    )
    _check_running(proc, log_path)
    return proc, time.monotonic() - spawned


def _check_running(proc: subprocess.Popen[bytes], log_path: Path) -> None:
    """:class:`BenchFailed` with the end of the node's log when the node has exited."""
    if proc.poll() is not None:
        tail = log_path.read_text(errors="replace")[-2000:]
        raise BenchFailed(f"the node exited with code {proc.returncode}; its log ends:\n{tail}")


def _while_running(
    proc: subprocess.Popen[bytes], log_path: Path, predicate: Callable[[], bool]
) -> Callable[[], bool]:
    """*predicate*, which first checks that the node still runs."""

    def check() -> bool:
        _check_running(proc, log_path)
        return predicate()

    return check


def run_bench(
    *,
    files: int = 1000,
    rate: float = 50.0,
    seconds: float = 10.0,
    separate_process: bool = True,
    server_latency: float = 0.0,
    fixed_concurrency: int | None = None,
) -> BenchResult:
    """Run every scenario once and print the figures; see the module docstring.

    *separate_process* is the node's ``[upload] separate_process``; *server_latency* (seconds)
    the emulator's delay before each answer; *fixed_concurrency* pins the uploads in flight.
    """
    token = "YmVuY2g6c2VjcmV0"
    with tempfile.TemporaryDirectory(prefix="pywats-bench-") as tmp:
        root = Path(tmp)
        (root / "in").mkdir()
        emulator = Emulator(token, latency=server_latency)
        log_file = (root / "node.log").open("wb")
        node_proc: subprocess.Popen[bytes] | None = None
        try:
            config = _config(
                root,
                emulator.url,
                token,
                separate_process=separate_process,
                fixed_concurrency=fixed_concurrency,
            )
            log = root / "node.log"
            node_proc, ready = _start_node(config, log_file, log)
            node = psutil.Process(node_proc.pid)
            time.sleep(2.0)
            workers = [
                c
                for c in node.children(recursive=True)
                if "converters._worker" in " ".join(c.cmdline())
            ]
            rss_node = node.memory_info().rss / 2**20
            rss_worker = workers[0].memory_info().rss / 2**20 if workers else float("nan")

            # burst
            cpu0 = tree_cpu(node)
            t0 = time.monotonic()
            for i in range(files):
                drop(root / "in", i)
            wait_until(
                _while_running(node_proc, log, lambda: emulator.stored() >= files),
                600,
                f"{files} acknowledgements",
            )
            burst_s = time.monotonic() - t0
            burst_cpu = tree_cpu(node) - cpu0

            # latency at a steady rate
            count = max(1, int(rate * seconds))
            written: list[float] = []
            seen: list[float] = []
            base = emulator.stored()
            start = time.monotonic()
            for k in range(count):
                target = start + k / rate
                while (now := time.monotonic()) < target:
                    have = emulator.stored() - base
                    while len(seen) < have:
                        seen.append(now)
                    time.sleep(min(0.004, max(0.0, target - now)))
                written.append(drop(root / "in", files + k))

            def all_seen() -> bool:
                have = emulator.stored() - base
                now = time.monotonic()
                while len(seen) < have:
                    seen.append(now)
                return len(seen) >= count

            wait_until(
                _while_running(node_proc, log, all_seen), 120, "the steady-rate acknowledgements"
            )
            # arrivals are in order of first arrival, which is the drop order up to concurrency
            latencies = sorted(
                max(0.0, a - (w + _SETTLE)) for w, a in zip(written, seen, strict=True)
            )
            p50 = statistics.median(latencies) * 1000
            p99 = percentile(latencies, 0.99) * 1000

            time.sleep(1.0)
            # the upload process starts with the first upload: measured now, idle again
            senders = [
                c
                for c in node.children(recursive=True)
                if "pywats_actors.client._sender" in " ".join(c.cmdline())
            ]
            rss_upload = sum(c.memory_info().rss for c in senders) / 2**20
            stopped = time.monotonic()
            node_proc.send_signal(signal.SIGTERM)
            try:
                node_proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                raise BenchFailed("the node did not exit within 60 s of SIGTERM") from None
            sigterm_s = time.monotonic() - stopped
            limit_at_stop, highest_limit = _upload_limits(log)
        except psutil.NoSuchProcess:
            if node_proc is not None:
                _check_running(node_proc, log)  # the node itself is gone: say so
            raise
        finally:
            if node_proc is not None and node_proc.poll() is None:
                node_proc.kill()
                node_proc.wait(timeout=10)
            emulator.stop()
            log_file.close()
    result = BenchResult(
        files=files,
        startup_to_ready_s=round(ready, 3),
        idle_rss_node_mib=round(rss_node, 1),
        idle_rss_worker_mib=round(rss_worker, 1),
        idle_rss_upload_mib=round(rss_upload, 1),
        burst_reports_per_s=round(files / burst_s, 1),
        burst_cpu_ms_per_report=round(burst_cpu / files * 1000, 2),
        latency_rate_per_s=rate,
        latency_files=count,
        latency_p50_ms=round(p50, 1),
        latency_p99_ms=round(p99, 1),
        sigterm_to_exit_s=round(sigterm_s, 3),
        server_latency_ms=round(server_latency * 1000, 1),
        upload_concurrency=(
            f"fixed {fixed_concurrency}" if fixed_concurrency is not None else "adaptive 2-16"
        ),
        upload_limit_at_stop=limit_at_stop,
        upload_highest_limit=highest_limit,
    )
    for key, value in asdict(result).items():
        print(f"{key:<26} {value}")
    return result


def _upload_limits(log: Path) -> tuple[int | None, int | None]:
    """The uploader's limit at its stop and the highest it reached, from the node's JSON log."""
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if '"uploader stopped"' in line:
            record = json.loads(line)
            return record.get("limit"), record.get("highest_limit")
    return None, None
