"""A second plug-in module (a trust domain of its own), for detection across domains and for
telling which modules share a worker process."""

from __future__ import annotations

import os
import runpy
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from converters import Converter, ConverterOutput, FileRejected, NoArguments

# the shared sample reports, from beside this file (a plug-in reads only its own folder)
_REPORTS = runpy.run_path(str(Path(__file__).with_name("_reports.py")))


def _report(sn: str) -> dict[str, Any]:
    """The shared minimal valid report, with serial number ``sn``."""
    report: dict[str, Any] = _REPORTS["minimal_report"](sn, report_id=_REPORTS["NIL_ID"])
    return report


class Rival(Converter[NoArguments]):
    """0.9 for a head starting ``RIVAL``, 0.7 for ``DETECT`` (a tie with ``misbehaving.Detector``),
    else 0; ``whoami`` is rejected with its pid and the plug-in modules its process imported."""

    name: ClassVar[str] = "rival"

    def detect(self, head: bytes, name: str) -> float:
        if head.startswith(b"RIVAL"):
            return 0.9
        return 0.7 if head.startswith(b"DETECT") else 0.0

    def convert(self, data: bytes, name: str, args: NoArguments) -> Sequence[ConverterOutput]:
        if data.startswith(b"whoami"):
            raise FileRejected(whoami())
        return [_report("RIVAL")]


class EchoTwin(Rival):
    """Declares the name of ``misbehaving.Echo``: refused, report ids would collide."""

    name: ClassVar[str] = "echo"


class FakeCsv(Rival):
    """Declares the name of the built-in CSV converter: refused."""

    name: ClassVar[str] = "csv"


def whoami() -> str:
    """``pid=<pid> modules=<test plug-in modules imported by this process>``."""
    mine = sorted(
        name.split("_pywats_converter_")[-1].rsplit("_", 1)[0]
        for name in sys.modules
        if name.startswith("_pywats_converter_")
    )
    return f"pid={os.getpid()} modules={','.join(mine)}"
