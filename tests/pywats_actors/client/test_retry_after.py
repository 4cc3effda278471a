"""Retry-After parsing: both RFC 9110 forms, and every kind of bad value."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from pywats_actors.client import RETRY_AFTER_LIMIT, parse_retry_after

NOW = 1_800_000_000.0  # a fixed wall-clock instant: 2027-01-15


class TestDeltaSeconds:
    @pytest.mark.parametrize(("value", "seconds"), [("0", 0.0), ("1", 1.0), ("120", 120.0)])
    def test_integer_seconds(self, value: str, seconds: float) -> None:
        """A non-negative integer is a delay in seconds."""
        assert parse_retry_after(value) == seconds

    def test_surrounding_whitespace_is_ignored(self) -> None:
        """Optional whitespace around the value does not make it unparsable."""
        assert parse_retry_after("  30 ") == 30.0

    def test_long_delay_is_clamped(self) -> None:
        """A delay beyond the limit (ten minutes) is clamped to it."""
        assert parse_retry_after("86400") == RETRY_AFTER_LIMIT

    def test_huge_number_is_clamped(self) -> None:
        """An absurdly large integer is clamped rather than overflowing."""
        assert parse_retry_after("9" * 40) == RETRY_AFTER_LIMIT

    def test_custom_limit(self) -> None:
        """The clamp can be set by the caller."""
        assert parse_retry_after("100", limit=5.0) == 5.0

    @pytest.mark.parametrize("value", ["-1", "-120", "1.5", "+5", "0x10", "١٢"])
    def test_not_a_non_negative_integer(self, value: str) -> None:
        """Negative, fractional, signed, hex and non-ASCII numbers are not delay-seconds."""
        assert parse_retry_after(value) is None


class TestHttpDate:
    def test_imf_fixdate_in_the_future(self) -> None:
        """An IMF-fixdate gives the seconds from now until then."""
        value = formatdate(NOW + 90, usegmt=True)
        assert parse_retry_after(value, now=NOW) == pytest.approx(90.0)

    def test_rfc850_date(self) -> None:
        """The obsolete RFC 850 form is understood."""
        assert parse_retry_after("Friday, 15-Jan-27 08:01:00 GMT", now=NOW) == pytest.approx(60.0)

    def test_asctime_date(self) -> None:
        """The obsolete asctime form (no zone, meaning UTC) is understood."""
        assert parse_retry_after("Fri Jan 15 08:01:00 2027", now=NOW) == pytest.approx(60.0)

    def test_date_in_the_past(self) -> None:
        """A date that has passed means 'use your own backoff'."""
        assert parse_retry_after(formatdate(NOW - 10, usegmt=True), now=NOW) is None

    def test_date_now(self) -> None:
        """A date equal to now asks for no wait at all, so our own backoff applies."""
        assert parse_retry_after(formatdate(NOW, usegmt=True), now=NOW) is None

    def test_far_future_date_is_clamped(self) -> None:
        """A date years ahead is clamped to the limit."""
        value = formatdate(NOW + 10 * 365 * 86400, usegmt=True)
        assert parse_retry_after(value, now=NOW) == RETRY_AFTER_LIMIT

    def test_default_now_is_the_wall_clock(self) -> None:
        """Without *now*, a date is measured against the current time."""
        assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None


class TestGarbage:
    @pytest.mark.parametrize(
        "value",
        [
            None,
            "",
            "   ",
            "soon",
            "Wed, 32 Oct 2015 07:28:00 GMT",
            "Wed, 21 Oct 99999 07:28:00 GMT",
            "Tue, 29 Feb 2027 00:00:00 GMT",
            "1" * 100 + " seconds",
            "\x00\x01",
        ],
    )
    def test_unusable_value_gives_none(self, value: str | None) -> None:
        """An absent, empty, malformed or impossible value never raises; it gives None."""
        assert parse_retry_after(value, now=NOW) is None
