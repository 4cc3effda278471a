"""Structured logging for the node: structlog, configured once per process.

Two renderings of one event stream:

* ``console``: coloured, aligned, human-readable lines for a person at a terminal;
* ``json``: one JSON object per line, for journald, log shippers and ``jq``.

``auto`` picks ``console`` when the output stream is a terminal and ``json`` otherwise, which is
what a service manager gives a headless node.

Every line carries the context bound with :func:`bind_context` (or
``structlog.contextvars.bound_contextvars``): the actor, and where there is one the report id and
the source file. Context variables are copied into each new trio task, so a supervisor that binds
``actor=...`` just before it starts a child gives every line the child logs that identity.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal, TextIO

import msgspec
import structlog
from structlog.typing import EventDict, FilteringBoundLogger, Processor

__all__ = ["LogFormat", "bind_context", "configure_logging", "get_logger"]

LogFormat = Literal["auto", "console", "json"]

_LEVELS: Mapping[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


def _resolve_format(fmt: LogFormat, stream: TextIO) -> Literal["console", "json"]:
    if fmt != "auto":
        return fmt
    isatty = getattr(stream, "isatty", None)
    return "console" if isatty is not None and isatty() else "json"


def configure_logging(
    *,
    fmt: LogFormat = "auto",
    level: str = "info",
    stream: TextIO | None = None,
) -> Literal["console", "json"]:
    """Configure structlog for this process and return the rendering chosen.

    Args:
        fmt: ``"console"``, ``"json"``, or ``"auto"`` (console on a terminal, JSON otherwise).
        level: the minimum level: ``debug``, ``info``, ``warning``, ``error`` or ``critical``.
        stream: where lines go; standard error by default, so standard output stays free for
            command output such as ``pywats-node convert``.

    Raises:
        ValueError: the level name is unknown.

    Calling it again replaces the previous configuration (tests and the CLI rely on that).
    """
    try:
        numeric_level = _LEVELS[level.lower()]
    except KeyError:
        raise ValueError(
            f"unknown log level {level!r}; expected one of {', '.join(_LEVELS)}"
        ) from None
    out = stream if stream is not None else sys.stderr
    rendering = _resolve_format(fmt, out)

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        _UtcTimestamp(),
    ]
    if rendering == "json":
        processors: list[Processor] = [
            *shared,
            # no local variables in tracebacks: a token or a report body could be among them
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            structlog.processors.EventRenamer("msg"),
            structlog.processors.JSONRenderer(serializer=_json_line),
        ]
    else:
        processors = [*shared, structlog.dev.ConsoleRenderer(colors=_wants_colour(out))]

    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    _route_stdlib_logging(shared, processors[len(shared) :], numeric_level, out)
    return rendering


def _route_stdlib_logging(
    shared: list[Processor], tail: list[Processor], level: int, out: TextIO
) -> None:
    """Send records of libraries that use :mod:`logging` through the same rendering."""
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_pywats", False):
            root.removeHandler(old)
    handler._pywats = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # watchdog logs every file event at DEBUG (a log file next to a watched file would feed
    # itself) and a benign race (an event queued while its observer stops) as an error.
    logging.getLogger("watchdog").setLevel(max(level, logging.INFO))
    logging.getLogger("watchdog.observers.inotify").setLevel(logging.CRITICAL)
    # httpx logs every request at INFO; the uploader already logs each upload with its id.
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))


class _UtcTimestamp:
    """``timestamp``: ISO 8601 in UTC with microseconds, ``2026-11-23T05:43:49.123456Z``.

    The same text as ``TimeStamper(fmt="iso", utc=True)``, at a fraction of its cost: the date
    and time of day are formatted once per second. Safe from any thread (one tuple swap).
    """

    def __init__(self) -> None:
        self._second: tuple[int, str] = (-1, "")

    def __call__(self, logger: object, name: str, event: EventDict) -> EventDict:
        now = time.time()
        second = int(now)
        cached, prefix = self._second
        if cached != second:
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, prefix)
        event["timestamp"] = f"{prefix}.{int((now - second) * 1_000_000):06d}Z"
        return event


_json = msgspec.json.Encoder(enc_hook=str)


def _json_line(event: EventDict, **_: Any) -> str:
    """One JSON object (msgspec: several times faster than :func:`json.dumps`); values that are
    not JSON types are written as their ``str()``."""
    return _json.encode(event).decode()


def _wants_colour(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


def get_logger(**initial: Any) -> FilteringBoundLogger:
    """A structlog logger with *initial* key-value pairs bound to every line it writes.

    It follows the configuration in force when it logs, not when it was made, so a logger
    made at import time (before :func:`configure_logging`) writes what the node configured.
    """
    logger: FilteringBoundLogger = structlog.get_logger(**initial)
    return logger


@contextmanager
def bind_context(**values: Any) -> Iterator[None]:
    """Bind *values* (``actor=``, ``report_id=``, ``source=``...) to every log line in this block.

    The binding is a context variable: it follows the current task and every task started from
    it, and is restored when the block ends.
    """
    with structlog.contextvars.bound_contextvars(**values):
        yield
