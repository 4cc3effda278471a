"""Benchmark: the peak memory of a worker converting one large CSV export.

Run ``python -m converters._bench --csv-peak-rss 50`` (the size in MB). It writes a CSV export
of that size in the canonical long format (one row per step, 50 steps per unit under test, a new
serial every 50 rows, the way a test database exports a day of production), converts it once
through a pool of one worker, and reports the worker's peak resident memory: ``VmHWM`` from
``/proc/<pid>/status``, read after the answer, while the worker still runs. ``VmHWM`` is the
kernel's own high-water mark, so nothing between two samples can be missed; it includes the
worker's start-up, reported too (the idle worker's ``VmHWM`` before the file).

The pool runs with limits far above the default ones (memory, time, output), so the figure is
what the conversion needs, not where a limit stopped it. ``--one-report`` makes the whole file
one unit's report instead (a long burn-in log), the case streaming cannot help.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import resource
import time
from collections.abc import Sequence

__all__ = ["bench_export", "peak_rss_main"]

_MiB = 1 << 20
_STEPS = 50
_HEADER = (
    "SerialNumber,PartNumber,Revision,TestDate,Sequence,StepName,Value,LowLimit,HighLimit,Unit,"
    "Result\n"
)


def bench_export(size: int, *, one_report: bool = False) -> bytes:
    """A canonical CSV export of at least ``size`` bytes: 50 rows (steps in five sequences)
    per unit, a new serial number and start time per unit; or, with ``one_report``, one unit
    whose rows are all steps of one report (a long burn-in log)."""
    rows = [_HEADER]
    total = len(_HEADER)
    start = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
    unit = 0
    while total < size:
        serial = 0 if one_report else unit
        when = (start + dt.timedelta(seconds=30 * serial)).isoformat()
        for step in range(_STEPS):
            row = (
                f"SN-{serial:08d},PCBA-100,B,{when},Seq{step // 10},Step {step:03d},"
                f"{3.3 + step * 0.001:.4f},3.0,3.6,V,PASS\n"
            )
            rows.append(row)
            total += len(row)
        unit += 1
    return "".join(rows).encode()


def _high_water_mark(pid: int) -> int:
    """``VmHWM`` of process ``pid``, in bytes (0 when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


async def _measure(data: bytes) -> tuple[int, int, float, object]:
    """Convert ``data`` once in a fresh one-worker pool: the worker's VmHWM before and after,
    the seconds it took, and the result."""
    import uuid

    import trio

    from ._pool import open_converter_pool
    from ._settings import ConverterConfig, PoolSettings

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
    )
    namespace = uuid.UUID("00000000-0000-4000-8000-00000000beef")
    async with open_converter_pool(
        settings, converters=[ConverterConfig("csv")], station_namespace=namespace
    ) as pool:
        (slot,) = pool.statistics().slots
        assert slot.pid is not None
        idle = _high_water_mark(slot.pid)
        started = trio.current_time()
        result = await pool.convert(data, "export.csv", "csv")
        seconds = trio.current_time() - started
        peak = _high_water_mark(slot.pid)
    return idle, peak, seconds, result


def peak_rss_main(size_mb: float, *, one_report: bool = False) -> int:
    """Run the measurement for a ``size_mb`` MB export and print a Markdown section."""
    import trio

    from ._results import Converted

    data = bench_export(int(size_mb * 1_000_000), one_report=one_report)
    idle, peak, seconds, result = trio.run(_measure, data)
    if not isinstance(result, Converted):
        print(f"the conversion failed: {result!r}")
        return 1
    wsjf = sum(len(report.wsjf) for report in result.reports)
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    option = " --one-report" if one_report else ""
    print(
        f"`python -m converters._bench --csv-peak-rss {size_mb:g}{option}` on "
        f"{platform.node() or 'this machine'}: {os.cpu_count()} CPUs, Linux {platform.release()}, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}.\n"
    )
    print(
        "| CSV | reports | WSJF out | worker idle VmHWM | worker peak VmHWM | time | parent peak |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {len(data) / _MiB:,.1f} MiB | {len(result.reports):,} | {wsjf / _MiB:,.1f} MiB | "
        f"{idle / _MiB:,.0f} MiB | **{peak / _MiB:,.0f} MiB** | {seconds:,.1f} s | "
        f"{parent / _MiB:,.0f} MiB |"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m converters._bench_rss [MB] [--one-report]``: the same as
    ``_bench --csv-peak-rss MB [--one-report]``."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    one_report = "--one-report" in args
    sizes = [a for a in args if a != "--one-report"]
    return peak_rss_main(float(sizes[0]) if sizes else 50.0, one_report=one_report)


if __name__ == "__main__":
    raise SystemExit(main())
