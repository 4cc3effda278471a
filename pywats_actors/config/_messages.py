"""What the config actor tells its subscribers: past-tense facts, frozen msgspec Structs."""

from __future__ import annotations

import msgspec

from ._diff import ConfigDiff
from ._problems import ConfigProblem
from ._schema import NodeConfig

__all__ = ["ConfigChanged", "ConfigEvent", "ConfigRejected"]


class ConfigChanged(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """The configuration file changed, and the new one passed every check and is now current.

    Attributes:
        path: the configuration file.
        old: the configuration that was current until now.
        new: the configuration that is current from now on.
        diff: what changed, by key, section and watch folder id.
        notes: notes of the new file (such as a migration from an older schema version).
    """

    path: str
    old: NodeConfig
    new: NodeConfig
    diff: ConfigDiff
    notes: tuple[str, ...] = ()


class ConfigRejected(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """The configuration file changed, but the new one is unusable; the old one stays current.

    Attributes:
        path: the configuration file.
        problems: every problem found, each with its path and message; a file that
            disappeared or cannot be read is one problem at path ``$``.
    """

    path: str
    problems: tuple[ConfigProblem, ...]


ConfigEvent = ConfigChanged | ConfigRejected
"""Everything the config actor publishes."""
