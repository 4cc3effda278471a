"""Benchmark: the per-file overhead of the converter sandbox with a warm worker.

Run ``python -m converters._bench`` (``--help`` for options). It measures, on this machine:

* a trivial converter (a fixed tiny report) on a small file, one caller, one warm worker:
  the latency of ``pool.convert`` against the same converter called in-process (plus the
  parent's identity step), so the difference is what the sandbox costs per file;
* the same with Landlock off, to show what Landlock costs per file (nothing: it is set once);
* throughput with two workers and four concurrent callers;
* the 50 KB WSJF sample through the built-in pass-through, pool against in-process;
* how long a worker takes to start (process, imports, handshake, lock-down).

The output is a Markdown section for ``docs/benchmarks.md``.

``python -m converters._bench --csv`` measures instead what one file costs in CPU, on each side of
the sandbox, for the node's own benchmark case: small CSV files (one UUT, three numeric steps, as
``pywats-node bench`` writes them) through the built-in CSV converter, configured as the node
configures it, in two warm workers; one caller at a time, then several at once.

``python -m converters._bench --csv-peak-rss 50`` measures the peak memory of a worker converting
one 50 MB CSV export (``_bench_rss``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from ._sdk import Converter, ConverterOutput, NoArguments

if TYPE_CHECKING:
    from ._pool import ConverterPool
    from ._settings import ConverterConfig

__all__ = ["Trivial", "bench_csv", "csv_converters", "main"]

_NAMESPACE = uuid.UUID("00000000-0000-4000-8000-00000000beef")
_REPORT = msgspec.json.encode(
    {
        "type": "T",
        "id": "00000000-0000-0000-0000-000000000000",
        "pn": "PN-1",
        "sn": "SN-1",
        "rev": "A",
        "processCode": 10,
        "result": "P",
        "machineName": "bench",
        "location": "lab",
        "purpose": "bench",
        "start": "2024-05-01T10:00:00+02:00",
        "root": {
            "id": 1,
            "group": "M",
            "stepType": "SequenceCall",
            "name": "MainSequence Callback",
            "status": "P",
        },
        "uut": {},
    }
)
_SMALL_FILE = b"SerialNumber,StepName,Value\nSN-1,V,1.0\n"


class Trivial(Converter[NoArguments]):
    """Returns one fixed, tiny WSJF report: the cheapest possible conversion."""

    name: ClassVar[str] = "trivial"
    version: ClassVar[str] = "1"

    def convert(self, data: bytes, name: str, args: NoArguments) -> Sequence[ConverterOutput]:
        return [_REPORT]


def _percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _row(label: str, samples: Sequence[float]) -> str:
    us = [s * 1e6 for s in samples]
    return (
        f"| {label} | {len(us)} | {statistics.mean(us):,.0f} | {_percentile(us, 0.5):,.0f} | "
        f"{_percentile(us, 0.99):,.0f} | {max(us):,.0f} |"
    )


def _in_process(
    converter: Any, data: bytes, name: str, files: int, info: Any, finish: Callable[..., Any]
) -> list[float]:
    from ._identity import content_hash

    samples = []
    for _ in range(files):
        started = time.perf_counter()
        reports = converter.convert(data, name, converter.Arguments())
        raw = [r if isinstance(r, bytes) else msgspec.json.encode(r) for r in reports]
        finish(raw, info, content_hash(data), _NAMESPACE)
        samples.append(time.perf_counter() - started)
    return samples


async def _through_pool(
    data: bytes, name: str, converter: str, files: int, refs: list[str], landlock: str
) -> tuple[list[float], str]:
    import trio

    from ._pool import open_converter_pool
    from ._results import Converted
    from ._settings import PoolSettings

    settings = PoolSettings(workers=1, landlock=landlock)  # type: ignore[arg-type]
    async with open_converter_pool(settings, converters=refs, station_namespace=_NAMESPACE) as pool:
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
    import trio

    from ._pool import open_converter_pool
    from ._settings import PoolSettings

    refs = ["converters._bench:Trivial"]
    async with open_converter_pool(
        PoolSettings(workers=workers), converters=refs, station_namespace=_NAMESPACE
    ) as pool:
        remaining = files

        async def caller() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await pool.convert(_SMALL_FILE, "f.csv", "trivial")

        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            for _ in range(callers):
                nursery.start_soon(caller)
        return files / (trio.current_time() - started)


async def _start_time(runs: int) -> list[float]:
    import trio

    from ._pool import open_converter_pool
    from ._settings import PoolSettings

    samples = []
    for _ in range(runs):
        started = trio.current_time()
        async with open_converter_pool(
            PoolSettings(workers=1), converters=["wsjf", "csv"], station_namespace=_NAMESPACE
        ):
            samples.append(trio.current_time() - started)
    return samples


# -- the CSV case: CPU per file, parent and workers -----------------------------------------------


def bench_csv(index: int) -> bytes:
    """The file ``pywats-node bench`` drops: one UUT, three numeric steps (a new serial each)."""
    when = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=index)
    head = "SerialNumber,PartNumber,Revision,TestDate,StepName,Value,LowLimit,HighLimit,Unit,Result"
    rows = [head]
    for step, value in (("Vcc", 3.3), ("Icc", 0.12), ("Freq", 24.0)):
        rows.append(f"BENCH-{index:06d},PCBA-B,A,{when.isoformat()},{step},{value},0,100,u,PASS")
    return ("\n".join(rows) + "\n").encode()


def csv_converters(station: str = "bench-station") -> list[ConverterConfig]:
    """The converters the node loads for a watch folder with ``converter = "csv"``
    (``pywats_actors.node.converter_set``): the built-ins, then the folder's own CSV."""
    from ._settings import ConverterConfig

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

    def row(self) -> str:
        us = [s * 1e6 for s in self.latencies]
        return (
            f"| {self.label} | {self.files} | {self.files / self.seconds:,.0f} | "
            f"{self.parent_cpu / self.files * 1e6:,.0f} "
            f"({self.parent_sys / self.files * 1e6:,.0f}) | "
            f"{self.worker_cpu / self.files * 1e6:,.0f} | "
            f"{_percentile(us, 0.5):,.0f} | {_percentile(us, 0.99):,.0f} | {self.recycles} |"
        )


