"""The upload process as the node's child, seen from outside: it never outlives the node and
never writes anything but JSON lines into the node's log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import trio

from pywats_actors.emulator import Faults, open_emulator

from .test_node import TOKEN, report_file, write_config

NODE = [sys.executable, "-m", "pywats_actors._cli"]


def start_node(config: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """``pywats-node run`` with JSON logs; its standard output and error go to *log_path*."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [*NODE, "run", "--config", str(config), "--log-format", "json"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def upload_processes(node: psutil.Process) -> list[psutil.Process]:
    found = []
    for child in node.children(recursive=True):
        try:
            if "pywats_actors.client._sender" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


class TestOrphanedUploadProcess:
    @pytest.mark.parametrize(
        ("latency", "files", "seen"),
        [(0.5, 30, 3), (0.005, 300, 40)],
        ids=["uploads-in-flight", "answers-streaming"],
    )
    async def test_kill_9_of_the_node_ends_the_upload_process_quietly(
        self, tmp_path: Path, latency: float, files: int, seen: int
    ) -> None:
        """After kill -9 of the node mid-upload (slow answers in flight, or fast answers
        streaming back), the upload process exits by itself and every line of the node's log
        (its stdout and stderr, shared with the upload process) is JSON."""
        log_path = tmp_path / "node.log"
        async with open_emulator(token=TOKEN, faults=Faults(latency=latency)) as emu:
            config = write_config(tmp_path, emu.url, upload="concurrency = 8")
            for n in range(files):
                report_file(tmp_path / "in", n)
            proc = start_node(config, log_path)
            senders: list[psutil.Process] = []
            try:
                node = psutil.Process(proc.pid)
                with trio.fail_after(30):
                    while emu.stats().requests < seen or not senders:
                        senders = upload_processes(node)
                        await trio.sleep(0.02)
                os.kill(proc.pid, signal.SIGKILL)
                with trio.fail_after(10):
                    while proc.poll() is None:
                        await trio.sleep(0.02)
                with trio.fail_after(15):
                    while any(
                        s.is_running() and s.status() != psutil.STATUS_ZOMBIE for s in senders
                    ):
                        await trio.sleep(0.05)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=10)
                for sender in senders:
                    if sender.is_running():
                        sender.kill()
            assert emu.stats().accepted < files, "the kill came too late to test anything"
        lines = log_path.read_text().splitlines()
        assert lines
        for line in lines:
            try:
                json.loads(line)
            except ValueError:
                raise AssertionError(f"not a JSON line in the node's log: {line!r}") from None


class TestOrderlyStop:
    async def test_sigterm_ends_the_upload_process_without_an_alarm(self, tmp_path: Path) -> None:
        """SIGTERM after uploads: the node exits 0, the upload process is gone with it, and the
        uplink logs nothing at warning or above (its input is closed and it exits 0)."""
        log_path = tmp_path / "node.log"
        async with open_emulator(token=TOKEN) as emu:
            config = write_config(tmp_path, emu.url)
            for n in range(10):
                report_file(tmp_path / "in", n)
            proc = start_node(config, log_path)
            senders: list[psutil.Process] = []
            try:
                node = psutil.Process(proc.pid)
                with trio.fail_after(30):
                    while emu.stats().accepted < 10 or not senders:
                        senders = upload_processes(node)
                        await trio.sleep(0.02)
                proc.send_signal(signal.SIGTERM)
                with trio.fail_after(30):
                    while proc.poll() is None:
                        await trio.sleep(0.02)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=10)
        assert proc.returncode == 0
        assert not any(s.is_running() and s.status() != psutil.STATUS_ZOMBIE for s in senders)
        records = [json.loads(line) for line in log_path.read_text().splitlines()]
        alarms = [
            r
            for r in records
            if r.get("level") in ("warning", "error", "critical")
            and "uplink" in str(r.get("actor", "")) + str(r.get("child", ""))
        ]
        assert alarms == []
        assert any(r.get("msg") == "uploader stopped" for r in records)
