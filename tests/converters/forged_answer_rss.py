"""The node's peak RSS for a forged maximum answer (a measurement, not a test).

Run from the repository root::

    python -m tests.converters.forged_answer_rss STEPS REPORTS [MAX_VALUES_PER_REPORT]

A pool with one worker of ``plugins/forger.py`` converts one honest file, then one file whose
answer is forged from inside the worker: ``REPORTS`` valid reports of ``STEPS`` tiny steps each,
past every check of the worker. It prints the answer's size, the outcome and the parent's peak
RSS (``ru_maxrss``) before and after.
"""

from __future__ import annotations

import resource
import sys
import uuid

import trio

from converters import PoolSettings, open_converter_pool

from .conftest import PLUGINS
from .plugins.forger import many_steps

FORGER = f"{PLUGINS / 'forger.py'}:Forger"


async def main(argv: list[str]) -> None:
    steps, reports = int(argv[0]), int(argv[1])
    extra = {"max_values_per_report": int(argv[2])} if len(argv) > 2 else {}
    size = len(many_steps(1000)) * steps // 1000 * reports  # estimated: the parent stays lean
    settings = PoolSettings(workers=1, timeout=120, **extra)  # type: ignore[arg-type]
    async with open_converter_pool(
        settings, converters=[FORGER], station_namespace=uuid.uuid4()
    ) as pool:
        await pool.convert(b"good", "warm", "forger")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = await pool.convert(f"steps {steps} {reports}".encode(), "f", "forger")
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    reason = getattr(result, "reason", getattr(result, "description", ""))
    print(f"answer ~{size / 2**20:.1f} MiB ({steps} steps x {reports} reports): ", end="")
    print(f"{type(result).__name__} {reason[:100]}")
    print(f"parent peak RSS: {before / 1024:.0f} MiB before, {after / 1024:.0f} MiB after")


if __name__ == "__main__":
    trio.run(main, sys.argv[1:])
