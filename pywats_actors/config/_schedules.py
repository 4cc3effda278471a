"""The checks of ``[[schedule]]`` tables that need more than one value to decide."""

from __future__ import annotations

import os
from collections.abc import Iterator

from .._cron import CronError, parse_cron
from ._problems import ConfigProblem
from ._schema import NodeConfig

__all__ = ["MIN_INTERVAL", "schedule_problems"]

MIN_INTERVAL = 0.1
"""The shortest ``interval`` a schedule may have, in seconds."""


def schedule_problems(config: NodeConfig) -> Iterator[ConfigProblem]:
    """Every problem of the configuration's schedules: a repeated id, ``interval`` and
    ``cron`` both or neither given, a cron expression that does not parse (the message names
    the field), ``converter = "auto"``, and a source inside the node's state folder (which no
    converter may read)."""
    first_id: dict[str, int] = {}
    data_dir = os.path.realpath(config.node.data_dir) if config.node.data_dir else None
    for index, item in enumerate(config.schedule):
        where = f"$.schedule[{index}]"
        if item.id in first_id:
            yield ConfigProblem(
                path=f"{where}.id",
                message=f"{item.id!r} is already the id of $.schedule[{first_id[item.id]}]",
                value=item.id,
            )
        first_id.setdefault(item.id, index)
        if item.converter == "auto":
            yield ConfigProblem(
                path=f"{where}.converter",
                message="a schedule names its converter (a scheduled one); it cannot be auto",
                value=item.converter,
            )
        if item.interval and item.cron:
            yield ConfigProblem(
                path=where, message="give interval or cron, not both", value=item.cron
            )
        elif not item.interval and not item.cron:
            yield ConfigProblem(
                path=where,
                message='give interval (seconds) or cron (such as "*/15 * * * *")',
            )
        elif item.interval and item.interval < MIN_INTERVAL:
            yield ConfigProblem(
                path=f"{where}.interval",
                message=f"expected at least {MIN_INTERVAL} seconds",
                value=item.interval,
            )
        if item.cron:
            try:
                parse_cron(item.cron)
            except CronError as exc:
                yield ConfigProblem(path=f"{where}.cron", message=str(exc), value=item.cron)
        source = os.path.realpath(item.source)
        if data_dir is not None and (
            source == data_dir or source.startswith(data_dir.rstrip(os.sep) + os.sep)
        ):
            yield ConfigProblem(
                path=f"{where}.source",
                message="the node's state folder (node.data_dir) is hidden from converters; "
                "give a source outside it",
                value=item.source,
            )
