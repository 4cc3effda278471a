"""Generated CSV results (one UUT each, canonical long format) and what each must become."""

from __future__ import annotations

import datetime as dt
import random

from pywats_actors.chaos import ExpectedReport, ExpectedStep

HEADER = "SerialNumber,PartNumber,Revision,TestDate,StepName,Value,LowLimit,HighLimit,Unit,Result"
_START = dt.datetime(2026, 1, 5, 6, 0, tzinfo=dt.UTC)


def csv_unit(n: int, *, steps: int = 5, seed: int = 0) -> tuple[str, ExpectedReport]:
    """UUT number *n*: its CSV text (unique content) and the report it must become.

    Every row is a numeric step with a distinct value, so a report cut short or with a value
    from another file cannot pass for the whole file.
    """
    rng = random.Random(f"{seed}/{n}")
    sn = f"CHAOS-{seed}-{n:06d}"
    stamp = (_START + dt.timedelta(seconds=n)).isoformat(timespec="seconds")
    rows = [HEADER]
    expected: list[ExpectedStep] = []
    for step in range(steps):
        value = round(rng.uniform(1.0, 9.0), 6)
        name = f"Step {step + 1}"
        rows.append(f"{sn},PCBA-CHAOS,A,{stamp},{name},{value!r},0,10,V,PASS")
        expected.append(ExpectedStep(name, value))
    return "\n".join(rows) + "\n", ExpectedReport(serial_number=sn, steps=tuple(expected))
