"""The cron parser and next-fire calculator (``pywats_actors._cron``): pure functions."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from pywats_actors._cron import CronError, next_fire, parse_cron

UTC = dt.UTC


def at(text: str, tz: dt.tzinfo = UTC) -> dt.datetime:
    """An aware datetime from ``YYYY-MM-DD HH:MM`` in ``tz``."""
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=tz)


def fires(expr: str, start: str, count: int, tz: dt.tzinfo = UTC) -> list[str]:
    """The next ``count`` fire times of ``expr`` after ``start``, as local ``YYYY-MM-DD HH:MM``."""
    parsed = parse_cron(expr)
    moment = at(start, tz)
    out = []
    for _ in range(count):
        moment = next_fire(parsed, moment, tz)
        out.append(moment.strftime("%Y-%m-%d %H:%M"))
    return out


class TestParse:
    def test_star_is_every_value(self) -> None:
        """``*`` in every field allows every minute, hour, day, month and weekday."""
        expr = parse_cron("* * * * *")
        assert expr.minutes == frozenset(range(60))
        assert expr.hours == frozenset(range(24))
        assert expr.days == frozenset(range(1, 32))
        assert expr.months == frozenset(range(1, 13))
        assert expr.weekdays == frozenset(range(7))

    def test_lists_ranges_steps(self) -> None:
        """Lists, ranges, stepped ranges, ``*/n`` and ``a/n`` give the values cron gives."""
        expr = parse_cron("1,2,30-32 */6 1-10/3 */5 5/1")
        assert expr.minutes == {1, 2, 30, 31, 32}
        assert expr.hours == {0, 6, 12, 18}
        assert expr.days == {1, 4, 7, 10}
        assert expr.months == {1, 6, 11}
        assert expr.weekdays == {5, 6, 0}  # 5, 6, 7 (7 is Sunday)

    def test_names_any_case(self) -> None:
        """Month and weekday names work in any case, alone and in ranges."""
        expr = parse_cron("0 0 * JAN-mar,Dec mon-FRI")
        assert expr.months == {1, 2, 3, 12}
        assert expr.weekdays == {1, 2, 3, 4, 5}

    def test_macros(self) -> None:
        """The ``@`` macros stand for their five-field forms."""
        assert parse_cron("@daily").minutes == {0}
        assert parse_cron("@daily").hours == {0}
        assert parse_cron("@hourly").hours == frozenset(range(24))
        assert parse_cron("@weekly").weekdays == {0}
        assert parse_cron("@yearly").months == {1}

    @pytest.mark.parametrize(
        ("text", "names"),
        [
            ("60 * * * *", "minute"),
            ("* 24 * * *", "hour"),
            ("* * 0 * *", "day-of-month"),
            ("* * * 13 *", "month"),
            ("* * * * 8", "day-of-week"),
            ("* * * foo *", "month"),
            ("* * * * sunday", "day-of-week"),
            ("*/0 * * * *", "minute"),
            ("* 5-2 * * *", "hour"),
            ("* 1,,2 * * *", "hour"),
            ("* * * * mon-", "day-of-week"),
            ("x * * * *", "minute"),
        ],
    )
    def test_bad_field_is_named(self, text: str, names: str) -> None:
        """A bad item is refused with a message that starts with its field's name."""
        with pytest.raises(CronError) as caught:
            parse_cron(text)
        assert str(caught.value).startswith(f"{names}:")

    @pytest.mark.parametrize("text", ["", "* * * *", "* * * * * *", "@often"])
    def test_wrong_shape(self, text: str) -> None:
        """Not five fields, or an unknown macro, is refused."""
        with pytest.raises(CronError):
            parse_cron(text)

    def test_a_day_that_never_exists(self) -> None:
        """February 30 can never fire: refused at parse time, naming the day field."""
        with pytest.raises(CronError, match=r"^day-of-month"):
            parse_cron("0 0 30 2 *")


