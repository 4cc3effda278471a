"""``pywats-node bench csv-rss``: the peak memory of a worker converting one large CSV export.

It writes a CSV export of the given size in the canonical long format (one row per step, 50
steps per unit under test, a new serial every 50 rows, the way a test database exports a day of
production; :func:`~pywats_actors.bench.bench_export`), converts it once through a pool of one
worker, and reports the worker's peak resident memory: ``VmHWM`` from ``/proc/<pid>/status``,
read after the answer, while the worker still runs. ``VmHWM`` is the kernel's own high-water
mark, so nothing between two samples can be missed; it includes the worker's start-up, reported
too (the idle worker's ``VmHWM`` before the file).

The pool runs with limits far above the default ones (memory, time, output), so the figure is
what the conversion needs, not where a limit stopped it. ``--one-report`` makes the whole file
one unit's report instead (a long burn-in log), the case streaming cannot help.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

import trio

from converters import Converted, ConverterConfig, PoolSettings, open_converter_pool

from ._files import bench_export
from ._measure import BenchFailed, high_water_mark, machine
from ._reports import NAMESPACE

__all__ = ["PeakRss", "run_csv_rss"]

_MiB = 1 << 20


@dataclass(frozen=True)
class PeakRss:
    """The figures of one conversion (bytes, seconds)."""

    csv_bytes: int
    reports: int
    wsjf_bytes: int
    worker_idle: int
    worker_peak: int
    seconds: float
    parent_peak: int


async def _measure(data: bytes) -> tuple[int, int, float, object]:
    """Convert ``data`` once in a fresh one-worker pool: the worker's VmHWM before and after,
    the seconds it took, and the result."""
    size_mb = len(data) // _MiB + 1
    settings = PoolSettings(
        workers=1,
        timeout=3600,
        cpu_seconds=3600,
        cpu_lifetime_seconds=7200,
        memory_mb=64 * 1024,
        address_space_mb=128 * 1024,
        max_input_mb=min(1024, max(64, size_mb)),
        max_output_mb=min(2048, max(256, 4 * size_mb)),
        max_reports_per_file=1_000_000,
    )
    async with open_converter_pool(
        settings, converters=[ConverterConfig("csv")], station_namespace=NAMESPACE
    ) as pool:
        (slot,) = pool.statistics().slots
        pid = slot.worker_pid  # the converting process (inside its namespaces)
        assert pid is not None
        idle = high_water_mark(pid)
        started = trio.current_time()
        result = await pool.convert(data, "export.csv", "csv")
        seconds = trio.current_time() - started
        peak = high_water_mark(pid)
    return idle, peak, seconds, result


def run_csv_rss(size_mb: float, *, one_report: bool = False) -> PeakRss:
    """Measure a ``size_mb`` MB export and print a Markdown section; returns the figures."""
    data = bench_export(int(size_mb * 1_000_000), one_report=one_report)
    idle, peak, seconds, result = trio.run(_measure, data)
    if not isinstance(result, Converted):
        raise BenchFailed(f"the conversion failed: {result!r}")
    figures = PeakRss(
        csv_bytes=len(data),
        reports=len(result.reports),
        wsjf_bytes=sum(len(report.wsjf) for report in result.reports),
        worker_idle=idle,
        worker_peak=peak,
        seconds=seconds,
        parent_peak=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    )
    option = " --one-report" if one_report else ""
    print(f"{machine(f'pywats-node bench csv-rss --mb {size_mb:g}{option}')}.\n")
    print(
        "| CSV | reports | WSJF out | worker idle VmHWM | worker peak VmHWM | time | parent peak |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {figures.csv_bytes / _MiB:,.1f} MiB | {figures.reports:,} | "
        f"{figures.wsjf_bytes / _MiB:,.1f} MiB | {idle / _MiB:,.0f} MiB | "
        f"**{peak / _MiB:,.0f} MiB** | {seconds:,.1f} s | {figures.parent_peak / _MiB:,.0f} MiB |"
    )
    return figures
