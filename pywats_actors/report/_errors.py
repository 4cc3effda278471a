"""The report error tree.

::

    PywatsError                     (pywats_actors._errors)
    └── ReportError                 anything wrong with a WSJF report
        ├── ReportDecodeError       the bytes are not a WSJF report: bad JSON, or a value of the
        │                           wrong JSON type, or a missing required key (``.path``)
        └── ReportInvalid           the report decoded but breaks a WSJF rule (``.problems``)

``ReportDecodeError`` means "these bytes cannot become a report"; ``ReportInvalid`` means "this is a
report, and here is everything wrong with it". Both carry enough context to write an operator
message without re-parsing anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._errors import PywatsError

if TYPE_CHECKING:
    from ._problems import ValidationProblem

__all__ = ["ReportDecodeError", "ReportError", "ReportInvalid"]


class ReportError(PywatsError):
    """Base class of every error about a WSJF report."""


class ReportDecodeError(ReportError):
    """The input is not a decodable WSJF report.

    Attributes:
        path: JSON path of the offending value, e.g. ``$.root.steps[0].numericMeas[0].compOp``;
            ``$`` when the problem is the document itself (malformed JSON).
        message: what is wrong there, without the path.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{message} - at {path}")
        self.path = path
        self.message = message


class ReportInvalid(ReportError):
    """The report decoded but breaks one or more WSJF rules.

    Attributes:
        problems: every problem found, in document order; never empty.
    """

    def __init__(self, problems: Sequence[ValidationProblem]) -> None:
        if not problems:
            raise ValueError("ReportInvalid needs at least one problem")
        self.problems: tuple[ValidationProblem, ...] = tuple(problems)
        first = self.problems[0]
        more = len(self.problems) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        super().__init__(f"invalid report: {first.message} - at {first.path}{suffix}")
