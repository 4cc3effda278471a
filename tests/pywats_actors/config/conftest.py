"""Fixtures for the configuration tests: an isolated XDG environment and config files."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

NAMESPACE = "6f1c3a52-0b7e-4c21-9d3e-5a8f2b1c4d70"


def config_text(body: str = "", *, node: str = "", version: int = 2) -> str:
    """A valid configuration with *node* lines added to ``[node]`` and *body* appended."""
    return (
        f'schema_version = {version}\n[node]\nstation_namespace = "{NAMESPACE}"\n{node}\n{body}\n'
    )


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    """Write *text* to *path* with *mode* (0600 unless told), creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)
    return path


@pytest.fixture(autouse=True)
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Path]]:
    """HOME and the XDG folders point into the test's own folders, never the real home.

    The runtime folder is short (under /tmp) so that Unix socket paths stay below the 107-byte
    limit whatever the test's name.
    """
    runtime = Path(tempfile.mkdtemp(prefix="pwn-", dir="/tmp"))
    folders = {
        "HOME": tmp_path / "home",
        "XDG_CONFIG_HOME": tmp_path / "config",
        "XDG_STATE_HOME": tmp_path / "state",
        "XDG_RUNTIME_DIR": runtime,
    }
    for name, folder in folders.items():
        folder.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(name, str(folder))
    try:
        yield folders
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """Where a test's configuration file goes (not written yet)."""
    return tmp_path / "etc" / "node.toml"
