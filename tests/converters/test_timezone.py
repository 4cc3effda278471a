"""The ``timezone`` argument, the same in every built-in converter of a format with local times."""

from __future__ import annotations

import datetime as dt

import pytest

from converters import (
    BUILTIN_CONVERTERS,
    ConverterArgumentsError,
    load_converter,
    validate_arguments,
)
from converters._timezone import localize

WITH_TIMEZONE = sorted(
    name
    for name in BUILTIN_CONVERTERS
    if "timezone" in getattr(load_converter(name).Arguments, "__struct_fields__", ())
)


def test_the_formats_with_local_times_take_it() -> None:
    """Every built-in reading a format whose times carry no offset has the argument."""
    assert {
        "csv",
        "klippel",
        "stdf",
        "teradyne-gr228x",
        "teradyne-spectrum",
        "teststand",
        "wstf",
    } <= set(WITH_TIMEZONE)


@pytest.mark.parametrize("name", WITH_TIMEZONE)
def test_an_unknown_zone_is_an_argument_error(name: str) -> None:
    """A zone that does not exist fails the arguments (the pool's start), naming the field,
    instead of rejecting every file later."""
    cls = load_converter(name)
    with pytest.raises(ConverterArgumentsError) as caught:
        validate_arguments(name, cls.Arguments, {"timezone": "Mars/Olympus"})
    assert caught.value.path == "$"
    assert "'Mars/Olympus' is not an IANA time zone" in caught.value.problem
    assert validate_arguments(name, cls.Arguments, {"timezone": "Europe/Oslo"}) is not None


def test_a_local_time_gets_the_zone_or_the_stations() -> None:
    """A naive time takes the named zone's offset of that date (summer time included), or the
    station's zone; an aware time is kept."""
    summer = localize(dt.datetime(2024, 7, 1, 12, 0), "Europe/Oslo")
    winter = localize(dt.datetime(2024, 1, 1, 12, 0), "Europe/Oslo")
    assert (summer.utcoffset(), winter.utcoffset()) == (
        dt.timedelta(hours=2),
        dt.timedelta(hours=1),
    )
    station = localize(dt.datetime(2024, 1, 1, 12, 0), None)
    assert station.utcoffset() == dt.datetime(2024, 1, 1, 12, 0).astimezone().utcoffset()
    aware = dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.UTC)
    assert localize(aware, "Europe/Oslo") is aware
