"""How WSXF spells a value: XML Schema lexical forms, and enumerations as words.

WSXF is written by .NET's ``XmlSerializer`` from an XSD, so its attribute values use the XML Schema
lexical forms (``xs:int``, ``xs:double``, ``xs:boolean``, ``xs:dateTime``) and its enumerations are
full words (``Passed``) where WSJF has letters (``P``). Each :class:`ValueKind` reads one such form
into the model's Python value and writes it back.

Reading is strict about the form and says what it expected: Python's own ``int()`` and
``float()`` would also take ``1_000``, non-ASCII digits or ``infinity``, which no XML Schema reader
does. Leading and trailing XML whitespace is ignored around numbers, booleans, dates and GUIDs
(their schema types collapse whitespace) but kept in text. Both directions raise ``ValueError``
with a message and no location; the reader and the writer add the path.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from ._base import parse_timestamp
from ._enums import MeasurementStatus, ReportResult, StepGroup, StepStatus

__all__ = [
    "BOOLEAN",
    "DOUBLE",
    "GUID",
    "INTEGER",
    "MEASUREMENT_RESULT",
    "REPORT_RESULT",
    "REPORT_TYPE",
    "STEP_GROUP",
    "STEP_RESULT",
    "TEXT",
    "TIMESTAMP",
    "ValueKind",
]

_XML_WHITESPACE = " \t\n\r"
_INTEGER_RE = re.compile(r"[+-]?[0-9]{1,20}")
_DOUBLE_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?INF|NaN")
_GUID_RE = re.compile(r"\{?[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\}?")
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


class ValueKind(NamedTuple):
    """One way of spelling a model value as XML text.

    Attributes:
        read: XML text to the model value; ``ValueError`` when the text is not of this kind.
        write: model value to XML text; ``ValueError`` when WSXF cannot spell the value.
    """

    read: Callable[[str], Any]
    write: Callable[[Any], str]


def _read_text(text: str) -> str:
    return text


def _write_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, found {type(value).__name__} {value!r}")
    return value


def _read_integer(text: str) -> int:
    text = text.strip(_XML_WHITESPACE)
    if _INTEGER_RE.fullmatch(text) is None:
        raise ValueError(f"{_shorten(text)} is not an integer (xs:int)")
    return int(text)


def _write_integer(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, found {type(value).__name__} {value!r}")
    text = str(value)
    if _INTEGER_RE.fullmatch(text) is None:
        raise ValueError(f"{_shorten(text)} has more digits than an integer may have")
    return text


def _read_double(text: str) -> float:
    text = text.strip(_XML_WHITESPACE)
    if _DOUBLE_RE.fullmatch(text) is None:
        raise ValueError(f"{_shorten(text)} is not a number (xs:double)")
    return float(text)


def _write_double(value: Any) -> str:
    """The shortest text that reads back as the same double, in the ``xs:double`` spelling."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, found {type(value).__name__} {value!r}")
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    return repr(value).removesuffix(".0")


def _read_boolean(text: str) -> bool:
    try:
        return _BOOLEANS[text.strip(_XML_WHITESPACE)]
    except KeyError:
        raise ValueError(f"{_shorten(text)} is not a boolean (true, false, 1 or 0)") from None


def _write_boolean(value: Any) -> str:
    if not isinstance(value, bool):
        raise ValueError(f"expected a boolean, found {type(value).__name__} {value!r}")
    return "true" if value else "false"


def _read_timestamp(text: str) -> str:
    """Keep the text, as the model does, once it is known to be a real date-time."""
    text = text.strip(_XML_WHITESPACE)
    try:
        parse_timestamp(text)
    except ValueError:
        raise ValueError(
            f"{_shorten(text)} is not a date-time (yyyy-mm-ddThh:mm:ss, up to 7 fractional "
            "digits, offset Z or +hh:mm)"
        ) from None
    return text


def _write_timestamp(value: Any) -> str:
    text = _write_text(value)
    if _read_timestamp(text) != text:
        raise ValueError(f"{_shorten(text)} is not a date-time: it has surrounding whitespace")
    return text


def _read_guid(text: str) -> uuid.UUID:
    text = text.strip(_XML_WHITESPACE)
    if _GUID_RE.fullmatch(text) is None:
        raise ValueError(f"{_shorten(text)} is not a GUID (8-4-4-4-12 hexadecimal digits)")
    return uuid.UUID(text.strip("{}"))


def _write_guid(value: Any) -> str:
    if not isinstance(value, uuid.UUID):
        raise ValueError(f"expected a GUID, found {type(value).__name__} {value!r}")
    return str(value)


def _words(what: str, letters: Mapping[str, str]) -> ValueKind:
    """The enumeration ``what``, whose WSXF words map to the model's letters."""
    words = {letter: word for word, letter in letters.items()}
    expected = ", ".join(letters)

    def read(text: str) -> str:
        try:
            return letters[text]
        except KeyError:
            raise ValueError(f"{_shorten(text)} is not a {what}: one of {expected}") from None

    def write(value: Any) -> str:
        try:
            return words[value]
        except (KeyError, TypeError):
            raise ValueError(
                f"{value!r} has no {what} word in WSXF (known: {', '.join(words)})"
            ) from None

    return ValueKind(read, write)


def _shorten(text: str) -> str:
    """``repr`` of ``text``, cut short: a hostile value must not flood an error message."""
    return repr(text) if len(text) <= 60 else f"{text[:50]!r}... ({len(text)} characters)"


TEXT = ValueKind(_read_text, _write_text)
INTEGER = ValueKind(_read_integer, _write_integer)
DOUBLE = ValueKind(_read_double, _write_double)
BOOLEAN = ValueKind(_read_boolean, _write_boolean)
TIMESTAMP = ValueKind(_read_timestamp, _write_timestamp)
GUID = ValueKind(_read_guid, _write_guid)

REPORT_TYPE = _words("ReportType", {"UUT": "UUT", "UUR": "UUR"})
"""``Report/@type``; the reader refuses ``UUR`` (repair reports are not mapped)."""
REPORT_RESULT = _words(
    "ReportResult",
    {
        "Passed": ReportResult.PASSED.value,
        "Failed": ReportResult.FAILED.value,
        "Error": ReportResult.ERROR.value,
        "Terminated": ReportResult.TERMINATED.value,
    },
)
STEP_RESULT = _words(
    "StepResult",
    {
        "Passed": StepStatus.PASSED.value,
        "Failed": StepStatus.FAILED.value,
        "Done": StepStatus.DONE.value,
        "Skipped": StepStatus.SKIPPED.value,
        "Error": StepStatus.ERROR.value,
        "Terminated": StepStatus.TERMINATED.value,
        "Unknown": StepStatus.UNKNOWN.value,
    },
)
STEP_GROUP = _words(
    "StepGroup",
    {
        "Setup": StepGroup.SETUP.value,
        "Main": StepGroup.MAIN.value,
        "Cleanup": StepGroup.CLEANUP.value,
    },
)
MEASUREMENT_RESULT = _words(
    "MeasurementResult",
    {
        "Passed": MeasurementStatus.PASSED.value,
        "Failed": MeasurementStatus.FAILED.value,
        "Skipped": MeasurementStatus.SKIPPED.value,
    },
)
