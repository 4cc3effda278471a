"""A hostile plug-in that writes forged frames to the worker's protocol pipe.

``converters._worker.protocol_fd`` is where the worker writes its answers; anything in the worker
can write there too. The file (or, for detection, its head) names the forgery; after writing it
the converter sleeps, so the parent acts on the forged frame, not on a real answer:

``unknown``          a ``Done`` naming a converter nobody configured
``other <alias>``    a ``Done`` naming another converter, with a report carrying its own id
``done-other``       a ``Done`` for another job (another file's)
``part-other``       a ``Part`` for another job
``oversized <MiB>``  ``Part`` frames of 1 MiB each, that many
``steps <n> [<r>]``  a ``Done`` with ``r`` (1) valid reports of ``n`` steps (unchecked)
``done-foreign-scores``  a ``Done`` whose detection scores name another domain's converter
``good``             converts honestly (one report)

A leading ``FORGE `` is skipped (it makes ``detect()`` confident).

Its ``detect()`` forges a ``Scores`` answer when the head starts with ``scores-foreign`` (a
converter of another domain) or ``scores-nan`` (a score that is not a number), and otherwise
says 0.9 for a head starting ``FORGE``.
"""

from __future__ import annotations

import runpy
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, NoReturn

import msgspec

from converters import Converter, ConverterOutput, NoArguments, _worker
from converters._protocol import Done, Part, Scores, write_frame_sync

FORGED_ID = "11111111-2222-4333-8444-555555555555"


# the shared sample reports, from beside this file (a plug-in reads only its own folder)
_REPORTS = runpy.run_path(str(Path(__file__).with_name("_reports.py")))


def report(sn: str, report_id: str = _REPORTS["NIL_ID"]) -> dict[str, Any]:
    """A minimal valid UUT report."""
    built: dict[str, Any] = _REPORTS["minimal_report"](sn, report_id=report_id)
    return built


def many_steps(count: int) -> bytes:
    """One valid report whose root holds ``count`` tiny steps."""
    built = report("STEPS")
    built["root"]["steps"] = [
        {"id": i + 2, "group": "M", "stepType": "Action", "name": "s", "status": "P"}
        for i in range(count)
    ]
    return msgspec.json.encode(built)


def current_job() -> int:
    """The job number of the request the worker is handling (found on the call stack)."""
    frame = sys._getframe()
    while frame is not None:
        request = frame.f_locals.get("request")
        if request is not None and isinstance(getattr(request, "job", None), int):
            return int(request.job)
        frame = frame.f_back  # type: ignore[assignment]
    raise RuntimeError("no request on the stack")


def forge(message: msgspec.Struct) -> NoReturn:
    """Write ``message`` as a frame of the worker's, then wait to be killed."""
    write_frame_sync(_worker.protocol_fd, message)
    time.sleep(30)
    raise RuntimeError("the parent did not act on the forged frame")


def _done(job: int, converter: str, reports: list[bytes], **extra: Any) -> Done:
    return Done(
        job=job,
        converter=converter,
        reports=reports,
        seconds=0.0,
        cpu_total=0.0,
        children_left=False,
        **extra,
    )


def _scores(job: int, scores: dict[str, float]) -> Scores:
    return Scores(job=job, scores=scores, seconds=0.0, cpu_total=0.0, children_left=False)


class Forger(Converter[NoArguments]):
    """Forges what its file says (see the module)."""

    name: ClassVar[str] = "forger"

    def detect(self, head: bytes, name: str) -> float:
        job = current_job()
        if head.startswith(b"scores-foreign"):
            forge(
                Scores(job=job, scores={"wsjf": 1.0}, seconds=0, cpu_total=0, children_left=False)
            )
        if head.startswith(b"scores-nan"):
            nan = float("nan")
            forge(
                Scores(job=job, scores={"forger": nan}, seconds=0, cpu_total=0, children_left=False)
            )
        return 0.9 if head.startswith(b"FORGE") else 0.0

    def convert(self, data: bytes, name: str, args: NoArguments) -> Sequence[ConverterOutput]:
        job = current_job()
        text = data.decode().strip().removeprefix("FORGE ")
        command, _, argument = text.partition(" ")
        mine = msgspec.json.encode(report("FORGED", FORGED_ID))
        if command == "unknown":
            forge(_done(job, "nope", [mine]))
        if command == "other":
            forge(_done(job, argument, [mine]))
        if command == "done-other":
            forge(_done(job + 1, "forger", [mine]))
        if command == "part-other":
            forge(Part(job=job + 1, reports=[mine]))
        if command == "oversized":
            for _ in range(int(argument)):
                write_frame_sync(_worker.protocol_fd, Part(job=job, reports=[b" " * (1 << 20)]))
            forge(_done(job, "forger", [mine]))
        if command == "steps":  # steps <count> [<reports>]
            count, _, reports = argument.partition(" ")
            one = many_steps(int(count))
            forge(_done(job, "forger", [one] * int(reports or 1)))
        if command == "done-foreign-scores":
            forge(_done(job, "forger", [mine], scores={"forger": 1.0, "wsjf": 0.0}))
        return [report("GOOD")]


class Keeper(Converter[NoArguments]):
    """Claims to keep the ids its files carry, and returns a report with an id of its choice."""

    name: ClassVar[str] = "keeper"
    keeps_source_ids: ClassVar[bool] = True

    def convert(self, data: bytes, name: str, args: NoArguments) -> Sequence[ConverterOutput]:
        return [report("KEPT", FORGED_ID)]
