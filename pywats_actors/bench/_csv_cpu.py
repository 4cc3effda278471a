"""``pywats-node bench converters --csv``: what one file costs in CPU, on each side of the
sandbox, for the node suite's case: small CSV files (one UUT, three numeric steps, as the node
suite drops them) through the built-in CSV converter, configured as the node configures it, in
warm workers; one caller at a time, then several at once."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psutil
import trio

from converters import Converted, ConverterConfig, ConverterPool, PoolSettings, open_converter_pool

from ._files import bench_csv
from ._measure import machine, own_cpu, percentile, reaped_children_cpu, run_callers
from ._reports import NAMESPACE

__all__ = ["CpuRun", "csv_converters", "run_csv_cpu"]


def csv_converters(station: str = "bench-station") -> list[ConverterConfig]:
    """The converters the node loads for a watch folder with ``converter = "csv"``
    (``pywats_actors.node.converter_set``): the built-ins, then the folder's own CSV."""
    args = {"defaults": {"station": station}}
    return [
        ConverterConfig("wsjf"),
        ConverterConfig("csv", args=args),
        ConverterConfig("csv", name="watch:bench", args=args),
    ]


@dataclass
class CpuRun:
    """One measured run of the CSV case."""

    label: str
    files: int
    callers: int
    seconds: float
    parent_cpu: float
    parent_sys: float
    worker_cpu: float
    recycles: int
    latencies: list[float]

    def figures(self) -> dict[str, float]:
        """Files/s, CPU per file (µs: parent, its system part, workers), latency (µs)."""
        return {
            "callers": self.callers,
            "files": self.files,
            "files_per_s": self.files / self.seconds,
            "parent_cpu_us": self.parent_cpu / self.files * 1e6,
            "parent_sys_us": self.parent_sys / self.files * 1e6,
            "worker_cpu_us": self.worker_cpu / self.files * 1e6,
            "p50_us": percentile(self.latencies, 0.5) * 1e6,
            "p99_us": percentile(self.latencies, 0.99) * 1e6,
            "recycles": self.recycles,
        }

    def row(self) -> str:
        us = [s * 1e6 for s in self.latencies]
        return (
            f"| {self.label} | {self.files} | {self.files / self.seconds:,.0f} | "
            f"{self.parent_cpu / self.files * 1e6:,.0f} "
            f"({self.parent_sys / self.files * 1e6:,.0f}) | "
            f"{self.worker_cpu / self.files * 1e6:,.0f} | "
            f"{percentile(us, 0.5):,.0f} | {percentile(us, 0.99):,.0f} | {self.recycles} |"
        )


def _live_workers_cpu() -> dict[int, float]:
    found: dict[int, float] = {}
    for child in psutil.Process().children():
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        found[child.pid] = times.user + times.system
    return found


async def _csv_run(
    pool: ConverterPool, label: str, files: int, callers: int, first_index: int
) -> CpuRun:
    """Convert ``files`` distinct bench files with ``callers`` concurrent callers.

    Worker CPU: live workers' CPU now minus at the start, plus what workers that exited
    meanwhile used (RUSAGE_CHILDREN, once reaped), minus their share before the start.
    """
    payloads = [bench_csv(first_index + i) for i in range(files)]
    names = [f"f{first_index + i:06d}.csv" for i in range(files)]
    latencies: list[float] = []
    recycles = pool.statistics().recycles
    workers_before = _live_workers_cpu()
    children_before = reaped_children_cpu()
    cpu_before = own_cpu()
    started = trio.current_time()

    async def convert(index: int) -> None:
        t0 = trio.current_time()
        result = await pool.convert(payloads[index], names[index], "watch:bench")
        latencies.append(trio.current_time() - t0)
        assert isinstance(result, Converted), result

    await run_callers(callers, files, convert)
    seconds = trio.current_time() - started
    cpu_after = own_cpu()
    workers_after = _live_workers_cpu()
    reaped = reaped_children_cpu() - children_before
    worker_cpu = reaped + sum(workers_after.values())
    worker_cpu -= sum(workers_before.values())
    return CpuRun(
        label,
        files,
        callers,
        seconds,
        cpu_after[0] - cpu_before[0],
        cpu_after[1] - cpu_before[1],
        worker_cpu,
        pool.statistics().recycles - recycles,
        latencies,
    )


async def _csv_bench(
    files: int, workers: int, callers: int, landlock: str, profile: Path | None
) -> tuple[list[CpuRun], str]:
    # No planned replacement of workers during the runs: this measures the steady state (the
    # node suite, 1,000 files on two workers, does not reach the default 1,000 per worker).
    settings = PoolSettings(
        workers=workers,
        landlock=landlock,  # type: ignore[arg-type]
        max_conversions_per_worker=1_000_000,
    )
    async with open_converter_pool(
        settings, converters=csv_converters(), station_namespace=NAMESPACE
    ) as pool:
        await _csv_run(pool, "warm-up", 100, workers, 0)
        runs: list[CpuRun] = []
        first = 100
        # one caller; as many as workers; more (they queue: the node's pipeline has 4 files in
        # flight per worker)
        for count in sorted({1, workers, callers}):
            label = "1 caller" if count == 1 else f"{count} callers"
            profiler = None
            if profile is not None and count == callers:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            runs.append(await _csv_run(pool, label, files, count, first))
            if profiler is not None and profile is not None:
                profiler.disable()
                profiler.dump_stats(profile)
            first += files
        return runs, pool.sandbox_level


def run_csv_cpu(
    files: int, workers: int, callers: int, landlock: str, profile: Path | None
) -> list[CpuRun]:
    """Run the CSV case and print its table; returns the runs."""
    runs, level = trio.run(_csv_bench, files, workers, callers, landlock, profile)
    command = f"pywats-node bench converters --csv --files {files}"
    print(
        f"{machine(command)}, {workers} warm workers ({level}), load average "
        f"{os.getloadavg()[0]:.2f}. CPU per file in microseconds (getrusage / psutil), "
        "latency of one `pool.convert` call (trio's clock).\n"
    )
    print(
        "| callers | files | files/s | parent CPU µs/file (system) | worker CPU µs/file | p50 µs | "
        "p99 µs | recycles |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        print(run.row())
    return runs
