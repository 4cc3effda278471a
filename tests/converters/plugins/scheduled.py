"""Scheduled test converters (``kind = "scheduled"``), run in sandboxed workers by the pool and
the node tests.

``RowFiles`` polls a folder of ``*.row`` files, one report per file (its serial number is the
file's text), in name order; its cursor is the last name taken. Markers in the folder make it
misbehave on purpose: ``CRASH`` (the worker dies), ``HANG`` (it never returns), ``BAD`` (an item
that is not a pair), ``READ=<path>`` (it reads that path first, and says what happened, to test
what the sandbox grants).
"""

from __future__ import annotations

import os
import runpy
import time
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from converters import FileRejected, PollOutput, ScheduledConverter

_REPORTS = runpy.run_path(str(Path(__file__).with_name("_reports.py")))


class RowArguments(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``batch``: the most files taken in one run (the rest wait for the next)."""

    batch: int = 100


def _report(sn: str) -> dict[str, Any]:
    report: dict[str, Any] = _REPORTS["minimal_report"](sn, report_id=_REPORTS["NIL_ID"])
    return report


class RowFiles(ScheduledConverter[RowArguments]):
    """One report per new ``*.row`` file of the source folder; cursor: the last name taken."""

    name: ClassVar[str] = "test-rows"
    version: ClassVar[str] = "1.0"
    Arguments: ClassVar[type[msgspec.Struct]] = RowArguments

    def poll(self, source: str, cursor: bytes | str | None, args: RowArguments) -> PollOutput:
        names = sorted(os.listdir(source))
        if "CRASH" in names:
            os._exit(7)
        if "HANG" in names:
            time.sleep(3600)
        for name in names:
            if name.startswith("READ="):
                target = name.removeprefix("READ=").replace("|", "/")
                try:
                    with open(target, "rb") as file:
                        file.read(1)
                except OSError as exc:
                    raise FileRejected(f"cannot read {target}: {type(exc).__name__}") from None
                raise FileRejected(f"read {target}")
        if "BAD" in names:
            return [_report("no key")], cursor
        last = cursor if isinstance(cursor, str) else ""
        new = [name for name in names if name.endswith(".row") and name > last][: args.batch]
        items = []
        for name in new:
            with open(os.path.join(source, name), encoding="utf-8") as file:
                items.append((name, _report(file.read().strip())))
        return items, (new[-1] if new else cursor)


class BinaryCursor(ScheduledConverter[RowArguments]):
    """Counts its runs in a bytes cursor; one report per run, keyed by the run's number."""

    name: ClassVar[str] = "test-counter"
    Arguments: ClassVar[type[msgspec.Struct]] = RowArguments

    def poll(self, source: str, cursor: bytes | str | None, args: RowArguments) -> PollOutput:
        count = int.from_bytes(cursor, "big") if isinstance(cursor, bytes) else 0
        return [(f"run-{count}", _report(f"RUN-{count}"))], (count + 1).to_bytes(4, "big")
