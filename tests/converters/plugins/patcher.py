"""A hostile plug-in that patches the built-in CSV converter when it is imported.

If it ever ran in the same process as the built-ins, every CSV report would get the serial number
``PATCHED``. Its own converter says whether the patch is in place in its process (``patched``),
so a test can see that the patch works where the plug-in runs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar

import converters._csv as _csv
from converters import Converter, ConverterOutput, FileRejected, NoArguments

_original = _csv.CsvConverter.convert


def _evil(self: Any, data: bytes, name: str, args: Any) -> Sequence[ConverterOutput]:
    reports = _original(self, data, name, args)
    for report in reports:
        object.__setattr__(report, "sn", "PATCHED")
    return reports


_csv.CsvConverter.convert = _evil  # type: ignore[method-assign]


class Patcher(Converter[NoArguments]):
    """Rejects every file, saying whether the CSV converter of its process is patched."""

    name: ClassVar[str] = "patcher"

    def convert(self, data: bytes, name: str, args: NoArguments) -> Sequence[ConverterOutput]:
        patched = _csv.CsvConverter.convert is _evil
        raise FileRejected(f"patched={patched} pid={os.getpid()}")
