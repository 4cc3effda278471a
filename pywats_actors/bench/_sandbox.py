"""``pywats-node bench converters``: the per-file overhead of the converter sandbox with a warm
worker.

It measures, on this machine:

* a trivial converter (a fixed small report) on a small file, one caller, one warm worker:
  the latency of ``pool.convert`` against the same converter called in-process (plus the
  parent's identity step), so the difference is what the sandbox costs per file;
* the same with Landlock off, to show what Landlock costs per file (nothing: it is set once);
* throughput with two workers and four concurrent callers;
* the 50 KB WSJF sample through the built-in pass-through, pool against in-process;
* how long a worker takes to start (process, imports, handshake, lock-down).

The output is a Markdown section for ``docs/benchmarks.md``.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec
import trio

from converters import Converted, ConverterInfo, PoolSettings, WsjfConverter, open_converter_pool

from ._measure import machine, percentile, run_callers
from ._reports import NAMESPACE
from ._trivial import TRIVIAL, Trivial

__all__ = ["run_sandbox"]

_SMALL_FILE = b"SerialNumber,StepName,Value\nSN-1,V,1.0\n"
_SAMPLE = Path(__file__).resolve().parents[3] / "shared/samples/wsjf/uut-wsjf-export.json"


def _row(label: str, samples: Sequence[float]) -> str:
    us = [s * 1e6 for s in samples]
    return (
        f"| {label} | {len(us)} | {statistics.mean(us):,.0f} | {percentile(us, 0.5):,.0f} | "
        f"{percentile(us, 0.99):,.0f} | {max(us):,.0f} |"
    )


def _in_process(
    converter: Any, data: bytes, name: str, files: int, info: Any, finish: Callable[..., Any]
) -> list[float]:
    from converters import content_hash

    samples = []
    for _ in range(files):
        started = time.perf_counter()
        reports = converter.convert(data, name, converter.Arguments())
        raw = [r if isinstance(r, bytes) else msgspec.json.encode(r) for r in reports]
        finish(raw, info, content_hash(data), NAMESPACE)
        samples.append(time.perf_counter() - started)
    return samples


async def _through_pool(
    data: bytes, name: str, converter: str, files: int, refs: list[str], landlock: str
) -> tuple[list[float], str]:
    settings = PoolSettings(workers=1, landlock=landlock)  # type: ignore[arg-type]
    async with open_converter_pool(settings, converters=refs, station_namespace=NAMESPACE) as pool:
        for _ in range(50):  # warm up
            await pool.convert(data, name, converter)
        samples = []
        for _ in range(files):
            started = trio.current_time()
            result = await pool.convert(data, name, converter)
            samples.append(trio.current_time() - started)
            assert isinstance(result, Converted), result
        return samples, pool.sandbox_level


async def _throughput(files: int, workers: int, callers: int) -> float:
    async with open_converter_pool(
        PoolSettings(workers=workers), converters=[TRIVIAL], station_namespace=NAMESPACE
    ) as pool:

        async def convert(index: int) -> None:
            await pool.convert(_SMALL_FILE, "f.csv", "trivial")

        started = trio.current_time()
        await run_callers(callers, files, convert)
        return files / (trio.current_time() - started)


async def _start_time(runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = trio.current_time()
        async with open_converter_pool(
            PoolSettings(workers=1), converters=["wsjf", "csv"], station_namespace=NAMESPACE
        ):
            samples.append(trio.current_time() - started)
    return samples


def run_sandbox(files: int, sample: Path | None) -> dict[str, float]:
    """Run the measurements and print a Markdown section; returns the summary figures
    (``overhead_us``, ``files_per_s``, ``worker_start_ms``)."""
    from converters._finish import identify_reports

    sample = _SAMPLE if sample is None else sample
    trivial_info = ConverterInfo("trivial", "trivial", "1", TRIVIAL, (), False)
    refs = [TRIVIAL, "wsjf"]
    local = _in_process(Trivial(), _SMALL_FILE, "f.csv", files, trivial_info, identify_reports)
    pooled, level = trio.run(_through_pool, _SMALL_FILE, "f.csv", "trivial", files, refs, "auto")
    no_ll, _ = trio.run(_through_pool, _SMALL_FILE, "f.csv", "trivial", files, refs, "off")
    throughput = trio.run(_throughput, files, 2, 4)
    rows = [
        _row("trivial converter, in-process (convert + ids)", local),
        _row(f"trivial converter, pool, 1 warm worker ({level})", pooled),
        _row("trivial converter, pool, 1 warm worker (rlimits-only)", no_ll),
    ]
    if sample.is_file():
        data = sample.read_bytes()
        wsjf_info = ConverterInfo("wsjf", "wsjf", "1.0", "wsjf", (), True)
        n = max(files // 10, 50)
        wsjf_local = _in_process(WsjfConverter(), data, sample.name, n, wsjf_info, identify_reports)
        wsjf_pool, _ = trio.run(_through_pool, data, sample.name, "wsjf", n, refs, "auto")
        kb = len(data) // 1024
        rows += [
            _row(f"WSJF pass-through {kb} KB, in-process (convert + ids)", wsjf_local),
            _row(f"WSJF pass-through {kb} KB, pool, 1 warm worker", wsjf_pool),
        ]
    starts = trio.run(_start_time, 10)
    overhead = (statistics.median(pooled) - statistics.median(local)) * 1e6

    print("## Converter sandbox\n")
    print(
        f"{machine(f'pywats-node bench converters --files {files}')}. Latency of one "
        "`pool.convert` call, one caller, in microseconds (trio's clock).\n"
    )
    print("| case | files | mean µs | p50 µs | p99 µs | max µs |")
    print("|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print(
        f"\n- **Sandbox overhead per file, warm worker: about {overhead:,.0f} µs** (p50 pool minus "
        "p50 in-process): the request and answer frames through the pipes (the caller writes the "
        "request; the worker slot's task wakes once, for the answer), the per-file CPU-limit check "
        "and child reaping in the worker, and the timeout and watch bookkeeping in the parent. The "
        "parent decodes and identifies reports in both columns."
    )
    print(
        "- The mean and max of the pool rows include the planned replacement of the worker "
        "process every 1000 files (`max_conversions_per_worker`): one call waits for a fresh "
        "process, about the worker start time below."
    )
    print(
        f"- Throughput, 2 workers, 4 concurrent callers, trivial converter: "
        f"**{throughput:,.0f} files/s**."
    )
    start_ms = statistics.median(starts) * 1000
    print(
        f"- Worker start (process, imports, converter loading, Landlock, handshake): "
        f"p50 **{start_ms:,.0f} ms** (10 pools of one worker)."
    )
    versions = f"Python {sys.version.split()[0]}, msgspec {msgspec.__version__}"
    print(f"- {versions}, trio {trio.__version__}.")
    return {"overhead_us": overhead, "files_per_s": throughput, "worker_start_ms": start_ms}
