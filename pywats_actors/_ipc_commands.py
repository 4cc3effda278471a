"""``pywats-node discover``, ``status`` and ``token``: the commands that talk to a running node.

Each returns the process exit code (docs/operators.md): 0 done, 1 the node answered with an
error or the connection broke, 2 invalid input, 3 no running node for the instance (or no
configuration file, or no token yet). No traceback for a user's mistake: one line that starts
with ``pywats-node:``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import msgspec

from ._commands import EXIT_ERROR, EXIT_NOT_FOUND, EXIT_OK, load_for_command
from .ipc import (
    TOKEN_FILE_NAME,
    IpcCallError,
    IpcConnectionError,
    call_ipc,
    list_instances,
    read_ipc_token,
    rotate_token,
)

__all__ = ["discover_command", "status_command", "token_command"]


def discover_command(*, as_json: bool = False, out: TextIO | None = None) -> int:
    """List the running instances of this user on this station."""
    out = out or sys.stdout
    found = list_instances()
    if as_json:
        print(msgspec.json.encode([msgspec.to_builtins(e) for e in found]).decode(), file=out)
        return EXIT_OK
    if not found:
        print("no running pywats-node instance", file=out)
    for entry in found:
        up = _duration(time.time() - entry.started)
        print(
            f"{entry.instance}  pid {entry.pid}  version {entry.version}  up {up}  {entry.address}",
            file=out,
        )
    return EXIT_OK


def status_command(
    instance: str | None,
    *,
    as_json: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Ask the running node of *instance* (``default``) for its status and print it."""
    out, err = out or sys.stdout, err or sys.stderr
    name = instance or "default"
    try:
        status = call_ipc("status", instance=name, timeout=10)
    except IpcConnectionError as exc:
        print(f"pywats-node: {exc}", file=err)
        return EXIT_NOT_FOUND
    except IpcCallError as exc:
        print(f"pywats-node: the node answered: {exc}", file=err)
        return EXIT_ERROR
    if as_json:
        print(json.dumps(status, indent=2), file=out)
        return EXIT_OK
    for line in status_lines(status):
        print(line, file=out)
    return EXIT_OK


def status_lines(status: dict[str, Any]) -> list[str]:
    """The ``status`` result for people."""
    node = status["node"]
    lines = [
        f"instance {node['instance']}  pid {node['pid']}  version {node['version']}  "
        f"up {_duration(node['uptime'])}"
    ]
    server = status.get("server") or {}
    lines.append(f"server: {server.get('state') or '-'}  {server.get('url') or '(none)'}")
    spool = status.get("spool")
    if spool:
        lines.append(
            f"spool: {spool['pending']} pending, {spool['sent']} sent, {spool['rejected']} rejected"
        )
    lines.append(f"sandbox: {status.get('sandbox') or '-'}")
    lines.append("tree:")
    lines += _tree_lines(status["tree"], 1)
    return lines


def _tree_lines(tree: dict[str, Any], depth: int) -> list[str]:
    lines = []
    for child in tree["children"]:
        state = child["state"] + (f" ({child['degraded']})" if child.get("degraded") else "")
        restarts = f"  restarts {child['restarts']}" if child["restarts"] else ""
        lines.append(f"{'  ' * depth}{child['id']:<{max(1, 28 - 2 * depth)}} {state}{restarts}")
        for inner in child["supervisors"]:
            lines += _tree_lines(inner, depth + 1)
    return lines


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s"


def token_command(
    action: str,
    config: str | None,
    instance: str | None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """``show`` the instance's IPC token, or ``rotate`` it (a running node uses the new one
    from the next connection on; open connections stay)."""
    out, err = out or sys.stdout, err or sys.stderr
    loaded = load_for_command(config, instance, err)
    if isinstance(loaded, int):
        return loaded
    path = Path(loaded.config.node.data_dir) / TOKEN_FILE_NAME
    if action == "rotate":
        try:
            rotate_token(path)
        except OSError as exc:
            print(f"pywats-node: cannot write {path}: {exc}", file=err)
            return EXIT_ERROR
        print(f"wrote a new token to {path}", file=out)
        return EXIT_OK
    try:
        print(read_ipc_token(path), file=out)
    except FileNotFoundError:
        print(f"pywats-node: no IPC token yet at {path} (the node has not run)", file=err)
        return EXIT_NOT_FOUND
    except (OSError, ValueError) as exc:
        print(f"pywats-node: cannot read {path}: {exc}", file=err)
        return EXIT_ERROR
    return EXIT_OK
