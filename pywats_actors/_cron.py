"""Cron expressions: a parser and a next-fire calculator, pure functions of wall time.

Five fields, separated by blanks: ``minute hour day-of-month month day-of-week``.

=============  ======  =================================
field          values  names
=============  ======  =================================
minute         0-59
hour           0-23
day-of-month   1-31
month          1-12    ``jan`` ... ``dec``
day-of-week    0-7     ``sun`` ... ``sat`` (0 and 7: Sunday)
=============  ======  =================================

Each field is ``*`` or a comma-separated list of items; an item is a value, a range ``a-b``,
either followed by a step ``/n``, or ``*/n`` (names are allowed wherever a value is, in any
case). As in Vixie cron, when both day fields are restricted (neither starts with ``*``) a day
matches if *either* matches. ``@yearly`` (``@annually``), ``@monthly``, ``@weekly``, ``@daily``
(``@midnight``) and ``@hourly`` stand for their five-field forms.

Times are the station's local wall-clock times (:func:`next_fire` takes the time zone). A local
time that a daylight-saving jump skips fires at the same offset after the jump (02:30 on the
spring-forward night of Europe fires at 03:30); a time that occurs twice when the clock goes back
fires once, the first time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

__all__ = ["CronError", "CronExpr", "next_fire", "parse_cron"]

_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NAMES: tuple[dict[str, int], ...] = (
    {},
    {},
    {},
    {name: number for number, name in enumerate(_MONTHS, start=1)},
    {name: number for number, name in enumerate(_DAYS)},
)
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_SEARCH_YEARS = 8  # Feb 29 on a Monday can take up to 28 years; a day that never is: refused


class CronError(ValueError):
    """A cron expression that cannot be parsed; the message names the field and the item."""


@dataclass(frozen=True, slots=True)
class CronExpr:
    """A parsed cron expression: the allowed values of each field.

    Attributes:
        text: the expression as written.
        minutes, hours, days, months: the allowed values.
        weekdays: allowed days of the week, 0 (Sunday) to 6.
        days_any, weekdays_any: the field was ``*`` (or ``*/n``): with the other day field
            restricted, only that one decides.
    """

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    days_any: bool
    weekdays_any: bool

    def day_matches(self, day: dt.date) -> bool:
        """Whether ``day`` (in the station's calendar) is a day the expression fires on."""
        if day.month not in self.months:
            return False
        in_days = day.day in self.days
        in_weekdays = (day.isoweekday() % 7) in self.weekdays
        if self.days_any or self.weekdays_any:
            return in_days and in_weekdays
        return in_days or in_weekdays


def parse_cron(text: str) -> CronExpr:
    """Parse a five-field cron expression (or an ``@`` macro).

    Raises:
        CronError: not five fields, or a field with a bad item (the message names the field),
            or a day-of-month and month that can never meet (``0 0 31 2 *``).
    """
    spec = text.strip()
    spec = _MACROS.get(spec.lower(), spec)
    if spec.startswith("@"):
        raise CronError(f"unknown macro {spec!r}; use one of {', '.join(_MACROS)}")
    parts = spec.split()
    if len(parts) != len(_FIELDS):
        raise CronError(
            f"a cron expression has 5 fields (minute hour day-of-month month day-of-week), "
            f"this one has {len(parts)}: {text!r}"
        )
    sets = [_field(index, part) for index, part in enumerate(parts)]
    weekdays = frozenset(day % 7 for day in sets[4])
    expr = CronExpr(
        text=text.strip(),
        minutes=sets[0],
        hours=sets[1],
        days=sets[2],
        months=sets[3],
        weekdays=weekdays,
        days_any=parts[2].startswith("*"),
        weekdays_any=parts[4].startswith("*"),
    )
    if expr.weekdays_any and not any(
        day <= _month_length(month) for month in expr.months for day in expr.days
    ):
        raise CronError(f"day-of-month: no month of {parts[3]!r} has day {parts[2]!r}")
    return expr


def _field(index: int, text: str) -> frozenset[int]:
    name = _FIELDS[index]
    low, high = _BOUNDS[index]
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise CronError(f"{name}: empty item in {text!r}")
        body, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{name}: the step of {item!r} must be a whole number above 0")
            step = int(step_text)
        if body == "*":
            start, stop = low, high
        elif "-" in body:
            first, _, last = body.partition("-")
            start, stop = _value(index, first, item), _value(index, last, item)
            if start > stop:
                raise CronError(f"{name}: the range {item!r} runs backwards")
        else:
            start = _value(index, body, item)
            stop = high if slash else start  # "5/15": from 5 to the end, every 15
        values.update(range(start, stop + 1, step))
    return frozenset(values)


def _value(index: int, text: str, item: str) -> int:
    name = _FIELDS[index]
    low, high = _BOUNDS[index]
    named = _NAMES[index].get(text.lower())
    if named is not None:
        return named
    if not text.isdigit():
        expected = f"a number {low}-{high}"
        if _NAMES[index]:
            expected += " or a name (" + ", ".join(_NAMES[index]) + ")"
        raise CronError(f"{name}: {text!r} in {item!r} is not {expected}")
    value = int(text)
    if not low <= value <= high:
        raise CronError(f"{name}: {value} in {item!r} is outside {low}-{high}")
    return value


def _month_length(month: int) -> int:
    return 29 if month == 2 else 30 if month in (4, 6, 9, 11) else 31


def next_fire(expr: CronExpr, after: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """The first instant strictly after ``after`` at which ``expr`` fires, in zone ``tz``.

    Args:
        expr: a parsed expression.
        after: an aware datetime (any zone).
        tz: the station's time zone: the expression's fields are its wall-clock times.

    Returns:
        An aware datetime in ``tz``.

    Raises:
        ValueError: ``after`` is naive.
        CronError: the expression never fires within the years searched (``0 0 29 2 mon``
            fires only when February 29 falls on a Monday, which happens; a day that never
            exists was refused by :func:`parse_cron`).
    """
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError("next_fire needs an aware datetime")
    utc_after = after.astimezone(dt.UTC)
    local = utc_after.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0)
    candidate = local + dt.timedelta(minutes=1)
    while True:
        naive = _next_local(expr, candidate)
        instant = _instant(naive, tz)
        if instant > utc_after:
            return instant.astimezone(tz)
        candidate = naive + dt.timedelta(minutes=1)  # the hour the clock went back


def _next_local(expr: CronExpr, start: dt.datetime) -> dt.datetime:
    """The first wall-clock minute at or after ``start`` (naive) that matches ``expr``."""
    limit = start.year + _SEARCH_YEARS * 4
    day = start.date()
    first = True
    while day.year <= limit:
        if expr.day_matches(day):
            hour0, minute0 = (start.hour, start.minute) if first else (0, 0)
            for hour in sorted(h for h in expr.hours if h >= hour0):
                low = minute0 if hour == hour0 else 0
                minutes = [m for m in expr.minutes if m >= low]
                if minutes:
                    return dt.datetime(day.year, day.month, day.day, hour, min(minutes))
        day += dt.timedelta(days=1)
        first = False
        if day.month not in expr.months:  # jump to the first day of the next allowed month
            day = _next_month_start(expr, day)
    raise CronError(f"{expr.text!r} does not fire within {_SEARCH_YEARS * 4} years")


def _next_month_start(expr: CronExpr, day: dt.date) -> dt.date:
    year, month = day.year, day.month
    for _ in range(13):
        if month in expr.months:
            return dt.date(year, month, 1) if (year, month) != (day.year, day.month) else day
        month += 1
        if month == 13:
            year, month = year + 1, 1
    return day  # pragma: no cover - months is never empty


def _instant(naive: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """The UTC instant of a local wall-clock time: the first of two when the clock went back;
    for a time the clock skipped, the instant with the offset from before the jump (which
    reads as the same distance past the jump)."""
    return naive.replace(tzinfo=tz, fold=0).astimezone(dt.UTC)
