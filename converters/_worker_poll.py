"""A scheduled converter's run in the worker: ``poll(source, cursor, args)``, checked.

Its ``(key, report)`` items stream as a conversion's reports do
(:func:`converters._worker_output.answer`); the answer also carries each report's key and the
new cursor, which must be bytes, a string or ``None``, of at most :data:`CURSOR_LIMIT` bytes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ._errors import FileRejected
from ._protocol import Cursor, Done, Poll, Refused
from ._worker_output import BadOutput, answer

__all__ = ["CURSOR_LIMIT", "run_poll"]

CURSOR_LIMIT = 64 * 1024
"""The largest cursor a scheduled converter may return, in bytes (UTF-8 for a string)."""
_KEY_LIMIT = 1024


def run_poll(instance: Any, args: Any, request: Poll, out: int) -> Done | Refused:
    """Run a scheduled converter's ``poll()`` once; its reports stream as a conversion's do,
    and the answer carries each report's key and the new cursor."""
    started = time.perf_counter()
    keys: list[str] = []
    cursor: list[bytes | str | None] = [None]
    given = request.cursor.native if request.cursor is not None else None

    def produce() -> Iterator[object]:
        poll = getattr(instance, "poll", None)
        if not callable(poll):
            raise FileRejected(f"{request.converter} is not a scheduled converter (no poll())")
        items, cursor[0] = _poll_result(poll(request.source, given, args))
        return _keyed(items, keys)

    return answer(
        request,
        started,
        request.converter,
        produce,
        out,
        empty_ok=True,
        extra=lambda: {"keys": keys, "cursor": Cursor.of(cursor[0])},
    )


def _poll_result(result: object) -> tuple[Iterator[object], bytes | str | None]:
    """``poll()``'s ``(items, cursor)``, checked.

    Raises:
        BadOutput: not a pair, items not iterable, or a cursor that is not bytes, a string or
            ``None``, or longer than :data:`CURSOR_LIMIT`.
    """
    if not (isinstance(result, tuple) and len(result) == 2):
        raise BadOutput(f"poll() must return (items, cursor), not {type(result).__name__}")
    items, cursor = result
    if isinstance(items, bytes | str | Mapping) or not isinstance(items, Iterable):
        raise BadOutput(f"poll() items must be an iterable of pairs, not {type(items).__name__}")
    if cursor is not None and not isinstance(cursor, bytes | str):
        raise BadOutput(f"poll() cursor must be bytes, str or None, not {type(cursor).__name__}")
    size = len(
        cursor.encode("utf-8", "surrogatepass") if isinstance(cursor, str) else cursor or b""
    )
    if size > CURSOR_LIMIT:
        raise BadOutput(f"poll() cursor is {size} bytes; the limit is {CURSOR_LIMIT}")
    return iter(items), cursor


def _keyed(items: Iterator[object], keys: list[str]) -> Iterator[object]:
    """The reports of ``(key, report)`` pairs, noting each key in ``keys``.

    Raises:
        BadOutput: an item that is not a pair with a non-empty string key of at most 1024
            characters.
    """
    for index, item in enumerate(items):
        if not (isinstance(item, tuple) and len(item) == 2):
            raise BadOutput(f"item {index} of poll() is not a (key, report) pair")
        key, report = item
        if not isinstance(key, str) or not key or len(key) > _KEY_LIMIT:
            raise BadOutput(
                f"item {index} of poll() has no usable key (a string of 1 to {_KEY_LIMIT} "
                "characters)"
            )
        keys.append(key)
        yield report
