"""Scenario: a long run at a steady rate; the node's resources and latency stay flat.

Files arrive at a steady rate for a while; every second the driver samples the node's resident
memory, open file descriptors and threads (the node process), the number of its processes, and
the size of the spool's WAL. A leak grows with the number of files; the run fails when the last
quarter of the samples is well above the first quarter. Latency (drop to first delivery) and
start-up time before and after are recorded, not asserted (speed is measured, not asserted).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
import trio

from ._harness import ChaosRun, NodeProcess, chaos_run, size

pytestmark = pytest.mark.slow

_MiB = 1024 * 1024


@dataclass
class Samples:
    rss: list[float] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)
    threads: list[int] = field(default_factory=list)
    processes: list[int] = field(default_factory=list)
    wal: list[float] = field(default_factory=list)

    def take(self, run: ChaosRun, node: NodeProcess) -> None:
        process = psutil.Process(node.pid)
        with process.oneshot():
            self.rss.append(process.memory_info().rss / _MiB)
            self.fds.append(process.num_fds())
            self.threads.append(process.num_threads())
        self.processes.append(len(process.children(recursive=True)))
        wal = run.spool_path.with_name(run.spool_path.name + "-wal")
        self.wal.append(wal.stat().st_size / _MiB if wal.exists() else 0.0)


def quarters(values: list[float] | list[int]) -> tuple[float, float]:
    """The median of the first and of the last quarter of *values*."""
    quarter = max(1, len(values) // 4)
    return statistics.median(values[:quarter]), statistics.median(values[-quarter:])


async def ready_seconds(run: ChaosRun) -> tuple[NodeProcess, float]:
    start = time.monotonic()
    node = run.start()
    await run.wait_ready(node)
    return node, time.monotonic() - start


class TestSteadyRate:
    async def test_resources_stay_flat_at_a_steady_rate(self, tmp_path: Path) -> None:
        """At a steady rate, memory, descriptors, threads, processes and the WAL of the node
        do not grow with the number of files, and every file arrives once and whole."""
        seconds, rate = size(12, 400), size(15, 5)
        samples = Samples()
        dropped_at: dict[str, float] = {}
        async with chaos_run(tmp_path, seed=71) as run:
            node, first_start = await ready_seconds(run)

            async def sample() -> None:
                while True:
                    samples.take(run, node)
                    await trio.sleep(1)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(sample)
                for _ in range(seconds * rate):
                    (rid,) = run.drop(1)
                    dropped_at[rid] = time.time()
                    await trio.sleep(1 / rate)
                nursery.cancel_scope.cancel()
            await run.drain(node, 120)
            assert await run.stop(node) == 0
            node, second_start = await ready_seconds(run)
            await run.drain(node, 60)
            assert await run.stop(node) == 0

            first = {d.report_id: d.at for d in reversed(run.emulator.deliveries())}
            latencies = [first[rid] - at for rid, at in dropped_at.items()]
            quarter = max(1, len(latencies) // 4)
            figures = run.figures.faults
            figures["latency p50 first quarter s"] = round(
                statistics.median(latencies[:quarter]), 3
            )
            figures["latency p50 last quarter s"] = round(
                statistics.median(latencies[-quarter:]), 3
            )
            figures["start-up s before, after"] = [round(first_start, 2), round(second_start, 2)]
            for name in ("rss", "fds", "threads", "processes", "wal"):
                figures[f"{name} first, last quarter"] = [
                    round(v, 1) for v in quarters(getattr(samples, name))
                ]
            verdict = run.verdict()
            run.report("steady rate", verdict)
            verdict.assert_ok()
            assert verdict.delivered == verdict.files == len(run.dropped)

        rss = quarters(samples.rss)
        assert rss[1] <= rss[0] * 1.5 + 20, f"node RSS grew from {rss[0]:.0f} to {rss[1]:.0f} MiB"
        fds = quarters(samples.fds)
        assert fds[1] <= fds[0] + 16, f"open descriptors grew from {fds[0]} to {fds[1]}"
        threads = quarters(samples.threads)
        assert threads[1] <= threads[0] + 4, f"threads grew from {threads[0]} to {threads[1]}"
        processes = quarters(samples.processes)
        assert processes[1] <= processes[0] + 1, f"processes: {processes[0]} -> {processes[1]}"
        wal = quarters(samples.wal)
        assert wal[1] <= max(wal[0] * 2, 8.0), f"the WAL grew from {wal[0]:.1f} to {wal[1]:.1f} MiB"
