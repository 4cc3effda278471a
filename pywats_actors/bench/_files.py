"""The files the suites convert: the node's small CSV result, a large CSV export."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

__all__ = ["bench_csv", "bench_export", "drop"]

_START = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
_STEPS = 50
_HEADER = (
    "SerialNumber,PartNumber,Revision,TestDate,Sequence,StepName,Value,LowLimit,HighLimit,Unit,"
    "Result\n"
)


def bench_csv(index: int) -> bytes:
    """The file ``pywats-node bench`` drops: one UUT, three numeric steps (a new serial each)."""
    when = _START + dt.timedelta(seconds=index)
    head = "SerialNumber,PartNumber,Revision,TestDate,StepName,Value,LowLimit,HighLimit,Unit,Result"
    rows = [head]
    for step, value in (("Vcc", 3.3), ("Icc", 0.12), ("Freq", 24.0)):
        rows.append(f"BENCH-{index:06d},PCBA-B,A,{when.isoformat()},{step},{value},0,100,u,PASS")
    return ("\n".join(rows) + "\n").encode()


def drop(folder: Path, index: int) -> float:
    """Write :func:`bench_csv` *index* into *folder* atomically (``f{index:06d}.csv``);
    returns when it was complete (monotonic time)."""
    tmp = folder / f".f{index:06d}.tmp"
    tmp.write_bytes(bench_csv(index))
    os.replace(tmp, folder / f"f{index:06d}.csv")
    return time.monotonic()


def bench_export(size: int, *, one_report: bool = False) -> bytes:
    """A canonical CSV export of at least ``size`` bytes: 50 rows (steps in five sequences)
    per unit, a new serial number and start time per unit; or, with ``one_report``, one unit
    whose rows are all steps of one report (a long burn-in log)."""
    rows = [_HEADER]
    total = len(_HEADER)
    unit = 0
    while total < size:
        serial = 0 if one_report else unit
        when = (_START + dt.timedelta(seconds=30 * serial)).isoformat()
        for step in range(_STEPS):
            row = (
                f"SN-{serial:08d},PCBA-100,B,{when},Seq{step // 10},Step {step:03d},"
                f"{3.3 + step * 0.001:.4f},3.0,3.6,V,PASS\n"
            )
            rows.append(row)
            total += len(row)
        unit += 1
    return "".join(rows).encode()
