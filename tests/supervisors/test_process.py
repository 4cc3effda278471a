"""OS-process children: exit codes as exit reasons, SIGTERM then SIGKILL of the group, reaping.

These run real processes on the real clock, with a timeout on every wait.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import trio

from supervisors import (
    ExitKind,
    ProcessExited,
    Restart,
    Timeout,
    open_supervisor,
    process_spec,
)
from supervisors.testing import EventRecorder

PY = sys.executable

# Starts a grandchild that ignores SIGTERM, writes both pids, then ignores SIGTERM itself.
STUBBORN = r"""
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
grandchild = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
with open(sys.argv[1], "w") as f:
    f.write(f"{os.getpid()} {grandchild.pid}")
time.sleep(600)
"""

POLITE = r"""
import signal, sys, time
def bye(*_):
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
open(sys.argv[1], "w").write("ready")
time.sleep(600)
"""


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def wait_for_file(path: Path) -> str:
    with trio.fail_after(10):
        while not path.exists() or not path.read_text():
            await trio.sleep(0.01)
    return path.read_text()


class TestProcessChild:
    async def test_exit_code_becomes_the_exit_reason(self) -> None:
        """A process exiting with code 3 is a crash whose reason carries the code."""
        rec = EventRecorder()
        spec = process_spec("p", [PY, "-c", "raise SystemExit(3)"], restart=Restart.TEMPORARY)
        with trio.fail_after(10):
            async with open_supervisor([spec], observers=[rec]):
                while not rec.exits("p"):
                    await trio.sleep(0.01)
        reason = rec.exits("p")[0].reason
        assert reason.kind is ExitKind.CRASHED
        assert reason.returncode == 3
        assert isinstance(reason.exception, ProcessExited)
        assert "exited with code 3" in reason.description

    async def test_signal_death_is_reported_by_name(self) -> None:
        """A process killed by a signal it did not get from us is a crash naming the signal."""
        rec = EventRecorder()
        code = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
        spec = process_spec("p", [PY, "-c", code], restart=Restart.TEMPORARY)
        with trio.fail_after(10):
            async with open_supervisor([spec], observers=[rec]):
                while not rec.exits("p"):
                    await trio.sleep(0.01)
        reason = rec.exits("p")[0].reason
        assert reason.returncode == -signal.SIGSEGV
        assert "SIGSEGV" in reason.description

    async def test_polite_process_stops_on_sigterm(self, tmp_path: Path) -> None:
        """Phase one sends SIGTERM; a process that exits on it stops with a shutdown reason."""
        rec = EventRecorder()
        ready = tmp_path / "ready"
        spec = process_spec("p", [PY, "-c", POLITE, str(ready)], shutdown=Timeout(10))
        with trio.fail_after(10):
            async with open_supervisor([spec], observers=[rec]):
                await wait_for_file(ready)
        assert rec.exits("p")[0].reason.kind is ExitKind.SHUTDOWN

    async def test_process_ignoring_sigterm_is_killed_with_its_children(
        self, tmp_path: Path
    ) -> None:
        """After the grace period the whole group gets SIGKILL and the child is reaped."""
        rec = EventRecorder()
        pids_file = tmp_path / "pids"
        spec = process_spec("p", [PY, "-c", STUBBORN, str(pids_file)], shutdown=Timeout(0.5))
        with trio.fail_after(15):
            async with open_supervisor([spec], observers=[rec]):
                child_pid, grandchild_pid = map(int, (await wait_for_file(pids_file)).split())
                assert not gone(grandchild_pid)
            with trio.fail_after(5):
                while not gone(grandchild_pid):
                    await trio.sleep(0.01)
        reason = rec.exits("p")[0].reason
        assert reason.kind is ExitKind.KILLED
        with pytest.raises(ChildProcessError):
            os.waitpid(child_pid, os.WNOHANG)  # already reaped: no zombie of ours is left
        assert gone(child_pid)

    async def test_crashing_process_is_restarted(self, tmp_path: Path) -> None:
        """A permanent process child that dies is started again (a new pid)."""
        rec = EventRecorder()
        counter = tmp_path / "count"
        code = (
            "import sys, pathlib; p = pathlib.Path(sys.argv[1]);"
            "n = int(p.read_text() or 0) if p.exists() else 0; p.write_text(str(n + 1));"
            "raise SystemExit(0 if n >= 2 else 1)"
        )
        spec = process_spec("p", [PY, "-c", code, str(counter)], restart=Restart.TRANSIENT)
        with trio.fail_after(15):
            async with open_supervisor([spec], observers=[rec], intensity=5):
                while len(rec.exits("p")) < 3:
                    await trio.sleep(0.01)
        kinds = [e.reason.kind for e in rec.exits("p")]
        assert kinds[:3] == [ExitKind.CRASHED, ExitKind.CRASHED, ExitKind.NORMAL]
        assert counter.read_text() == "3"

    async def test_stdout_pipe_is_readable(self) -> None:
        """The started value is the trio.Process, whose pipes the caller can use while it runs."""
        from supervisors import DynamicSupervisor

        sup = DynamicSupervisor()
        code = "import time; print('hello from the child', flush=True); time.sleep(60)"
        spec = process_spec("echo", [PY, "-c", code], stdout=subprocess.PIPE, shutdown=Timeout(5))
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                await nursery.start(sup.run)
                process = await sup.start_child(spec)
                assert isinstance(process, trio.Process)
                assert process.stdout is not None
                data = b""
                while not data.endswith(b"\n"):
                    data += await process.stdout.receive_some()
                await sup.stop()
        assert data.strip() == b"hello from the child"
        assert process.returncode == -signal.SIGTERM
