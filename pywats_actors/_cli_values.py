"""The value types of ``pywats-node``'s options: each turns the text of one option into its
value or raises ``argparse.ArgumentTypeError`` with what is allowed, so that argparse refuses a
bad value with exit code 2, naming the option, before anything is opened or started."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

__all__ = [
    "count",
    "days",
    "instance_name",
    "new_file",
    "number",
    "positive",
    "probability",
    "seconds",
    "token",
]


def number(text: str) -> float:
    """A finite or infinite number, never NaN."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value != value:  # NaN
        raise argparse.ArgumentTypeError(f"{text!r} is not a number")
    return value


def instance_name(text: str) -> str:
    """An instance name (1 to 64 letters, digits, ``.``, ``_`` or ``-``)."""
    from .config._paths import check_instance_name

    try:
        check_instance_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def count(low: int, high: int) -> Callable[[str], int]:
    """A whole number from *low* to *high*."""

    def count(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is not from {low} to {high}")
        return value

    return count


def positive(text: str) -> float:
    """A finite number above 0."""
    value = number(text)
    if not 0.0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a number above 0")
    return value


def token(text: str) -> str:
    """An API token: printable ASCII without spaces."""
    if not text or not all("!" <= c <= "~" for c in text):
        raise argparse.ArgumentTypeError("a token is printable ASCII without spaces")
    return text


def new_file(text: str) -> str:
    """A file that may not exist yet, in a folder that does."""
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"there is no folder {folder}")
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is a folder")
    return text


def days(text: str) -> float:
    """A number of days from 0 to 100000."""
    value = number(text)
    if not 0.0 <= value <= 100_000.0:
        raise argparse.ArgumentTypeError(f"{text} is not a number of days from 0 to 100000")
    return value


def probability(text: str) -> float:
    """A probability from 0 to 1."""
    value = number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a probability between 0 and 1")
    return value


def seconds(text: str) -> float:
    """A number of seconds from 0 to 3600."""
    value = number(text)
    if not 0.0 <= value <= 3600.0:
        raise argparse.ArgumentTypeError(f"{text} is not a number of seconds from 0 to 3600")
    return value
