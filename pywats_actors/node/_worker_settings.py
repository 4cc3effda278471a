"""What the node's converter workers run under: the pool settings from ``[conversion]``, and
what a worker must never read (the node's secrets and state, as one list).

Converter plug-ins are untrusted code. Whatever else a worker is granted (its plug-in's folder,
``read_paths``, the Python installation), it must not read the configuration (it names the
server and may hold the token inline), the token file, the spool (every report, and the ledger
of what the server has), or the node's state and runtime folders (the instance lock, and
whatever the node keeps there). :func:`hidden_paths` lists them for ``PoolSettings.hide_paths``:
the pool never grants them through Landlock, and a worker with a mount namespace does not see
them at all.

Paths are listed as configured, whether they exist yet or not: the spool's ``-wal`` and
``-shm`` come and go with its connections, and a folder may be created after the pool starts.
A path inside a folder already listed is left out (hiding the folder hides it).
"""

from __future__ import annotations

import os

from converters import PoolSettings

from ..config import NodeConfig

__all__ = ["SPOOL_FILE_SUFFIXES", "hidden_paths", "pool_settings"]

SPOOL_FILE_SUFFIXES = ("", "-wal", "-shm", "-journal", ".lock")
"""The files of a spool, by suffix to its database's path: the database, SQLite's write-ahead
log, shared memory and rollback journal, and the writer's lock."""


def pool_settings(
    config: NodeConfig, *, config_path: str | None = None, runtime_dir: str | None = None
) -> PoolSettings:
    """The converter pool's settings from ``[conversion]`` (the node's pool, and the dry run of
    ``pywats-node convert --config``): workers, limits, the sandbox's layers, and
    :func:`hidden_paths` as ``hide_paths``. A worker's address space is twice ``memory_mb``,
    at least 2048 MiB. Never fails: the configuration was checked when it was loaded.
    """
    conversion = config.conversion
    return PoolSettings(
        workers=conversion.workers,
        timeout=conversion.timeout,
        memory_mb=conversion.memory_mb,
        address_space_mb=max(2048, conversion.memory_mb * 2),
        cpu_seconds=conversion.cpu_seconds,
        landlock=conversion.landlock,
        namespaces=conversion.namespaces,
        seccomp=conversion.seccomp,
        temp_mb=conversion.temp_mb,
        max_input_mb=conversion.max_input_mb,
        max_output_mb=conversion.max_output_mb,
        max_reports_per_file=conversion.max_reports_per_file,
        hide_paths=hidden_paths(config, config_path=config_path, runtime_dir=runtime_dir),
    )


def hidden_paths(
    config: NodeConfig, *, config_path: str | None = None, runtime_dir: str | None = None
) -> tuple[str, ...]:
    """Every path of this node that a converter worker must never read, absolute, each once.

    In this order: the configuration file (*config_path*; ``None``: the configuration did not
    come from a file), the token file (``server.token_file``, when the configuration names one;
    an inline ``server.token`` is in the configuration file), the state folder
    (``node.data_dir``), the runtime folder (*runtime_dir*, where the instance lock lives),
    and the spool's database with its files (:data:`SPOOL_FILE_SUFFIXES`). Relative paths are
    taken from the current directory (a loaded configuration has absolute paths already).
    Never fails: it only computes paths.
    """
    candidates: list[tuple[str, bool]] = []  # (path, is a folder)
    if config_path:
        candidates.append((config_path, False))
    if config.server.token_file:
        candidates.append((config.server.token_file, False))
    if config.node.data_dir:
        candidates.append((config.node.data_dir, True))
    if runtime_dir:
        candidates.append((runtime_dir, True))
    if config.spool.path:
        candidates += [(config.spool.path + suffix, False) for suffix in SPOOL_FILE_SUFFIXES]
    folders = [_absolute(path) for path, folder in candidates if folder]
    listed: list[str] = []
    for path, _ in candidates:
        absolute = _absolute(path)
        inside = any(
            absolute != other and absolute.startswith(other.rstrip("/") + "/") for other in folders
        )
        if absolute not in listed and not inside:
            listed.append(absolute)
    return tuple(listed)


def _absolute(path: str) -> str:
    return os.path.normpath(os.path.abspath(os.path.expanduser(path)))
