"""``pywats-node config init`` and ``pywats-node config validate``.

Both print what they did and return the process exit code (:class:`ConfigExit`), so the CLI
only parses arguments and calls them.
"""

from __future__ import annotations

import enum
import os
import re
import sys
from pathlib import Path
from typing import TextIO

from ._atomic import write_config_atomically
from ._errors import (
    ConfigError,
    ConfigExists,
    ConfigInvalid,
    ConfigNotFound,
    ConfigSyntaxError,
    ConfigWriteError,
)
from ._load import LoadedConfig, load_config
from ._paths import DEFAULT_INSTANCE
from ._schema import _NAME_PATTERN, NodeConfig
from ._template import render_default_config

__all__ = [
    "ConfigExit",
    "init_config_command",
    "summarize",
    "validate_config_command",
    "write_default_config",
]


class ConfigExit(enum.IntEnum):
    """Exit codes of the ``config`` commands."""

    OK = 0
    """Done: the file was written, or it is valid."""
    FAILED = 1
    """The file could not be read or written (permissions, disk full...)."""
    INVALID = 2
    """The file is not a valid configuration; every problem was printed."""
    NOT_FOUND = 3
    """There is no file at the path given."""
    EXISTS = 4
    """``init`` found a file and was not given ``--force``."""


def write_default_config(path: str | os.PathLike[str], *, force: bool = False) -> str:
    """Write the commented default configuration to *path*; returns its instance name.

    The file lists every key with its default and a one-line comment, has a fresh station
    namespace UUID, and is written atomically with mode 0600; its folder is created (0700).
    The instance name is the file's name without ``.toml`` when that is a valid instance
    name, else ``default``.

    Raises:
        ConfigExists: there is a file at *path* and *force* is false.
        ConfigWriteError: the folder or the file cannot be written.
    """
    target = Path(os.path.abspath(Path(path).expanduser()))
    if os.path.lexists(target) and not force:
        raise ConfigExists(target)
    instance = target.stem if re.match(_NAME_PATTERN, target.stem) else DEFAULT_INSTANCE
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigWriteError(
            f"cannot create the folder {target.parent}: {exc.strerror}", path=target
        ) from exc
    write_config_atomically(target, render_default_config(instance), mode=0o600)
    return instance


