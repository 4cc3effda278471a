"""Validation problems and the small checks every rule is written with.

A :class:`ValidationProblem` names the offending value by its JSON path in the encoded report
(``$.root.steps[2].numericMeas[0].lowLimit``), the same path syntax as
:class:`~pywats_actors.report.ReportDecodeError`, so one operator message format covers both.

The checks take the path of the object and the key of the value separately and only join them
when there is a problem to report: validation runs over every step of every report, and building
path strings for values that are fine would cost more than the checks themselves.
"""

from __future__ import annotations

import binascii
import math

import msgspec
from msgspec import UnsetType

from ._base import parse_timestamp

__all__ = ["INT32_MAX", "Findings", "ValidationProblem", "given"]

INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)


class ValidationProblem(msgspec.Struct, frozen=True, kw_only=True):
    """One broken WSJF rule.

    Attributes:
        path: JSON path of the offending value (or of the object missing a key).
        message: what is wrong, in words an operator can act on.
    """

    path: str
    message: str


def given(value: object) -> bool:
    """True when an optional value is present: neither absent (``UNSET``) nor ``null``."""
    return value is not None and not isinstance(value, UnsetType)


class Findings:
    """Collects problems in document order; the ``check_*`` helpers add one when a rule breaks.

    Every helper takes the path of the object and the key of the value in it.
    """

    def __init__(self) -> None:
        self.problems: list[ValidationProblem] = []

    def add(self, path: str, message: str) -> None:
        """Record one problem."""
        self.problems.append(ValidationProblem(path=path, message=message))

    def add_at(self, path: str, key: str, message: str) -> None:
        """Record one problem about the value ``key`` of the object at ``path``."""
        self.add(f"{path}.{key}", message)

    def check_text(
        self,
        path: str,
        key: str,
        value: object,
        *,
        required: bool = False,
        max_length: int | None = None,
    ) -> None:
        """A string that, when ``required``, is present and not blank; at most ``max_length``."""
        if not isinstance(value, str):
            if required:
                self.add_at(path, key, "is required")
            return
        if required and not value.strip():
            self.add_at(path, key, "must not be empty")
        if max_length is not None and len(value) > max_length:
            self.add_at(path, key, f"is {len(value)} characters long; the limit is {max_length}")

    def check_one_of(
        self, path: str, key: str, value: object, allowed: frozenset[str], *, required: bool = False
    ) -> None:
        """A value from a closed set, spelled exactly."""
        if value in allowed:
            return
        if given(value):
            self.add_at(path, key, f"{value!r} is not one of {', '.join(sorted(allowed))}")
        elif required:
            self.add_at(path, key, "is required")

    def check_int(
        self,
        path: str,
        key: str,
        value: object,
        *,
        minimum: int = INT32_MIN,
        required: bool = False,
    ) -> None:
        """An int32 no smaller than ``minimum``."""
        if not isinstance(value, int):
            if required:
                self.add_at(path, key, "is required")
            return
        if not minimum <= value <= INT32_MAX:
            self.add_at(path, key, f"{value} is outside {minimum}..{INT32_MAX}")

    def check_not_negative(self, path: str, key: str, value: object) -> None:
        """A duration or count that is not below zero."""
        if isinstance(value, int | float) and value < 0:
            self.add_at(path, key, f"{value} is negative")

    def check_finite(self, path: str, key: str, value: object) -> None:
        """A float that JSON can carry (msgspec would write NaN and infinity as ``null``)."""
        if isinstance(value, float) and not math.isfinite(value):
            self.add_at(path, key, f"{value} cannot be written in JSON; use a finite number")

    def check_timestamp(
        self, path: str, key: str, value: object, *, required: bool = False, utc: bool = False
    ) -> bool:
        """A real date-time with a UTC offset (``Z`` or ``+00:00`` when ``utc``).

        Returns:
            True when the value is present and good.
        """
        if not isinstance(value, str):
            if required:
                self.add_at(path, key, "is required")
            return False
        try:
            moment = parse_timestamp(value)
        except ValueError as exc:
            self.add_at(path, key, f"{value!r} is not a valid date-time ({exc})")
            return False
        offset = moment.utcoffset()
        if offset is None:
            self.add_at(path, key, f"{value!r} has no UTC offset; without one it is ambiguous")
            return False
        if utc and offset:
            self.add_at(path, key, f"{value!r} is not in UTC (end it with Z)")
            return False
        return True

    def check_base64(self, path: str, key: str, value: object, *, required: bool = False) -> None:
        """Base64 text as .NET reads it (standard alphabet, padded)."""
        if not isinstance(value, str):
            if required:
                self.add_at(path, key, "is required")
            return
        try:
            binascii.a2b_base64(value.encode("ascii"), strict_mode=True)
        except (binascii.Error, UnicodeEncodeError):
            self.add_at(path, key, "is not valid Base64")
