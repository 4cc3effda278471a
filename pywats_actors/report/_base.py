"""What every WSJF object shares: the base Struct, three-state fields, unknown keys, timestamps.

Three states. An optional WSJF key can be absent, ``null`` or a value. The server treats absent and
``null`` alike, but server exports mix both (``"highLimit": null`` next to steps without an
``errorCode`` key), and a report that is decoded and encoded again must come out as it went in. So
the model keeps them apart: :data:`msgspec.UNSET` is "absent", ``None`` is ``null``.
``Maybe[T]`` names ``T | UnsetType | None``; :func:`value_or_none` folds the two empty states into
``None`` for code that does not care.

Unknown keys. Every object keeps the keys it does not know in ``unknown_fields``, so a field added
by a newer server or a custom producer is carried through untouched (see ``_codec.py``). In the
msgspec encoding those keys sit under the reserved key ``$unknown``; :func:`encode_report` puts them
back in place. ``$unknown`` is not a legal key in a WSJF document.

Timestamps stay text. Server exports carry .NET ticks (7 fractional digits) and the writer's own
offset spelling (``Z``, ``+00:00``, ``+01:00``). ``datetime`` keeps 6 digits and one spelling, so a
timestamp is kept as the exact string; :func:`parse_timestamp` and :func:`format_timestamp` convert.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping
from typing import Annotated, Any, TypeAlias, TypeVar

import msgspec
from msgspec import UnsetType

__all__ = [
    "UNKNOWN_FIELDS_KEY",
    "Maybe",
    "Timestamp",
    "WsjfObject",
    "format_timestamp",
    "parse_timestamp",
    "timestamp_ticks",
    "value_or_none",
]

T = TypeVar("T")

Maybe: TypeAlias = T | UnsetType | None
"""An optional WSJF value: the value, ``None`` (JSON ``null``) or ``UNSET`` (key absent)."""

UNKNOWN_FIELDS_KEY = "$unknown"

_TIMESTAMP_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?(Z|[+-]\d{2}:\d{2})?$"
)

Timestamp: TypeAlias = Annotated[str, msgspec.Meta(pattern=_TIMESTAMP_RE.pattern)]
"""ISO 8601 date-time text as WSJF writes it: up to 7 fractional digits, offset ``Z``/``±hh:mm``."""


class WsjfObject(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    rename="camel",
    omit_defaults=True,
    forbid_unknown_fields=True,
    repr_omit_defaults=True,
    gc=False,
):
    """Base of every WSJF object: immutable, keyword-only, camelCase on the wire.

    ``gc=False`` is safe because the model is a tree of frozen Structs and tuples: nothing in it can
    refer back to an ancestor. ``forbid_unknown_fields`` makes the codec's fast path notice unknown
    keys; they are then moved into ``unknown_fields`` instead of being dropped.

    Attributes:
        unknown_fields: keys of this JSON object that the model does not know, with their values
            exactly as decoded. Empty for every object built in code.
    """

    unknown_fields: Mapping[str, Any] = msgspec.field(default_factory=dict, name=UNKNOWN_FIELDS_KEY)


def value_or_none(value: T | UnsetType | None) -> T | None:
    """Return ``value``, or ``None`` when it is ``null`` or absent (``UNSET``)."""
    return None if isinstance(value, UnsetType) else value


def parse_timestamp(text: str) -> dt.datetime:
    """Parse a WSJF timestamp into a ``datetime``.

    Digits beyond microseconds are dropped (``datetime`` cannot hold .NET's 100 ns ticks); compare
    timestamps with :func:`timestamp_ticks` when that matters.

    Raises:
        ValueError: ``text`` is not a WSJF timestamp or names an impossible date.
    """
    return _parse(text)[0]


def timestamp_ticks(text: str) -> int:
    """Return the instant of an offset-carrying timestamp in 100 ns ticks since 0001-01-01 UTC.

    Raises:
        ValueError: ``text`` is not a WSJF timestamp, or it carries no UTC offset.
    """
    moment, ticks = _parse(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp has no UTC offset: {text!r}")
    whole = moment.replace(microsecond=0).astimezone(dt.UTC).replace(tzinfo=None)
    seconds = (whole - dt.datetime(1, 1, 1)) // dt.timedelta(seconds=1)
    return seconds * 10_000_000 + ticks


def _parse(text: str) -> tuple[dt.datetime, int]:
    """Return the datetime (to the microsecond) and the sub-second part in 100 ns ticks."""
    match = _TIMESTAMP_RE.match(text)
    if match is None:
        raise ValueError(f"not an ISO 8601 date-time: {text!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    ticks = int((fraction or "0").ljust(7, "0"))
    moment = dt.datetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second),
        ticks // 10,
        tzinfo=None if offset is None else _zone(offset),
    )
    return moment, ticks


@functools.lru_cache(maxsize=64)
def _zone(offset: str) -> dt.tzinfo:
    if offset == "Z":
        return dt.UTC
    sign = -1 if offset[0] == "-" else 1
    return dt.timezone(sign * dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))


def format_timestamp(moment: dt.datetime, *, utc: bool = False) -> str:
    """Format an aware ``datetime`` the way WSJF expects it.

    Args:
        moment: an aware datetime.
        utc: write the instant in UTC with a ``Z`` suffix (for ``startUTC``); otherwise keep the
            datetime's own offset (for ``start``).

    Raises:
        ValueError: ``moment`` is naive (a WSJF time without an offset is ambiguous), or its offset
            is not a whole number of minutes (historic local mean times).
    """
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("a WSJF timestamp needs an aware datetime (one with a UTC offset)")
    if offset % dt.timedelta(minutes=1):
        raise ValueError(f"WSJF offsets are whole minutes; {offset} is not")
    if utc:
        text = moment.astimezone(dt.UTC).isoformat(timespec="microseconds")
        return text.removesuffix("+00:00") + "Z"
    return moment.isoformat(timespec="microseconds")