def init_config_command(
    path: str | os.PathLike[str],
    force: bool = False,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """``pywats-node config init``: write a commented default configuration to *path*.

    See :func:`write_default_config`.

    Args:
        path: where to write it.
        force: overwrite an existing file.
        out: where the result is printed (standard output).
        err: where errors are printed (standard error).

    Returns:
        :attr:`ConfigExit.OK`, :attr:`ConfigExit.EXISTS` or :attr:`ConfigExit.FAILED`.
    """
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        instance = write_default_config(path, force=force)
    except ConfigExists as exc:
        print(f"error: {exc}", file=err)
        return ConfigExit.EXISTS
    except ConfigError as exc:
        print(f"error: {exc}", file=err)
        return ConfigExit.FAILED
    target = os.path.abspath(Path(path).expanduser())
    print(f"wrote {target} (instance {instance!r}, mode 0600)", file=out)
    print(
        "next: set [server] base_url and token_file, add [[watch]] folders, then run\n"
        f"  pywats-node config validate {target}",
        file=out,
    )
    return ConfigExit.OK


def validate_config_command(
    path: str | os.PathLike[str],
    *,
    instance: str | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Check the configuration file at *path* and print the verdict.

    Prints ``OK`` and a summary of what the node will do, or every problem, one per line,
    each with its path (``$.upload.concurrency: expected an integer >= 1 and <= 16, got 0``).

    Args:
        path: the file.
        instance: the instance it should be (``--instance``), if any.
        out: where the verdict is printed (standard output).
        err: where problems are printed (standard error).

    Returns:
        :attr:`ConfigExit.OK`, :attr:`ConfigExit.INVALID`, :attr:`ConfigExit.NOT_FOUND` or
        :attr:`ConfigExit.FAILED`.
    """
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        loaded = load_config(path, instance=instance)
    except ConfigNotFound as exc:
        print(f"error: {exc}", file=err)
        return ConfigExit.NOT_FOUND
    except ConfigSyntaxError as exc:
        print(f"INVALID: {exc.path}", file=err)
        for problem in exc.problems:
            print(f"{exc.path}:{problem.line}:{problem.column}: {problem.message}", file=err)
        return ConfigExit.INVALID
    except ConfigInvalid as exc:
        count = len(exc.problems)
        print(f"INVALID: {exc.path} ({count} problem{'s' * (count > 1)})", file=err)
        for problem in exc.problems:
            print(f"  {problem}", file=err)
        return ConfigExit.INVALID
    except ConfigError as exc:
        print(f"error: {exc}", file=err)
        return ConfigExit.FAILED
    print(summarize(loaded), file=out)
    return ConfigExit.OK


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _bytes(value: int) -> str:
    if not value:
        return "no size limit"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= size:
            return f"at most {value / size:g} {unit}"
    return f"at most {value} bytes"


def _ipc(loaded: LoadedConfig) -> str:
    ipc = loaded.config.ipc
    if not ipc.enabled:
        return "off"
    if ipc.transport == "tcp":
        where = f"tcp:127.0.0.1:{ipc.tcp_port or '(a free port)'}"
    else:
        where = f"unix:{ipc.socket_path or os.path.join(loaded.runtime_dir, 'ipc.sock')}"
    return (
        f"{where}, at most {ipc.max_connections} connections, "
        f"{ipc.rate_per_second:g} requests/s per connection"
    )


def summarize(loaded: LoadedConfig) -> str:
    """The ``OK`` summary of a valid configuration, as ``config validate`` prints it."""
    c = loaded.config
    station = c.node.station_name or "(host name)"
    if c.server.base_url:
        source = "inline token" if c.server.token else f"token from {c.server.token_file}"
        server = f"{c.server.base_url} ({source})"
    else:
        server = "none: reports are kept in the spool, not uploaded"
    up = c.upload
    upload = (
        f"{up.concurrency} at a time at first, adapting up to {up.max_concurrency}, "
        f"backoff up to {_seconds(up.backoff_cap)}, breaker opens "
        f"after {up.breaker_threshold} failures"
    )
    spool = (
        f"{c.spool.path} ({_bytes(c.spool.max_bytes)}, "
        f"{c.spool.max_reports or 'any number of'} reports, when full: {c.spool.when_full})"
    )
    lines = [
        f"OK: {loaded.path} (schema version {loaded.source_version})",
        f"  instance    {c.node.instance}, station {station}, namespace {c.node.station_namespace}",
        f"  data        {c.node.data_dir}",
        f"  server      {server}",
        f"  upload      {upload}",
        f"  spool       {spool}",
        f"  conversion  {c.conversion.workers} workers, {_seconds(c.conversion.timeout)} "
        f"per file, {c.conversion.memory_mb} MiB, landlock {c.conversion.landlock}, "
        f"namespaces {c.conversion.namespaces}, seccomp {c.conversion.seccomp}, "
        f"temp {c.conversion.temp_mb} MiB",
    ]
    lines.append(f"  ipc         {_ipc(loaded)}")
    if not c.watch:
        lines.append("  watch       no folders (reports only arrive from the API)")
    for watch in c.watch:
        after = f"-> {watch.done_folder}/" if watch.after_success == "move" else watch.after_success
        lines.append(
            f"  watch       {watch.id}: {watch.path} {' '.join(watch.include)} "
            f"(converter {watch.converter}, {after})"
        )
    lines.append(f"  health      {_health(c)}")
    lines += [f"note: {note}" for note in loaded.notes]
    return "\n".join(lines)


def _health(c: NodeConfig) -> str:
    if not c.health.enabled:
        return "off"
    host = f"[{c.health.host}]" if ":" in c.health.host else c.health.host
    if not c.health.port:
        return f"http://{host}:<a free port, logged at start>/"
    return f"http://{host}:{c.health.port}/"
