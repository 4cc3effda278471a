"""A worker lives exactly as long as the node that started it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
import trio

from converters import Converted, open_converter_pool

from .conftest import NAMESPACE, plugin, settings

CHAOS = plugin("Chaos")
_REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux processes")


async def test_a_worker_outlives_the_thread_that_started_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """trio starts processes from its worker threads, which end after a quiet spell (10 s; here
    1 s, still after the worker has set itself up). The worker must not die with that thread:
    after it ended, files still convert on the same process, with no restart."""
    monkeypatch.setattr("trio._core._thread_cache.IDLE_TIMEOUT", 1.0)
    async with open_converter_pool(
        settings(workers=1), converters=[CHAOS], station_namespace=NAMESPACE
    ) as pool:
        (slot,) = pool.statistics().slots
        await trio.sleep(2.5)  # the spawning thread has retired by now
        with trio.fail_after(10):
            result = await pool.convert(b"fine", "a.txt", "chaos")
        stats = pool.statistics()
    assert isinstance(result, Converted)
    assert stats.worker_restarts == 0
    assert stats.slots[0].pid == slot.pid


def test_a_worker_ends_when_its_parent_dies() -> None:
    """A parent killed without a chance to clean up (``os._exit``): its worker notices and
    ends, with its process group, within seconds."""
    script = textwrap.dedent(
        f"""
        import os, sys, trio, uuid
        sys.path.insert(0, {str(_REPO)!r})
        from converters import open_converter_pool
        from tests.converters.conftest import plugin, settings

        async def main():
            async with open_converter_pool(
                settings(workers=1), converters=[plugin("Chaos")], station_namespace=uuid.uuid4()
            ) as pool:
                print(pool.statistics().slots[0].pid, flush=True)
                os._exit(0)

        trio.run(main)
        """
    )
    parent = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    pid = int(parent.stdout.split()[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return  # dead, waiting for init to reap it
        except psutil.NoSuchProcess:
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    pytest.fail(f"worker {pid} outlived its parent by 10 s")
