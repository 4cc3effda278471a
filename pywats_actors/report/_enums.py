"""The closed value sets of WSJF, as ``StrEnum`` constants.

The model's fields are plain ``str`` so that a report with a value this module does not know still
decodes and round-trips; :func:`~pywats_actors.report.validate` is what checks membership. Each enum
member *is* its wire string, so ``step.status == StepStatus.PASSED`` and
``Step(status=StepStatus.PASSED, ...)`` both work.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ChartType",
    "MeasurementStatus",
    "NumericCompOp",
    "ReportResult",
    "SeriesDataType",
    "StepGroup",
    "StepStatus",
    "StringCompOp",
]


class ReportResult(StrEnum):
    """The report ``result``. pyWATS also sends ``D``; the server documents only these four."""

    PASSED = "P"
    FAILED = "F"
    ERROR = "E"
    TERMINATED = "T"


class StepStatus(StrEnum):
    """A step's ``status``. ``U`` is valid on the server although pyWATS rejects it."""

    PASSED = "P"
    FAILED = "F"
    DONE = "D"
    SKIPPED = "S"
    ERROR = "E"
    TERMINATED = "T"
    UNKNOWN = "U"


class MeasurementStatus(StrEnum):
    """A measurement's ``status`` (numeric, string and boolean alike)."""

    PASSED = "P"
    FAILED = "F"
    SKIPPED = "S"


class StepGroup(StrEnum):
    """The TestStand step group a step ran in."""

    SETUP = "S"
    MAIN = "M"
    CLEANUP = "C"


class NumericCompOp(StrEnum):
    """The 15 comparison operators of a numeric measurement.

    ``LOG`` records without comparing. The six single-limit operators keep their one limit in
    ``lowLimit`` (even ``LT`` and ``LE``). The ``G*L*`` operators pass inside the range
    ``lowLimit..highLimit``; the ``L*G*`` operators pass outside it.
    """

    LOG = "LOG"
    EQ = "EQ"
    NE = "NE"
    GT = "GT"
    GE = "GE"
    LT = "LT"
    LE = "LE"
    GTLT = "GTLT"
    GTLE = "GTLE"
    GELT = "GELT"
    GELE = "GELE"
    LTGT = "LTGT"
    LTGE = "LTGE"
    LEGT = "LEGT"
    LEGE = "LEGE"


class StringCompOp(StrEnum):
    """A string measurement's comparison operators (the server reads them case-insensitively)."""

    LOG = "LOG"
    EQ = "EQ"
    NE = "NE"
    CASESENSIT = "CASESENSIT"
    IGNORECASE = "IGNORECASE"


class ChartType(StrEnum):
    """Chart axis styles known to WATS tools; ``chartType`` itself is free text on the server."""

    LINE = "Line"
    LINE_LOG_XY = "LineLogXY"
    LINE_LOG_X = "LineLogX"
    LINE_LOG_Y = "LineLogY"


class SeriesDataType(StrEnum):
    """A chart series' ``dataType``; ``XYG`` is the only documented value."""

    XYG = "XYG"
