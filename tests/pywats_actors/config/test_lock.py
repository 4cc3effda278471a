"""One node per instance: the flock'ed lock file, including after kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pywats_actors.config import ConfigError, InstanceLocked, acquire_instance_lock

_HOLDER = textwrap.dedent(
    """
    import sys, time
    from pywats_actors.config import acquire_instance_lock
    lock = acquire_instance_lock(sys.argv[1], sys.argv[2])
    print("locked", flush=True)
    time.sleep(120)
    """
)


@contextmanager
def _holder(instance: str, folder: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process that takes the lock and holds it until it is killed."""
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, instance, str(folder)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "locked"
        yield process
    finally:
        process.kill()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


class TestInstanceLock:
    def test_acquire_writes_pid(self, tmp_path: Path) -> None:
        """The lock file is <instance>.lock in the folder and holds our pid."""
        with acquire_instance_lock("line1", tmp_path / "data") as lock:
            states = [lock.held]
            assert lock.path == tmp_path / "data" / "line1.lock"
            assert lock.path.read_text() == f"{os.getpid()}\n"
        states.append(lock.held)
        assert states == [True, False]
        assert lock.path.exists()  # never deleted: see the module docstring

    def test_second_acquire_fails_naming_the_holder(self, tmp_path: Path) -> None:
        """A second acquire, even in the same process, fails with the holder's pid and path."""
        with acquire_instance_lock("line1", tmp_path), pytest.raises(InstanceLocked) as caught:
            acquire_instance_lock("line1", tmp_path)
        error = caught.value
        assert (error.instance, error.pid, error.path) == (
            "line1",
            os.getpid(),
            tmp_path / "line1.lock",
        )
        assert str(error) == (
            f"instance 'line1' is already running (pid {os.getpid()}; lock file "
            f"{tmp_path / 'line1.lock'}); stop that node first, or start this one with another "
            "--instance"
        )

    def test_release_allows_reacquire(self, tmp_path: Path) -> None:
        """After release, the instance can be claimed again; release is idempotent."""
        lock = acquire_instance_lock("a", tmp_path)
        lock.release()
        lock.release()
        acquire_instance_lock("a", tmp_path).release()

    def test_instances_are_independent(self, tmp_path: Path) -> None:
        """Two instances can run side by side."""
        with acquire_instance_lock("a", tmp_path), acquire_instance_lock("b", tmp_path):
            pass

    def test_held_by_another_process(self, tmp_path: Path) -> None:
        """A lock held by another process fails naming that process's pid."""
        with _holder("line1", tmp_path) as holder:
            with pytest.raises(InstanceLocked) as caught:
                acquire_instance_lock("line1", tmp_path)
            assert caught.value.pid == holder.pid
            assert f"pid {holder.pid}" in str(caught.value)

    def test_sigkilled_holder_does_not_block(self, tmp_path: Path) -> None:
        """After the holder is killed with SIGKILL, its leftover lock file does not block."""
        with _holder("line1", tmp_path) as holder:
            os.kill(holder.pid, signal.SIGKILL)
            holder.wait(timeout=30)
            assert holder.returncode == -signal.SIGKILL
            assert (tmp_path / "line1.lock").read_text() == f"{holder.pid}\n"
            with acquire_instance_lock("line1", tmp_path) as lock:
                assert lock.path.read_text() == f"{os.getpid()}\n"

    def test_not_inherited_by_children(self, tmp_path: Path) -> None:
        """A child of a killed holder (a converter worker, say) does not keep the lock."""
        script = _HOLDER.replace(
            'print("locked", flush=True)',
            "import subprocess\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'],"
            " close_fds=False)\n"
            'print(child.pid, flush=True)\nprint("locked", flush=True)',
        )
        holder = subprocess.Popen(
            [sys.executable, "-c", script, "line1", str(tmp_path)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout is not None
        grandchild = int(holder.stdout.readline())
        try:
            assert holder.stdout.readline().strip() == "locked"
            holder.kill()
            holder.wait(timeout=30)
            os.kill(grandchild, 0)  # still alive
            acquire_instance_lock("line1", tmp_path).release()
        finally:
            holder.kill()
            holder.wait(timeout=30)
            holder.stdout.close()
            os.kill(grandchild, signal.SIGKILL)

    def test_invalid_instance(self, tmp_path: Path) -> None:
        """An instance name that is not a plain file name is refused."""
        with pytest.raises(ConfigError, match="invalid instance name"):
            acquire_instance_lock("../etc/passwd", tmp_path)

    def test_unknown_pid(self, tmp_path: Path) -> None:
        """A lock file whose content is not a pid still gives a clear error."""
        with acquire_instance_lock("a", tmp_path) as lock:
            lock.path.write_text("garbage")
            with pytest.raises(InstanceLocked, match="pid unknown") as caught:
                acquire_instance_lock("a", tmp_path)
            assert caught.value.pid is None
