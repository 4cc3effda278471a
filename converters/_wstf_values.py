"""The values of a WSTF file: numbers in the file's culture, status words, booleans, times.

A WSTF file is written by a station in its own culture: ``cultureCode`` (a .NET culture name such
as ``en-US`` or ``de-DE``) says whether numbers use a decimal point or a decimal comma. Numbers
have no thousands separators (the reference reads them as .NET ``NumberStyles.Float``: sign,
decimals, exponent). Chart series always use ``;`` between values, so a comma in them is a
decimal comma whatever the culture.
"""

from __future__ import annotations

import datetime as dt
import math
import re

from ._errors import FileRejected

__all__ = [
    "MAX_SERIES_VALUES",
    "check_culture",
    "decimal_comma",
    "number",
    "parse_bool",
    "parse_time",
    "series_numbers",
    "step_status",
    "uut_status",
]

# Languages whose .NET cultures write a decimal comma, and the regions of those languages (or of
# others) that write a point. A culture not listed writes a point (en-US, ja-JP, zh-CN...).
_COMMA_LANGUAGE_CODES = (
    "af az be bg bs ca cs da de el es et eu fi fo fr gl hr hu hy id is it ka kk ky lt lv mk mn "
    "nb nl nn no pl pt ro ru sk sl sq sr sv tr tt uk uz vi"
)
_POINT_REGION_CODES = (
    "de-ch de-li fr-ch it-ch es-mx es-us es-pr es-do es-gt es-hn es-ni es-pa es-sv"
)
_COMMA_LANGUAGES = frozenset(_COMMA_LANGUAGE_CODES.split())
_POINT_REGIONS = frozenset(_POINT_REGION_CODES.split())
_COMMA_REGIONS = frozenset({"en-za"})
_CULTURE_RE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
_NUMBER = r"[-+]?(?:\d+(?:{sep}\d*)?|{sep}\d+)(?:[eE][-+]?\d+)?"
_POINT_RE = re.compile("^" + _NUMBER.format(sep=r"\.") + "$")
_COMMA_RE = re.compile("^" + _NUMBER.format(sep=",") + "$")
_STEP_STATUS = {
    "passed": "P",
    "pass": "P",
    "p": "P",
    "failed": "F",
    "fail": "F",
    "f": "F",
    "done": "D",
    "d": "D",
    "skipped": "S",
    "skip": "S",
    "s": "S",
    "error": "E",
    "e": "E",
    "terminated": "T",
    "t": "T",
}
_UUT_STATUS = {"P", "F", "E", "T"}
_TRUE = frozenset({"true", "1", "yes", "passed", "pass", "p"})
_FALSE = frozenset({"false", "0", "no", "failed", "fail", "f"})
MAX_SERIES_VALUES = 10_000


def check_culture(code: str) -> None:
    """Check that ``code`` looks like a culture name (``en-US``, ``de-DE``, ``nb``).

    Raises:
        ValueError: it does not.
    """
    if not _CULTURE_RE.match(code):
        raise ValueError(f"culture_code {code!r} is not a culture name such as en-US or de-DE")


def decimal_comma(code: str) -> bool:
    """Whether numbers of culture ``code`` use a decimal comma (``de-DE``: yes, ``en-US``: no)."""
    lowered = code.lower()
    region = "-".join(lowered.split("-")[:2])
    if region in _COMMA_REGIONS:
        return True
    if region in _POINT_REGIONS:
        return False
    return lowered.split("-")[0] in _COMMA_LANGUAGES


def number(text: str, comma: bool, what: str, where: str) -> float:
    """``text`` as a finite number, written with the culture's decimal separator.

    Raises:
        FileRejected: not a number in that culture, or not finite.
    """
    cleaned = text.strip()
    pattern = _COMMA_RE if comma else _POINT_RE
    if not pattern.match(cleaned):
        culture = "a decimal comma" if comma else "a decimal point"
        raise FileRejected(
            f"{what} {text!r} is not a number (the culture_code argument says {culture})",
            where=where,
        )
    value = float(cleaned.replace(",", ".") if comma else cleaned)
    if not math.isfinite(value):
        raise FileRejected(f"{what} {text!r} is too large", where=where)
    return value


def series_numbers(text: str, what: str, where: str) -> list[float]:
    """The ``;``-separated values of a chart series (a comma is a decimal comma).

    Raises:
        FileRejected: an empty list, a value that is not a number, or more than 10000 values.
    """
    parts = text.replace(",", ".").split(";")
    if len(parts) > MAX_SERIES_VALUES:
        raise FileRejected(
            f"{what} has {len(parts)} values; a series holds at most {MAX_SERIES_VALUES}",
            where=where,
        )
    return [number(part, False, f"{what} value", where) for part in parts]


def step_status(text: str, where: str) -> str | None:
    """The step status letter of a Status cell (``Passed``, ``Failed``, ``Done``, ``Skipped``,
    ``Error``, ``Terminated`` or their first letter, any case); None for an empty cell.

    Raises:
        FileRejected: another word.
    """
    cleaned = text.strip().lower()
    if not cleaned:
        return None
    status = _STEP_STATUS.get(cleaned)
    if status is None:
        raise FileRejected(
            f"unknown status {text!r} (expected Passed, Failed, Done, Skipped, Error or "
            "Terminated)",
            where=where,
        )
    return status


def uut_status(text: str, where: str) -> str | None:
    """The report result of a ``UUTStatus`` value (Passed, Failed, Error, Terminated).

    Raises:
        FileRejected: another word.
    """
    status = step_status(text, where)
    if status is not None and status not in _UUT_STATUS:
        raise FileRejected(
            f"UUTStatus {text!r} is not Passed, Failed, Error or Terminated", where=where
        )
    return status


def parse_bool(text: str, what: str, where: str) -> bool | None:
    """``True``/``False`` (also 1/0, yes/no, passed/failed); None for an empty cell.

    Raises:
        FileRejected: another word.
    """
    cleaned = text.strip().lower()
    if not cleaned:
        return None
    if cleaned in _TRUE:
        return True
    if cleaned in _FALSE:
        return False
    raise FileRejected(f"{what} {text!r} is not True or False", where=where)


def parse_time(text: str, what: str, where: str) -> dt.datetime:
    """A header time, ``yyyy-MM-ddTHH:mm:ss`` (a space for the ``T``, fractions of a second and
    an offset are accepted too).

    Raises:
        FileRejected: not such a time.
    """
    cleaned = text.strip()
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", cleaned)
    try:
        return dt.datetime.fromisoformat(trimmed)
    except ValueError:
        raise FileRejected(
            f"{what} {text!r} is not a time written yyyy-MM-ddTHH:mm:ss", where=where
        ) from None
