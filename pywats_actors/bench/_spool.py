"""``pywats-node bench spool``: durable enqueues per second, the group-commit gain, and upload
bookkeeping.

Each scenario runs for ``--seconds`` against a fresh spool in a temporary directory (``--dir``,
by default the system's), ``--repeat`` times, interleaved to spread host noise; the table shows
the median run. Every enqueue counted here returned after its commit was fsynced
(WAL, ``synchronous=FULL``). The raw ``sqlite3`` line is the floor for the same file system: one
``INSERT`` + ``COMMIT`` per row on one connection, no threads, no trio.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import trio

from ..spool import SourceInfo, Spool, SpoolItem, SpoolSettings, open_spool
from ._measure import percentile

__all__ = ["Run", "run_benchmarks", "run_spool", "spool_items"]

_SOURCE = SourceInfo(
    path="/bench/in/result.xml",
    content_hash="sha256:" + "0" * 64,
    converter="bench",
    converter_version="1",
)


@dataclass(frozen=True, slots=True)
class Run:
    """One timed run of one scenario."""

    ops: int
    seconds: float
    transactions: int
    latencies: tuple[float, ...]

    @property
    def rate(self) -> float:
        return self.ops / self.seconds

    def figures(self) -> dict[str, float]:
        """Operations per second, calls per commit, latency p50 and p99 (ms)."""
        return {
            "ops_per_s": self.rate,
            "calls_per_commit": self.ops / self.transactions if self.transactions else 0.0,
            "p50_ms": self.percentile_ms(0.5),
            "p99_ms": self.percentile_ms(0.99),
        }

    def percentile_ms(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000


def spool_items(count: int, body: bytes, *, distinct_sources: bool = False) -> list[SpoolItem]:
    """*count* reports with *body* and new ids; from one source file, or with
    *distinct_sources* each from a file of its own (its own path and content hash)."""
    items = []
    for _ in range(count):
        rid = str(uuid.uuid4())
        source = _SOURCE
        if distinct_sources:
            source = SourceInfo(
                path=f"/bench/in/{rid}.xml",
                content_hash="sha256:" + os.urandom(32).hex(),
                converter="bench",
                converter_version="1",
            )
        items.append(SpoolItem(report_id=rid, body=body, source=source))
    return items


async def _timed(
    spool: Spool, workers: int, seconds: float, op: Callable[[list[float]], Awaitable[int]]
) -> Run:
    latencies: list[float] = []
    done = 0
    before = spool.statistics().transactions
    deadline = trio.current_time() + seconds

    async def worker() -> None:
        nonlocal done
        while trio.current_time() < deadline:
            n = await op(latencies)
            if n == 0:
                return
            done += n

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(workers):
            nursery.start_soon(worker)
    elapsed = time.perf_counter() - start
    return Run(done, elapsed, spool.statistics().transactions - before, tuple(latencies))


async def _enqueue_run(directory: Path, workers: int, seconds: float, body: bytes) -> Run:
    async with open_spool(directory / "enqueue.db", SpoolSettings(max_bytes=None)) as spool:

        async def op(latencies: list[float]) -> int:
            items = spool_items(1, body)
            started = time.perf_counter()
            await spool.enqueue(items)
            latencies.append(time.perf_counter() - started)
            return 1

        return await _timed(spool, workers, seconds, op)


async def _upload_run(directory: Path, workers: int, seconds: float, body: bytes) -> Run:
    async with open_spool(directory / "upload.db", SpoolSettings(max_bytes=None)) as spool:
        for _ in range(int(seconds * 60)):  # ~6,000 reports per second of run time
            await spool.enqueue(spool_items(100, body))

        async def op(latencies: list[float]) -> int:
            started = time.perf_counter()
            claimed = await spool.claim(1)
            for report in claimed:
                await spool.mark_sent(report.report_id, answer="ok")
            latencies.append(time.perf_counter() - started)
            return len(claimed)

        return await _timed(spool, workers, seconds, op)


def _raw_run(directory: Path, seconds: float, body: bytes) -> Run:
    conn = sqlite3.connect(directory / "raw.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE q (seq INTEGER PRIMARY KEY, id TEXT UNIQUE, body BLOB)")
    latencies = []
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO q (id, body) VALUES (?, ?)", (str(uuid.uuid4()), body))
        conn.execute("COMMIT")
        latencies.append(time.perf_counter() - started)
        done += 1
    elapsed = time.perf_counter() - start
    conn.close()
    return Run(done, elapsed, done, tuple(latencies))


_SCENARIOS: dict[str, tuple[str, int]] = {
    "raw sqlite3, 1 row/commit (floor)": ("raw", 1),
    "enqueue, 1 writer": ("enqueue", 1),
    "enqueue, 8 concurrent (group commit)": ("enqueue", 8),
    "claim + mark_sent, 1 uploader": ("upload", 1),
    "claim + mark_sent, 4 uploaders": ("upload", 4),
}


def run_benchmarks(
    *, seconds: float = 2.0, repeat: int = 3, body_bytes: int = 4096, directory: Path | None = None
) -> dict[str, list[Run]]:
    """Run every scenario *repeat* times, interleaved; return the runs per scenario."""
    body = os.urandom(body_bytes)
    results: dict[str, list[Run]] = {name: [] for name in _SCENARIOS}
    for _ in range(repeat):
        for name, (kind, workers) in _SCENARIOS.items():
            with tempfile.TemporaryDirectory(prefix="spool-bench-", dir=directory) as tmp:
                path = Path(tmp)
                if kind == "raw":
                    run = _raw_run(path, seconds, body)
                elif kind == "enqueue":
                    run = trio.run(_enqueue_run, path, workers, seconds, body)
                else:
                    run = trio.run(_upload_run, path, workers, seconds, body)
            results[name].append(run)
    return results


def run_spool(
    *, seconds: float = 2.0, repeat: int = 3, body_bytes: int = 4096, directory: Path | None = None
) -> dict[str, list[Run]]:
    """Run the scenarios and print a Markdown table; returns the runs per scenario."""
    results = run_benchmarks(
        seconds=seconds, repeat=repeat, body_bytes=body_bytes, directory=directory
    )
    lines = [
        f"spool benchmark: {seconds:g} s per run, median of {repeat}, "
        f"{body_bytes} B bodies, SQLite {sqlite3.sqlite_version}, Python "
        f"{sys.version.split()[0]}, {os.cpu_count()} CPUs",
        "",
        "| scenario | ops/s (median; min-max) | calls per commit | p50 ms | p99 ms |",
        "|---|---|---|---|---|",
    ]
    for name, runs in results.items():
        rates = sorted(run.rate for run in runs)
        median = runs[[run.rate for run in runs].index(statistics.median_low(rates))]
        per_commit = median.ops / median.transactions if median.transactions else float("nan")
        lines.append(
            f"| {name} | {median.rate:,.0f} ({rates[0]:,.0f}-{rates[-1]:,.0f}) "
            f"| {per_commit:.1f} | {median.percentile_ms(0.5):.2f} | "
            f"{median.percentile_ms(0.99):.2f} |"
        )
    print("\n".join(lines))
    return results
