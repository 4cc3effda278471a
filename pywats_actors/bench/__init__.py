"""Benchmarks of the node and its parts: ``pywats-node bench [SUITE]`` (docs/benchmarks.md).

Suites: ``node`` (the default: the node end to end against a local emulator), ``client`` (the
WATS client and the emulator), ``converters`` (the converter sandbox; ``--csv`` for CPU per
file), ``csv-rss`` (a worker's peak memory on a large CSV export), ``spool`` (throughput;
``--startup``, ``--per-call``), ``supervisors`` and ``probe`` (knowing no writer holds a file).
``python -m pywats_actors.bench [SUITE] ...`` is the same command.

Benchmarks are not tests: they print figures and assert no thresholds. The dependency runs one
way: the bench imports the product (``supervisors``, ``converters``, ``pywats_actors``), and
only the command line imports the bench, when the command runs. Importing this package is light
(a converter worker imports the bench's trivial converter); the suites load when they run.
"""

from __future__ import annotations

from ._files import bench_csv as bench_csv
from ._files import bench_export as bench_export

__all__ = ["bench_csv", "bench_export"]
