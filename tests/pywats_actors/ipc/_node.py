"""A real node with IPC in a temporary folder, for the IPC tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from pywats_actors.config import load_config
from pywats_actors.ipc import Discovered, discovery_path, read_ipc_token
from pywats_actors.node import Node, open_node

NAMESPACE = str(uuid.UUID(int=11))

LIMITS = """
max_connections = 4
max_message_kb = 64
rate_per_second = 50
burst = 20
read_timeout = 0.5
idle_timeout = 5
request_timeout = 5
"""


def write_config(folder: Path, instance: str = "line1", ipc: str = LIMITS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{instance}.toml"
    path.write_text(
        f"""schema_version = 2

[node]
instance = "{instance}"
station_namespace = "{NAMESPACE}"
data_dir = "{folder / "data"}"
log_format = "json"

[conversion]
workers = 1

[ipc]
{ipc}
"""
    )
    path.chmod(0o600)
    return path


@asynccontextmanager
async def running_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: str = "line1", ipc: str = LIMITS
) -> AsyncIterator[tuple[Node, Discovered, str]]:
    """A node with IPC; its discovery entry and token."""
    import msgspec

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg-runtime"))
    loaded = load_config(write_config(tmp_path / instance, instance, ipc))
    async with open_node(loaded, stop_grace=5) as node:
        entry = msgspec.json.decode(discovery_path(instance).read_bytes(), type=Discovered)
        yield node, entry, read_ipc_token(entry.token_file)
