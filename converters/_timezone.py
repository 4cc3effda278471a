"""The ``timezone`` argument every converter of a format with local times takes.

Test equipment often writes local wall-clock times without an offset (TestStand, ATML, ICT logs,
CSV exports, WSTF). A converter gives such a time the zone its ``timezone`` argument names (an
IANA name such as ``Europe/Oslo``), or, without one, the station's own zone: the zone of the
computer the node runs on, where the tester wrote the file. The name is checked when the
arguments are validated (the pool's start), so a typo is a configuration error, not a rejected
file.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo

__all__ = ["check_timezone", "localize"]


@functools.cache
def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"timezone: {name!r} is not an IANA time zone (such as Europe/Oslo or UTC)"
        ) from None


def check_timezone(name: str | None) -> None:
    """Check a ``timezone`` argument (from an Arguments Struct's ``__post_init__``).

    Raises:
        ValueError: ``name`` is not an IANA time zone (msgspec reports it as an argument
            error naming the field).
    """
    if name is not None:
        _zone(name)


def localize(naive: dt.datetime, name: str | None) -> dt.datetime:
    """``naive`` (a local wall-clock time) made aware: in the zone ``name``, or, when it is
    ``None``, in the station's own zone. An aware datetime is returned unchanged.

    Raises:
        ValueError: ``name`` is not an IANA time zone (checked earlier by
            :func:`check_timezone`).
    """
    if naive.tzinfo is not None:
        return naive
    if name is None:
        return naive.astimezone()
    return naive.replace(tzinfo=_zone(name))