def _self_cpu() -> tuple[float, float]:
    """This process's CPU (user + system) and its system part, seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_stime


def _children_cpu() -> float:
    """CPU of the reaped children (workers that exited), seconds."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _live_workers_cpu() -> dict[int, float]:
    import psutil

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
    import trio

    from ._results import Converted

    payloads = [bench_csv(first_index + i) for i in range(files)]
    names = [f"f{first_index + i:06d}.csv" for i in range(files)]
    latencies: list[float] = []
    recycles = pool.statistics().recycles
    workers_before = _live_workers_cpu()
    children_before = _children_cpu()
    cpu_before = _self_cpu()
    started = trio.current_time()
    position = 0

    async def caller() -> None:
        nonlocal position
        while position < files:
            index = position
            position += 1
            t0 = trio.current_time()
            result = await pool.convert(payloads[index], names[index], "watch:bench")
            latencies.append(trio.current_time() - t0)
            assert isinstance(result, Converted), result

    async with trio.open_nursery() as nursery:
        for _ in range(callers):
            nursery.start_soon(caller)
    seconds = trio.current_time() - started
    cpu_after = _self_cpu()
    workers_after = _live_workers_cpu()
    reaped = _children_cpu() - children_before
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
    from ._pool import open_converter_pool
    from ._settings import PoolSettings

    # No planned replacement of workers during the runs: this measures the steady state (the
    # node's own bench, 1,000 files on two workers, does not reach the default 1,000 per worker).
    settings = PoolSettings(
        workers=workers,
        landlock=landlock,  # type: ignore[arg-type]
        max_conversions_per_worker=1_000_000,
    )
    async with open_converter_pool(
        settings, converters=csv_converters(), station_namespace=_NAMESPACE
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


def csv_main(files: int, workers: int, callers: int, landlock: str, profile: Path | None) -> int:
    """Run the CSV case and print its table."""
    import trio

    runs, level = trio.run(_csv_bench, files, workers, callers, landlock, profile)
    command = f"python -m converters._bench --csv --files {files}"
    print(
        f"`{command}` on {platform.node() or 'this machine'}: {os.cpu_count()} CPUs, "
        f"Linux {platform.release()}, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}, {workers} warm workers ({level}), load average "
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
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print a Markdown section."""
    import trio

    from ._finish import identify_reports
    from ._protocol import ConverterInfo
    from ._wsjf import WsjfConverter

    parser = argparse.ArgumentParser(prog="python -m converters._bench")
    parser.add_argument("--files", type=int, default=2000, help="conversions per measurement")
    parser.add_argument("--sample", type=Path, default=None, help="a WSJF file to pass through")
    parser.add_argument(
        "--csv", action="store_true", help="CPU per file of the node's CSV case, and only that"
    )
    parser.add_argument("--workers", type=int, default=2, help="--csv: worker processes")
    parser.add_argument(
        "--callers",
        type=int,
        default=None,
        help="--csv: most concurrent callers (also 1 and --workers); default 4 per worker, as "
        "the node's pipeline",
    )
    parser.add_argument(
        "--landlock", default="auto", choices=("auto", "off", "required"), help="--csv: setting"
    )
    parser.add_argument(
        "--profile", type=Path, default=None, help="--csv: cProfile the parent's burst into FILE"
    )
    parser.add_argument(
        "--csv-peak-rss",
        type=float,
        default=None,
        metavar="MB",
        help="the peak RSS of a worker converting one CSV export of MB megabytes, and only that",
    )
    parser.add_argument(
        "--one-report", action="store_true", help="--csv-peak-rss: the whole file is one report"
    )
    ns = parser.parse_args(argv)
    if ns.csv_peak_rss is not None:
        from ._bench_rss import peak_rss_main

        return peak_rss_main(ns.csv_peak_rss, one_report=ns.one_report)
    if ns.csv:
        callers = ns.callers if ns.callers is not None else 4 * ns.workers
        return csv_main(ns.files, ns.workers, callers, ns.landlock, ns.profile)
    files: int = ns.files
    sample: Path | None = ns.sample
    if sample is None:
        sample = Path(__file__).resolve().parent.parent.parent / "shared/samples/wsjf"
        sample = sample / "uut-wsjf-export.json"

    trivial_info = ConverterInfo("trivial", "trivial", "1", "converters._bench:Trivial", (), False)
    refs = ["converters._bench:Trivial", "wsjf"]
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
        f"`python -m converters._bench --files {files}` on {platform.node() or 'this machine'}: "
        f"{os.cpu_count()} CPUs, Linux {platform.release()}, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}. Latency of one `pool.convert` call, one caller, in "
        "microseconds (trio's clock).\n"
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
    print(
        f"- Worker start (process, imports, converter loading, Landlock, handshake): "
        f"p50 **{statistics.median(starts) * 1000:,.0f} ms** (10 pools of one worker)."
    )
    versions = f"Python {sys.version.split()[0]}, msgspec {msgspec.__version__}"
    print(f"- {versions}, trio {trio.__version__}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
