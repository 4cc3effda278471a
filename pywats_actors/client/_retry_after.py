"""Parsing the HTTP ``Retry-After`` header (RFC 9110 §10.2.3).

The value is either a non-negative integer of delay-seconds (``120``) or an HTTP-date
(``Wed, 21 Oct 2015 07:28:00 GMT``; the obsolete RFC 850 and asctime forms are accepted too).
Following the upload policy, anything that does not give a usable, future delay (a negative or
fractional number, garbage, a date in the past) yields ``None``, meaning "use your own backoff",
and a delay beyond the limit (ten minutes by default) is clamped to it.
"""

from __future__ import annotations

import time
from datetime import UTC
from email.utils import parsedate_to_datetime

__all__ = ["RETRY_AFTER_LIMIT", "parse_retry_after"]

RETRY_AFTER_LIMIT = 600.0
"""The longest delay a ``Retry-After`` may impose, in seconds; longer values are clamped."""

_LONGEST_VALUE = 64  # a valid value is at most 29 characters; longer is garbage, not worth parsing


def parse_retry_after(
    value: str | None,
    *,
    now: float | None = None,
    limit: float = RETRY_AFTER_LIMIT,
) -> float | None:
    """Return the delay in seconds that a ``Retry-After`` value asks for, or ``None``.

    Args:
        value: the header value, or ``None`` when the header was absent.
        now: the current wall-clock time (seconds since the epoch) against which an HTTP-date is
            measured; :func:`time.time` by default. Tests pass a fixed value.
        limit: the longest delay returned; larger delays are clamped to it.

    Returns:
        The delay in seconds, between 0 and *limit*, or ``None`` when the value is absent,
        unparsable, negative, or a date that is not in the future.
    """
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > _LONGEST_VALUE:
        return None
    if text.isascii() and text.isdigit():
        return min(float(int(text)), limit)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # asctime carries no zone; RFC 9110 says HTTP-dates are UTC
        when = when.replace(tzinfo=UTC)
    return _delay_to(when.timestamp(), now, limit)


def _delay_to(at: float, now: float | None, limit: float) -> float | None:
    delay = at - (time.time() if now is None else now)
    if delay <= 0:
        return None
    return min(delay, limit)
