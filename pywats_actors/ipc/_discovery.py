"""Discovery files: how a client finds the running instances of this user on this station.

Each running node with IPC writes ``<instance>.ipc.json`` into the discovery folder
(``$XDG_RUNTIME_DIR/pywats-node``, else ``$XDG_STATE_HOME/pywats-node``) atomically at start
and removes it at an orderly stop. A file left by a process that is gone (``kill -9``) is
ignored by readers, who delete it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

import msgspec
import psutil

from ..config import write_config_atomically

__all__ = [
    "Discovered",
    "discovery_dir",
    "discovery_path",
    "list_instances",
    "remove_discovery",
    "write_discovery",
]

_SUFFIX = ".ipc.json"
_APP_DIR = "pywats-node"


class Discovered(msgspec.Struct, frozen=True, kw_only=True):
    """One running instance, as its discovery file says.

    Attributes:
        instance: the instance name.
        address: ``unix:PATH`` or ``tcp:HOST:PORT``.
        pid: the node's process id.
        version: the node's pywats-node version.
        started: when it started (seconds since the epoch).
        token_file: where its IPC token is (readable by this user only).
        health_url: its health endpoints (``http://127.0.0.1:PORT/``) when they listened as
            the IPC server started, else ``None``; the ``status`` method gives the current one.
    """

    instance: str
    address: str
    pid: int
    version: str
    started: float
    token_file: str
    health_url: str | None = None


def discovery_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_RUNTIME_DIR/pywats-node``, else ``$XDG_STATE_HOME/pywats-node`` (by default
    ``~/.local/state/pywats-node``)."""
    environ = os.environ if env is None else env
    for variable, fallback in (("XDG_RUNTIME_DIR", None), ("XDG_STATE_HOME", ".local/state")):
        value = environ.get(variable, "")
        if value and os.path.isabs(value):
            return Path(value) / _APP_DIR
        if fallback is not None:
            home = environ.get("HOME") or str(Path.home())
            return Path(home) / fallback / _APP_DIR
    raise AssertionError("unreachable")  # pragma: no cover


def discovery_path(instance: str, env: Mapping[str, str] | None = None) -> Path:
    """The discovery file of *instance*."""
    return discovery_dir(env) / f"{instance}{_SUFFIX}"


def write_discovery(entry: Discovered, env: Mapping[str, str] | None = None) -> Path:
    """Write *entry*'s file atomically (mode 0600); return its path."""
    path = discovery_path(entry.instance, env)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_config_atomically(path, msgspec.json.encode(entry).decode(), mode=0o600)
    return path


def remove_discovery(entry: Discovered, env: Mapping[str, str] | None = None) -> None:
    """Remove *entry*'s file if it is still this entry's (another node may have replaced it)."""
    path = discovery_path(entry.instance, env)
    with contextlib.suppress(OSError, msgspec.DecodeError):
        if msgspec.json.decode(path.read_bytes(), type=Discovered) == entry:
            path.unlink()


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        return psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def list_instances(env: Mapping[str, str] | None = None) -> list[Discovered]:
    """The running instances, by name; files of dead processes are deleted, unreadable ones
    skipped."""
    folder = discovery_dir(env)
    found: list[Discovered] = []
    try:
        paths = sorted(folder.glob(f"*{_SUFFIX}"))
    except OSError:
        return found
    for path in paths:
        try:
            entry = msgspec.json.decode(path.read_bytes(), type=Discovered)
        except (OSError, msgspec.DecodeError):
            continue
        if _alive(entry.pid):
            found.append(entry)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
    return found
