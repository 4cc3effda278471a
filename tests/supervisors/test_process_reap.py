"""Reaping a killed OS process has a bound: the end of ``open_supervised_process`` waits at most
``reap_timeout`` for the process to be reaped, then leaves it to a background task.

A process that SIGKILL cannot end (stuck in uninterruptible I/O) cannot be made on demand, so
the stuck case is simulated by replacing the module's documented seam, ``_wait_for_exit``, with
a wait that never returns; the process itself is real and really killed.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

import psutil
import pytest
import trio

from supervisors import _process, open_supervised_process

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def reaped(pid: int) -> bool:
    """The process is gone entirely: not running, and not a zombie waiting to be reaped."""
    try:
        psutil.Process(pid)
    except psutil.NoSuchProcess:
        return True
    return False


class TestReapBound:
    async def test_a_killed_process_is_reaped_when_the_block_ends(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Real case: the process is killed and reaped before the block is left, with no
        warning."""
        caplog.set_level(logging.INFO, logger="supervisors.process")
        with trio.fail_after(10):
            async with open_supervised_process(SLEEPER, reap_timeout=5) as process:
                pass
        assert process.returncode == -signal.SIGKILL
        with pytest.raises(ChildProcessError):
            os.waitpid(process.pid, os.WNOHANG)
        assert not [r for r in caplog.records if r.name == "supervisors.process"]

    async def test_a_wait_that_never_ends_is_cut_at_the_bound_simulated(
        self, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Simulated stuck process (the wait never returns): the block ends after
        reap_timeout with one warning, and a background task reaps the process later."""

        async def never(process: trio.Process) -> None:
            await trio.sleep_forever()

        monkeypatch.setattr(_process, "_wait_for_exit", never)
        caplog.set_level(logging.INFO, logger="supervisors.process")
        with trio.fail_after(10):
            async with open_supervised_process(SLEEPER, reap_timeout=0.2) as process:
                pid = process.pid
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 1
            assert f"process {pid} has not exited 0.2 s after SIGKILL" in warnings[0].getMessage()
            while not reaped(pid):  # nobody else waits for it: the background task reaps it
                await trio.sleep(0.01)
        assert any("reaped at last" in r.getMessage() for r in caplog.records)
