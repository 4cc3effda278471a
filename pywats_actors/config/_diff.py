"""What changed between two configurations, in terms the actors act on."""

from __future__ import annotations

import msgspec

from ._schema import NodeConfig, WatchFolder

__all__ = ["RESTART_REQUIRED_KEYS", "ConfigDiff", "diff_configs"]

RESTART_REQUIRED_KEYS = frozenset(
    {
        "node.instance",
        "node.data_dir",
        "node.station_namespace",
        "node.log_format",
        "node.log_level",
        "spool.path",
        "spool.max_bytes",
        "spool.max_reports",
        "spool.keep_sent_days",
        "spool.keep_sent_bodies_days",
        "spool.keep_acknowledged_days",
        "spool.max_acknowledged",
    }
)
"""Keys whose new value only takes effect when the whole node restarts (logging is set up
once per process; the spool's limits and retention when it opens)."""

_SECTIONS = ("node", "server", "upload", "spool", "conversion", "watch", "health", "ipc")


class ConfigDiff(msgspec.Struct, frozen=True, kw_only=True):
    """The difference between an old and a new configuration.

    Attributes:
        keys: every changed key, dotted: ``upload.concurrency``, ``server.base_url``; a watch
            folder's keys are named by its id: ``watch[line1].include``. A token's key is
            listed, never its value.
        sections: the sections with a change, in file order: ``node``, ``server``,
            ``upload``, ``spool``, ``conversion``, ``watch``, ``health``, ``schedule``.
        watch_added: ids of watch folders that are new.
        watch_removed: ids of watch folders that are gone.
        watch_changed: ids of watch folders with a changed key.
        restart_required: the changed keys that only take effect when the node restarts
            (see :data:`RESTART_REQUIRED_KEYS`).
    """

    keys: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()
    watch_added: tuple[str, ...] = ()
    watch_removed: tuple[str, ...] = ()
    watch_changed: tuple[str, ...] = ()
    restart_required: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """True when nothing changed."""
        return not self.keys

    @property
    def server_changed(self) -> bool:
        """True when a ``[server]`` key changed (the uplink reconnects)."""
        return "server" in self.sections

    @property
    def upload_changed(self) -> bool:
        """True when an ``[upload]`` key changed (the uploader applies the new policy)."""
        return "upload" in self.sections


def _changed_fields(old: msgspec.Struct, new: msgspec.Struct) -> list[str]:
    return [
        field.name
        for field in msgspec.structs.fields(old)
        if getattr(old, field.name) != getattr(new, field.name)
    ]


def diff_configs(old: NodeConfig, new: NodeConfig) -> ConfigDiff:
    """What changed from *old* to *new*."""
    keys: list[str] = []
    sections: list[str] = []
    added: list[str] = []
    removed: list[str] = []
    changed: list[str] = []
    for section in _SECTIONS:
        if section == "watch":
            watch_keys, added, removed, changed = _diff_watches(old.watch, new.watch)
            keys += watch_keys
            if watch_keys:
                sections.append(section)
            continue
        fields = _changed_fields(getattr(old, section), getattr(new, section))
        if fields:
            sections.append(section)
            keys += [f"{section}.{name}" for name in fields]
    schedule_keys = _diff_schedules(old, new)
    if schedule_keys:
        sections.append("schedule")
        keys += schedule_keys
    return ConfigDiff(
        keys=tuple(keys),
        sections=tuple(sections),
        watch_added=tuple(added),
        watch_removed=tuple(removed),
        watch_changed=tuple(changed),
        restart_required=tuple(key for key in keys if key in RESTART_REQUIRED_KEYS),
    )


def _diff_watches(
    old: tuple[WatchFolder, ...], new: tuple[WatchFolder, ...]
) -> tuple[list[str], list[str], list[str], list[str]]:
    before = {watch.id: watch for watch in old}
    after = {watch.id: watch for watch in new}
    keys: list[str] = []
    added = [watch_id for watch_id in after if watch_id not in before]
    removed = [watch_id for watch_id in before if watch_id not in after]
    changed: list[str] = []
    for watch_id, watch in after.items():
        if watch_id in before:
            fields = _changed_fields(before[watch_id], watch)
            if fields:
                changed.append(watch_id)
                keys += [f"watch[{watch_id}].{name}" for name in fields]
    keys += [f"watch[{watch_id}]" for watch_id in added + removed]
    return keys, added, removed, changed


def _diff_schedules(old: NodeConfig, new: NodeConfig) -> list[str]:
    """The changed keys of ``[[schedule]]`` tables: ``schedule[<id>].<key>``, and
    ``schedule[<id>]`` for one added or removed (the conversion branch restarts for any)."""
    before = {item.id: item for item in old.schedule}
    after = {item.id: item for item in new.schedule}
    keys: list[str] = []
    for item_id, item in after.items():
        if item_id in before:
            keys += [
                f"schedule[{item_id}].{name}" for name in _changed_fields(before[item_id], item)
            ]
    keys += [f"schedule[{item_id}]" for item_id in after if item_id not in before]
    keys += [f"schedule[{item_id}]" for item_id in before if item_id not in after]
    return keys
