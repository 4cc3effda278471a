"""``pywats-node bench formats``: every sample file through auto-detection in a warm worker.

For each file of a samples folder (``shared/samples`` in this repository's workspace: one folder
per format; a sub-folder of a format folder is a folder unit, packed as the node packs it and
named to the folder converter that claims it), in a fresh pool of one worker that has every
built-in converter: one conversion, whose peak resident memory (the worker's ``VmHWM``, the
kernel's own high-water mark) over the idle worker's is what the file needs, then ``--repeat``
more, timed warm. It reports per file: the converter auto-detection chose, the reports made, the
median time inside the worker (detection and conversion: what the format costs), the median
time of the whole call (with the node's own share: decoding, validating and identifying the
reports), MB/s of the file through the worker, and the peak memory.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import trio

from converters import (
    ACCEPT_THRESHOLD,
    BUILTIN_CONVERTERS,
    DEFAULT_CONVERTERS,
    Converted,
    ConverterConfig,
    PoolSettings,
    load_converter,
    open_converter_pool,
    pack_unit,
)

from ._measure import BenchFailed, high_water_mark, machine
from ._reports import NAMESPACE

__all__ = ["FormatFigures", "run_formats", "sample_files"]

_MiB = 1 << 20


@dataclass(frozen=True)
class FormatFigures:
    """One sample file's figures (bytes, seconds)."""

    file: str
    converter: str
    size: int
    reports: int
    worker_seconds: float
    total_seconds: float
    peak_rss: int
    idle_rss: int

    @property
    def mb_per_second(self) -> float:
        """Megabytes (10^6 bytes) of the file converted per second inside the worker."""
        return self.size / 1e6 / self.worker_seconds if self.worker_seconds > 0 else 0.0


def folder_converters() -> list[str]:
    """The built-in folder converters (``kind = "folder"``)."""
    return [n for n in BUILTIN_CONVERTERS if getattr(load_converter(n), "kind", "") == "folder"]


def sample_files(samples: Path) -> list[Path]:
    """The samples under ``samples``: the files of each format folder (READMEs left out), and
    its sub-folders, each a folder unit (with its sibling files ``NAME.*``)."""
    return sorted(path for path in samples.glob("*/*") if path.name != "README.md")


def _input(path: Path) -> tuple[bytes, str | None]:
    """A sample's bytes and the converter to name (``None``: auto-detection). A folder is a
    unit: packed as the node packs it, for the folder converter that claims it."""
    if not path.is_dir():
        return path.read_bytes(), None
    files = {
        f"{path.name}/{item.relative_to(path).as_posix()}": item.read_bytes()
        for item in sorted(path.rglob("*"))
        if item.is_file()
    }
    for sibling in path.parent.glob(f"{path.name}.*"):
        files[sibling.name] = sibling.read_bytes()
    data = pack_unit(files)
    for name in folder_converters():
        if load_converter(name)().detect(data[:65536], path.name) >= ACCEPT_THRESHOLD:
            return data, name
    raise BenchFailed(f"no folder converter claims the unit {path}")


async def _one(
    path: Path, repeat: int, settings: PoolSettings, configs: list[ConverterConfig]
) -> FormatFigures:
    """One sample in a fresh worker: its idle VmHWM, the peak of the first conversion (what the
    file needs, order-independent), then ``repeat`` warm conversions timed."""
    data, named = _input(path)
    async with open_converter_pool(
        settings, converters=configs, station_namespace=NAMESPACE
    ) as pool:
        (slot,) = pool.statistics().slots
        pid = slot.worker_pid  # the converting process (inside its namespaces)
        if pid is None:
            raise BenchFailed("the worker did not start")
        idle = high_water_mark(pid)
        first = await pool.convert(data, path.name, named)
        if not isinstance(first, Converted):
            raise BenchFailed(f"{path.name} did not convert: {first!r}")
        peak = high_water_mark(pid)
        worker, total = [], []
        for _ in range(repeat):
            result = await pool.convert(data, path.name, named)
            if not isinstance(result, Converted):
                raise BenchFailed(f"{path.name} converted once, then: {result!r}")
            worker.append(result.timings.worker)
            total.append(result.timings.total)
    return FormatFigures(
        file=f"{path.parent.name}/{path.name}",
        converter=first.converter,
        size=len(data),
        reports=len(first.reports),
        worker_seconds=statistics.median(worker),
        total_seconds=statistics.median(total),
        peak_rss=peak,
        idle_rss=idle,
    )


async def _measure(files: list[Path], repeat: int) -> list[FormatFigures]:
    settings = PoolSettings(
        workers=1, timeout=600, cpu_seconds=600, memory_mb=8192, address_space_mb=16384
    )
    configs = [
        *DEFAULT_CONVERTERS,
        *(ConverterConfig(name, detection="off") for name in folder_converters()),
    ]
    return [
        await _one(path, repeat, settings, configs)
        for path in files
        if not (path.is_file() and path.parent.joinpath(path.stem).is_dir())  # a unit's part
    ]


def run_formats(samples: Path, repeat: int) -> list[FormatFigures]:
    """Measure every sample file under ``samples`` and print a Markdown table."""
    files = sample_files(samples)
    if not files:
        raise BenchFailed(f"no sample files under {samples}")
    figures = trio.run(_measure, files, repeat)
    print(f"{machine(f'pywats-node bench formats --repeat {repeat}')}.\n")
    print(
        "| file | converter | size | reports | in the worker | MB/s | whole call "
        "| peak RSS (over idle) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for f in figures:
        print(
            f"| {f.file} | {f.converter} | {f.size / 1024:,.0f} KiB | {f.reports:,} | "
            f"{f.worker_seconds * 1000:,.1f} ms | {f.mb_per_second:,.1f} | "
            f"{f.total_seconds * 1000:,.1f} ms | {f.peak_rss / _MiB:,.1f} MiB "
            f"(+{(f.peak_rss - f.idle_rss) / _MiB:,.1f}) |"
        )
    if figures:
        idle = statistics.median(f.idle_rss for f in figures)
        print(f"\nAn idle worker's resident memory (median): {idle / _MiB:,.1f} MiB.")
    return figures
