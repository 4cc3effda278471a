"""The cheapest possible converter, for the sandbox suites: one fixed small report.

Converter workers load it by reference (:data:`TRIVIAL`), so it imports nothing heavy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import msgspec

from converters import Converter, ConverterOutput, NoArguments

from ._reports import minimal_report

__all__ = ["TRIVIAL", "Trivial"]

TRIVIAL = f"{__name__}:Trivial"
"""The converter reference a pool loads :class:`Trivial` by."""

_REPORT = msgspec.json.encode(minimal_report())


class Trivial(Converter[NoArguments]):
    """Returns one fixed small WSJF report (the bench's minimal report, no steps)."""

    name: ClassVar[str] = "trivial"
    version: ClassVar[str] = "1"

    def convert(self, data: bytes, name: str, args: NoArguments) -> Sequence[ConverterOutput]:
        return [_REPORT]
