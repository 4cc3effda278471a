"""Fixtures for the converter tests: plug-in references, settings, and a check that no worker
process outlives its test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from converters import PoolSettings, probe_sandbox

PLUGINS = Path(__file__).resolve().parent / "plugins"
MISBEHAVING = PLUGINS / "misbehaving.py"
NAMESPACE = uuid.UUID("5f0c4a52-9d1e-4f55-8a8e-3b0d6c1e2f00")
LANDLOCKED = probe_sandbox().landlocked


def plugin(cls: str) -> str:
    """The file-route reference of a test converter in ``plugins/misbehaving.py``."""
    return f"{MISBEHAVING}:{cls}"


def settings(**overrides: object) -> PoolSettings:
    """Pool settings for tests: one worker, short timeouts, fast restarts."""
    values: dict[str, object] = {
        "workers": 1,
        "timeout": 5.0,
        "backoff_min": 0.02,
        "backoff_max": 0.2,
        "restart_intensity": 50,
        "start_timeout": 20.0,
        "stop_grace": 2.0,
    }
    values.update(overrides)
    return PoolSettings(**values)  # type: ignore[arg-type]


def worker_processes() -> list[psutil.Process]:
    """Live (non-zombie) worker processes, and their forks, below this test process.

    Only our own descendants: other test runs on the machine have workers of their own.
    """
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if "converters._worker" in process.cmdline() and process.status() != "zombie":
                found.append(process)
        except psutil.Error:
            continue  # it exited meanwhile
    return found


@pytest.fixture(autouse=True)
def no_worker_left_behind() -> Iterator[None]:
    """Every test must end with no worker process (or worker fork) of ours still running."""
    yield
    left = worker_processes()
    for process in left:
        process.kill()
    assert not left, f"worker processes left running: {[p.pid for p in left]}"


def gone(pid: int) -> bool:
    """The process has exited (a zombie counts as exited)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
