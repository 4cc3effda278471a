"""``pywats-node bench``: the node measured end to end, as a user would run it.

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

import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

import httpx
import psutil

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


def _csv(index: int) -> str:
    when = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=index)
    head = "SerialNumber,PartNumber,Revision,TestDate,StepName,Value,LowLimit,HighLimit,Unit,Result"
    rows = [head]
    for step, value in (("Vcc", 3.3), ("Icc", 0.12), ("Freq", 24.0)):
        rows.append(f"BENCH-{index:06d},PCBA-B,A,{when.isoformat()},{step},{value},0,100,u,PASS")
    return "\n".join(rows) + "\n"


def _drop(folder: Path, index: int) -> float:
    """Write one CSV file atomically; returns when it was complete (monotonic time)."""
    tmp = folder / f".f{index:06d}.tmp"
    tmp.write_text(_csv(index))
    os.replace(tmp, folder / f"f{index:06d}.csv")
    return time.monotonic()


class _Emulator:
    def __init__(self, token: str, latency: float = 0.0) -> None:
        self.token = token
        command = [sys.executable, "-m", "pywats_actors._cli", "emulator", "--token", token]
        if latency > 0:
            command += ["--latency", str(latency)]
        self.proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        self.http = httpx.Client(headers={"Authorization": f"Basic {token}"}, timeout=10)

    def stored(self) -> int:
        """How many distinct reports the emulator has (a cheap admin call, fine to poll)."""
        answer = self.http.get(f"{self.url}/_emulator/count")
        answer.raise_for_status()
        count: int = answer.json()["stored"]
        return count

    def close(self) -> None:
        self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


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


def _cpu_seconds(proc: psutil.Process) -> float:
    """CPU of the node and of every worker it has (or had: reaped children count too)."""
    total = 0.0
    with proc.oneshot():
        times = proc.cpu_times()
        total += times.user + times.system + times.children_user + times.children_system
    for child in proc.children(recursive=True):
        try:
            t = child.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            continue
    return total


def _wait(predicate: object, timeout: float, what: str) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"bench: {what} did not happen within {timeout} s")
        time.sleep(0.005)


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
    _wait(
        lambda: proc.poll() is not None or b"node ready" in log_path.read_bytes(),
        120,
        "node ready",
    )
    if proc.poll() is not None:
        tail = log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the node exited with {proc.returncode}:\n{tail}")
    return proc, time.monotonic() - spawned


def run_bench(
    *,
    files: int = 1000,
    rate: float = 50.0,
    seconds: float = 10.0,
    json_out: str | None = None,
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
        emulator = _Emulator(token, server_latency)
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
            node_proc, ready = _start_node(config, log_file, root / "node.log")
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
            cpu0 = _cpu_seconds(node)
            t0 = time.monotonic()
            for i in range(files):
                _drop(root / "in", i)
            _wait(lambda: emulator.stored() >= files, 600, f"{files} acknowledgements")
            burst_s = time.monotonic() - t0
            burst_cpu = _cpu_seconds(node) - cpu0

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
                written.append(_drop(root / "in", files + k))

            def all_seen() -> bool:
                have = emulator.stored() - base
                now = time.monotonic()
                while len(seen) < have:
                    seen.append(now)
                return len(seen) >= count

            _wait(all_seen, 120, "the steady-rate acknowledgements")
            # arrivals are in order of first arrival, which is the drop order up to concurrency
            latencies = sorted(
                max(0.0, a - (w + _SETTLE)) for w, a in zip(written, seen, strict=True)
            )
            p50 = statistics.median(latencies) * 1000
            p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000

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
            node_proc.wait(timeout=60)
            sigterm_s = time.monotonic() - stopped
            limit_at_stop, highest_limit = _upload_limits(root / "node.log")
        finally:
            if node_proc is not None and node_proc.poll() is None:
                node_proc.kill()
                node_proc.wait(timeout=10)
            emulator.close()
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
    if json_out:
        Path(json_out).write_text(json.dumps(asdict(result), indent=2) + "\n")
    return result


def _upload_limits(log: Path) -> tuple[int | None, int | None]:
    """The uploader's limit at its stop and the highest it reached, from the node's JSON log."""
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if '"uploader stopped"' in line:
            record = json.loads(line)
            return record.get("limit"), record.get("highest_limit")
    return None, None
