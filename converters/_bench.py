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
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from ._sdk import Converter, ConverterOutput, NoArguments

__all__ = ["Trivial", "main"]

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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print a Markdown section."""
    import trio

    from ._finish import identify_reports
    from ._protocol import ConverterInfo
    from ._wsjf import WsjfConverter

    parser = argparse.ArgumentParser(prog="python -m converters._bench")
    parser.add_argument("--files", type=int, default=2000, help="conversions per measurement")
    parser.add_argument("--sample", type=Path, default=None, help="a WSJF file to pass through")
    ns = parser.parse_args(argv)
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
        "p50 in-process): the request and answer frames through the pipes, the hand-offs between "
        "the caller's task and the worker slot's task in trio, the per-file rlimit re-arm and "
        "child reaping in the worker, and the timeout and watch bookkeeping in the parent. The "
        "parent validates and identifies reports in both columns."
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
