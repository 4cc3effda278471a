"""Filling in what a configuration leaves empty, and making every path absolute.

A loaded configuration never contains an empty "use the default" string or a relative path:
``~`` is expanded, relative paths are taken relative to the config file's folder, and the
defaults of ``node.instance``, ``node.data_dir``, and ``spool.path`` are
filled in, so that every actor reads plain absolute paths.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from msgspec.structs import replace

from ._paths import DEFAULT_INSTANCE, default_data_dir, default_runtime_dir
from ._schema import _NAME_PATTERN, NodeConfig

__all__ = ["SPOOL_FILE_NAME", "choose_instance", "resolve"]

SPOOL_FILE_NAME = "spool.sqlite3"


def choose_instance(written: str, expected: str | None, config_path: Path) -> str:
    """The instance a file is for: what it says, else what was asked for, else its name."""
    if written:
        return written
    if expected:
        return expected
    stem = config_path.stem
    return stem if re.match(_NAME_PATTERN, stem) else DEFAULT_INSTANCE


def _absolute(path: str, base: Path) -> str:
    return os.path.normpath(base / os.path.expanduser(path))


def resolve(
    config: NodeConfig, *, instance: str, config_dir: Path, env: Mapping[str, str] | None
) -> tuple[NodeConfig, Path]:
    """Return *config* with defaults filled in and absolute paths, and the runtime folder."""
    node = config.node
    data_dir = (
        _absolute(node.data_dir, config_dir)
        if node.data_dir
        else str(default_data_dir(instance, env=env))
    )
    runtime_dir = default_runtime_dir(instance, data_dir=data_dir, env=env)
    server = config.server
    if server.token_file:
        server = replace(server, token_file=_absolute(server.token_file, config_dir))
    if isinstance(server.verify_tls, str):
        server = replace(server, verify_tls=_absolute(server.verify_tls, config_dir))
    spool_path = config.spool.path
    resolved = replace(
        config,
        node=replace(node, instance=instance, data_dir=data_dir),
        server=server,
        spool=replace(
            config.spool,
            path=(
                _absolute(spool_path, config_dir)
                if spool_path
                else os.path.join(data_dir, SPOOL_FILE_NAME)
            ),
        ),
        watch=tuple(
            replace(watch, path=_absolute(watch.path, config_dir)) for watch in config.watch
        ),
        schedule=tuple(
            replace(item, source=_absolute(item.source, config_dir)) for item in config.schedule
        ),
    )
    return resolved, runtime_dir
