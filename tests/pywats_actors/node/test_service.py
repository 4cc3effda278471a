"""``pywats-node run``, ``demo`` and friends as real subprocesses: signals, exit codes, kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio

from pywats_actors.emulator import Faults, open_emulator

from .test_node import TOKEN, report_file, write_config

NODE = [sys.executable, "-m", "pywats_actors._cli"]


def start_node(config: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*NODE, "run", "--config", str(config), "--log-format", "json", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


async def wait_for_line(proc: subprocess.Popen[bytes], text: str, within: float = 30) -> None:
    assert proc.stdout is not None
    stream = proc.stdout
    with trio.fail_after(within):
        while True:
            line = await trio.to_thread.run_sync(stream.readline)
            if not line:
                raise AssertionError(f"node exited ({proc.wait()}) before saying {text!r}")
            if text.encode() in line:
                return


async def wait_exit(proc: subprocess.Popen[bytes], within: float = 30) -> int:
    with trio.fail_after(within):
        while proc.poll() is None:
            await trio.sleep(0.02)
    return proc.returncode


def kill(proc: subprocess.Popen[bytes]) -> None:
    """Make sure the process is gone and its pipe closed (tests call it in ``finally``)."""
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()


class TestRun:
    async def test_idle_node_stops_within_a_second_on_sigterm(self, tmp_path: Path) -> None:
        """SIGTERM makes an idle node exit 0 in well under a second."""
        async with open_emulator(token=TOKEN) as emu:
            proc = start_node(write_config(tmp_path, emu.url))
            try:
                await wait_for_line(proc, "node ready")
                sent = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                assert await wait_exit(proc) == 0
                assert time.monotonic() - sent < 1.0
            finally:
                kill(proc)

    async def test_second_instance_is_refused_naming_the_pid(self, tmp_path: Path) -> None:
        """A second node on the same instance exits 4 and names the running pid."""
        async with open_emulator(token=TOKEN) as emu:
            config = write_config(tmp_path, emu.url)
            first = start_node(config)
            try:
                await wait_for_line(first, "node ready")
                second = await trio.to_thread.run_sync(
                    lambda: subprocess.run(
                        [*NODE, "run", "--config", str(config)], capture_output=True, timeout=60
                    )
                )
                assert second.returncode == 4
                assert str(first.pid).encode() in second.stderr
            finally:
                first.send_signal(signal.SIGTERM)
                await wait_exit(first)
                kill(first)

    def test_invalid_config_exits_2_with_the_path(self, tmp_path: Path) -> None:
        """A bad value is reported with its exact path and the node exits 2."""
        config = write_config(tmp_path, "http://127.0.0.1:9", extra="")
        config.write_text(config.read_text().replace("workers = 2", "workers = 0"))
        result = subprocess.run(
            [*NODE, "run", "--config", str(config)], capture_output=True, timeout=60
        )
        assert result.returncode == 2
        assert b"$.conversion.workers" in result.stderr

    def test_missing_config_exits_3(self, tmp_path: Path) -> None:
        """A configuration file that does not exist gives exit code 3 and says how to make one."""
        result = subprocess.run(
            [*NODE, "run", "--config", str(tmp_path / "nope.toml")],
            capture_output=True,
            timeout=60,
        )
        assert result.returncode == 3
        assert b"config init" in result.stderr

    async def test_kill_9_mid_run_loses_nothing_and_duplicates_nothing(
        self, tmp_path: Path
    ) -> None:
        """After kill -9 at a random moment, the next start finishes the job: every report
        arrives, every file ends in done/, and counting every delivery the server saw, only
        reports the killed node had already delivered (and not recorded) are delivered again."""
        async with open_emulator(token=TOKEN, faults=Faults(latency=0.02)) as emu:
            config = write_config(tmp_path, emu.url)
            ids = [report_file(tmp_path / "in", n) for n in range(40)]
            proc = start_node(config)
            try:
                await wait_for_line(proc, "node ready")
                with trio.fail_after(30):
                    while emu.stats().accepted < 5:
                        await trio.sleep(0.01)
                os.kill(proc.pid, signal.SIGKILL)
                await wait_exit(proc)
            finally:
                kill(proc)
            await trio.sleep(0.5)  # uploads in flight at the kill finish inside the emulator
            at_kill = emu.stats()
            assert at_kill.accepted < 40, "the kill came too late to test anything"
            assert at_kill.duplicates == 0
            proc = start_node(config)
            try:
                with trio.fail_after(60):
                    while len(set(emu.stats().ids)) < 40:
                        await trio.sleep(0.05)
                proc.send_signal(signal.SIGTERM)
                assert await wait_exit(proc) == 0
            finally:
                kill(proc)
            stats = emu.stats()
        assert sorted(stats.ids) == sorted(ids)
        # Every delivery counts, not just distinct ids: each id beyond its first delivery is a
        # repeat, and only ids the server had before the kill may come again.
        resends = stats.accepted - len(ids)
        assert stats.duplicates == resends
        assert 0 <= resends <= len(at_kill.ids)
        done = sorted(p.name for p in (tmp_path / "in" / "done").glob("*.json"))
        assert done == sorted(f"r{n}.json" for n in range(40))


class TestDemo:
    def test_demo_runs_and_everything_arrives(self) -> None:
        """`pywats-node demo` (the README's first command) exits 0 with a full summary."""
        result = subprocess.run(
            [*NODE, "demo", "--csv-files", "10"], capture_output=True, text=True, timeout=180
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "demo: OK, every report arrived exactly once" in result.stdout
        assert "reports uploaded            13" in result.stdout
        assert "files failed (to error/)    1" in result.stdout


class TestQueueAndConvert:
    async def test_queue_ls_and_show_while_the_node_runs(self, tmp_path: Path) -> None:
        """The queue can be listed and read while the node owns the spool."""
        async with open_emulator(token=TOKEN, faults=Faults(down=True)) as emu:
            config = write_config(tmp_path, emu.url)
            rid = report_file(tmp_path / "in", 1)
            proc = start_node(config)
            try:
                await wait_for_line(proc, "file converted")
                ls = await trio.to_thread.run_sync(
                    lambda: subprocess.run(
                        [*NODE, "queue", "ls", "--config", str(config), "--json"],
                        capture_output=True,
                        timeout=60,
                    )
                )
                assert ls.returncode == 0, ls.stderr
                listing = json.loads(ls.stdout)
                assert listing["statistics"]["pending"] == 1
                assert listing["reports"][0]["report_id"] == rid
                show = await trio.to_thread.run_sync(
                    lambda: subprocess.run(
                        [*NODE, "queue", "show", rid, "--config", str(config), "--body"],
                        capture_output=True,
                        timeout=60,
                    )
                )
                assert json.loads(show.stdout)["id"] == rid
                busy = await trio.to_thread.run_sync(
                    lambda: subprocess.run(
                        [*NODE, "queue", "retry", rid, "--config", str(config)],
                        capture_output=True,
                        timeout=60,
                    )
                )
                assert busy.returncode == 1
                assert b"node is running" in busy.stderr
            finally:
                proc.send_signal(signal.SIGTERM)
                await wait_exit(proc)
                kill(proc)

    def test_convert_prints_wsjf_or_the_reason(self, tmp_path: Path) -> None:
        """A dry-run conversion prints the WSJF of a good file and the reason for a bad one."""
        rid = report_file(tmp_path, 3)
        good = subprocess.run(
            [*NODE, "convert", str(tmp_path / "r3.json")], capture_output=True, timeout=120
        )
        assert good.returncode == 0, good.stderr
        assert json.loads(good.stdout)["id"] == rid
        (tmp_path / "bad.json").write_bytes(b"{not json")
        bad = subprocess.run(
            [*NODE, "convert", str(tmp_path / "bad.json")], capture_output=True, timeout=120
        )
        assert bad.returncode == 2
        assert b"rejected" in bad.stderr


@pytest.fixture(autouse=True)
def _no_inherited_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Subprocesses never see the developer's own XDG folders."""
    for var in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
