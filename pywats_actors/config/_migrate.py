"""Older configuration layouts, and how each is turned into the next one.

Schema version 1 (pywats-node 0.0.x) differed from version 2 in five places:

* ``[server] url`` is ``base_url`` in version 2;
* ``[server] timeout`` (one timeout for everything) became ``read_timeout`` and
  ``write_timeout`` (``connect_timeout`` and ``pool_timeout`` keep their defaults);
* ``[upload] retries`` and ``retry_delay`` (give up after N fixed-interval retries) are gone:
  version 2 never gives up on a report, it backs off exponentially with full jitter;
* ``[[watch]] folder`` is ``path``, and the single ``pattern`` became the ``include`` array;
* ``[[watch]]`` tables had no ``id``; version 2 requires one, so ``watch-1``, ``watch-2``...
  are given in order.

Each step takes the parsed TOML values of one version and returns those of the next, with a
note per change. Steps are forgiving: a value they do not recognise is left where it is, so
that checking the result against the current schema reports it with its path.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ._problems import ConfigProblem, render_value
from ._schema import CURRENT_SCHEMA_VERSION

__all__ = ["RETIRED_SECTIONS", "drop_retired_sections", "migrate", "schema_version_of"]

_Step = Callable[[dict[str, Any]], list[str]]


def schema_version_of(values: dict[str, Any]) -> int | ConfigProblem:
    """The file's ``schema_version``, or the problem with it."""
    if "schema_version" not in values:
        return ConfigProblem(
            path="$.schema_version",
            message=(
                f"required key is missing; add schema_version = {CURRENT_SCHEMA_VERSION} "
                "as the first line"
            ),
        )
    version = values["schema_version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        return ConfigProblem(
            path="$.schema_version",
            message=f"expected an integer >= 1, got {render_value(version)}",
            value=version,
        )
    return version


def migrate(values: dict[str, Any], version: int) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Bring *values* of schema *version* up to the current version.

    Returns the migrated values (a copy; *values* is untouched) and one note per change.
    *version* must be between 1 and :data:`CURRENT_SCHEMA_VERSION`.
    """
    if not 1 <= version <= CURRENT_SCHEMA_VERSION:
        raise ValueError(f"no migration from schema version {version}")
    if version == CURRENT_SCHEMA_VERSION:
        return values, ()
    result = copy.deepcopy(values)
    notes: list[str] = []
    while version < CURRENT_SCHEMA_VERSION:
        notes.extend(_STEPS[version](result))
        version += 1
        result["schema_version"] = version
    return result, tuple(notes)


def _table(values: dict[str, Any], key: str) -> dict[str, Any] | None:
    table = values.get(key)
    return table if isinstance(table, dict) else None


def _rename(table: dict[str, Any], old: str, new: str, where: str) -> list[str]:
    if old not in table or new in table:
        return []
    table[new] = table.pop(old)
    return [f"{where}.{old} is now {where}.{new}"]


def _v1_to_v2(values: dict[str, Any]) -> list[str]:
    notes: list[str] = []
    server = _table(values, "server")
    if server is not None:
        notes += _rename(server, "url", "base_url", "server")
        if "timeout" in server and not {"read_timeout", "write_timeout"} & server.keys():
            timeout = server.pop("timeout")
            server["read_timeout"] = server["write_timeout"] = timeout
            notes.append("server.timeout is now server.read_timeout and server.write_timeout")
    upload = _table(values, "upload")
    if upload is not None:
        for key in ("retries", "retry_delay"):
            if key in upload:
                upload.pop(key)
                notes.append(
                    f"upload.{key} was removed: reports are retried until they are sent, "
                    "with exponential backoff (upload.backoff_base, upload.backoff_cap)"
                )
    watches = values.get("watch")
    if isinstance(watches, list):
        taken = {w.get("id") for w in watches if isinstance(w, dict)}
        for index, watch in enumerate(watches):
            if isinstance(watch, dict):
                notes += _watch_v1_to_v2(watch, index, taken)
    return notes


def _watch_v1_to_v2(watch: dict[str, Any], index: int, taken: set[object]) -> list[str]:
    where = f"watch[{index}]"
    notes = _rename(watch, "folder", "path", where)
    if "pattern" in watch and "include" not in watch and isinstance(watch["pattern"], str):
        watch["include"] = [watch.pop("pattern")]
        notes.append(f"{where}.pattern is now {where}.include")
    if "id" not in watch:
        number = index + 1
        while f"watch-{number}" in taken:
            number += 1
        watch["id"] = f"watch-{number}"
        taken.add(watch["id"])
        notes.append(f"{where} has no id; it is now id = {watch['id']!r}")
    return notes


_STEPS: dict[int, _Step] = {1: _v1_to_v2}


RETIRED_SECTIONS: dict[str, str] = {}
"""Sections that earlier versions accepted for features this version does not have (section ->
what it was for). None now: ``[ipc]`` and ``[health]``, once written by ``config init`` while
nothing served them, are served again."""


def drop_retired_sections(values: dict[str, Any]) -> tuple[str, ...]:
    """Remove :data:`RETIRED_SECTIONS` from *values* (in place); one note per section removed.

    Refusing a section an earlier version accepted would stop every station on upgrade, so such
    a section is ignored with a note saying so (docs/decisions.md). ``[ipc]`` and ``[health]``,
    which earlier versions wrote into every file, are read as written; only ``[health]``'s old
    ``host = "localhost"`` (a name that may resolve off loopback) becomes ``127.0.0.1``, with a
    note.
    """
    notes = []
    health = _table(values, "health")
    if health is not None and health.get("host") == "localhost":
        health["host"] = "127.0.0.1"
        notes.append('health.host "localhost" is now "127.0.0.1"')
    for name, what in RETIRED_SECTIONS.items():
        if name in values:
            del values[name]
            notes.append(
                f"[{name}] is ignored: this version of pywats-node has no {what}; "
                "remove the section"
            )
    return tuple(notes)