class TestNextFireUtc:
    def test_every_minute_is_strictly_after(self) -> None:
        """The next fire is strictly after the given instant, seconds dropped."""
        expr = parse_cron("* * * * *")
        moment = dt.datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC)
        assert next_fire(expr, moment, UTC) == at("2026-01-01 10:01")
        assert next_fire(expr, moment.replace(second=59), UTC) == at("2026-01-01 10:01")

    def test_every_quarter_hour(self) -> None:
        """``*/15`` fires at :00, :15, :30, :45, across an hour and a day boundary."""
        assert fires("*/15 * * * *", "2026-03-01 23:31", 4) == [
            "2026-03-01 23:45",
            "2026-03-02 00:00",
            "2026-03-02 00:15",
            "2026-03-02 00:30",
        ]

    def test_weekdays_at_seven_thirty(self) -> None:
        """``30 7 * * mon-fri`` skips the weekend (2026-01-02 is a Friday)."""
        assert fires("30 7 * * mon-fri", "2026-01-02 08:00", 3) == [
            "2026-01-05 07:30",
            "2026-01-06 07:30",
            "2026-01-07 07:30",
        ]

    def test_month_end_and_leap_day(self) -> None:
        """Day 31 skips the months without one; Feb 29 is found in the next leap year."""
        assert fires("0 12 31 * *", "2026-01-31 12:00", 3) == [
            "2026-03-31 12:00",
            "2026-05-31 12:00",
            "2026-07-31 12:00",
        ]
        assert fires("0 0 29 2 *", "2026-01-01 00:00", 2) == [
            "2028-02-29 00:00",
            "2032-02-29 00:00",
        ]

    def test_both_day_fields_restricted_means_either(self) -> None:
        """With day-of-month and day-of-week both restricted, a day matching either fires."""
        # 2026-02-01 is a Sunday; the 13th of February 2026 is a Friday
        assert fires("0 9 13 * fri", "2026-02-01 00:00", 4) == [
            "2026-02-06 09:00",
            "2026-02-13 09:00",
            "2026-02-20 09:00",
            "2026-02-27 09:00",
        ]
        assert fires("0 9 14 * fri", "2026-02-10 00:00", 2) == [
            "2026-02-13 09:00",
            "2026-02-14 09:00",
        ]

    def test_star_step_day_is_still_any(self) -> None:
        """``*/2`` in day-of-month counts as unrestricted: the weekday alone decides with it."""
        assert fires("0 0 */2 * mon", "2026-01-01 00:00", 2) == [
            "2026-01-05 00:00",  # Monday the 5th: odd, so in */2 (1, 3, 5, ...)
            "2026-01-19 00:00",  # Monday the 12th is even: skipped
        ]

    def test_year_rollover_and_month_names(self) -> None:
        """A December-only expression rolls into the next year."""
        assert fires("0 6 1 dec *", "2026-12-01 06:00", 2) == [
            "2027-12-01 06:00",
            "2028-12-01 06:00",
        ]

    def test_other_zone_input(self) -> None:
        """``after`` may be in any zone: the answer is the same instant."""
        expr = parse_cron("0 * * * *")
        plus2 = dt.timezone(dt.timedelta(hours=2))
        got = next_fire(expr, dt.datetime(2026, 5, 1, 12, 10, tzinfo=plus2), UTC)
        assert got == at("2026-05-01 11:00")

    def test_naive_is_refused(self) -> None:
        """A naive datetime is an error, not a guess."""
        with pytest.raises(ValueError, match="aware"):
            next_fire(parse_cron("* * * * *"), dt.datetime(2026, 1, 1), UTC)


class TestNextFireLocal:
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")

    def test_fixed_offset_zone(self) -> None:
        """In a fixed-offset zone the fields are its wall clock (07:00 at +05:30 is 01:30 UTC)."""
        india = dt.timezone(dt.timedelta(hours=5, minutes=30))
        got = next_fire(parse_cron("0 7 * * *"), at("2026-01-01 00:00"), india)
        assert got.astimezone(UTC) == at("2026-01-01 01:30")

    def test_spring_forward_skipped_time_fires_after_the_jump(self) -> None:
        """02:30 does not exist on 2026-03-29 in Berlin: it fires at 03:30 CEST that day."""
        got = next_fire(parse_cron("30 2 * * *"), at("2026-03-28 12:00", self.berlin), self.berlin)
        assert got.astimezone(UTC) == at("2026-03-29 01:30")
        assert next_fire(parse_cron("30 2 * * *"), got, self.berlin).astimezone(UTC) == at(
            "2026-03-30 00:30"
        )

    def test_fall_back_repeated_time_fires_once(self) -> None:
        """02:30 happens twice on 2026-10-25 in Berlin: it fires the first time only."""
        expr = parse_cron("30 2 * * *")
        first = next_fire(expr, at("2026-10-24 12:00", self.berlin), self.berlin)
        assert first.astimezone(UTC) == at("2026-10-25 00:30")
        second = next_fire(expr, first, self.berlin)
        assert second.astimezone(UTC) == at("2026-10-26 01:30")

    def test_hourly_over_fall_back_never_goes_backwards(self) -> None:
        """Hourly fires through the repeated hour are strictly increasing instants."""
        expr = parse_cron("15 * * * *")
        moment = at("2026-10-24 23:00", UTC)
        seen = []
        for _ in range(6):
            moment = next_fire(expr, moment, self.berlin)
            seen.append(moment.astimezone(UTC))
        assert seen == sorted(seen)
        assert len(set(seen)) == len(seen)
        assert seen[0] == at("2026-10-24 23:15")
