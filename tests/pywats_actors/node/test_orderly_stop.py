"""An orderly stop under load logs nothing an operator would alert on."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import BinaryIO

import pytest
import trio

from pywats_actors.emulator import Faults, open_emulator

from .test_node import TOKEN, report_file, write_config

NODE = [sys.executable, "-m", "pywats_actors._cli"]
ALARMING = {"warning", "error", "critical"}


def alarming_lines(log: Path) -> list[dict[str, object]]:
    """The JSON log lines at warning level or above, or carrying an exception."""
    found: list[dict[str, object]] = []
    for raw in log.read_text().splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            found.append({"level": "unparsed", "msg": raw})  # a plain-text traceback
            continue
        if line.get("level") in ALARMING or "exception" in line:
            found.append(line)
    return found


def start_node(config: Path, out: BinaryIO) -> subprocess.Popen[bytes]:
    """``pywats-node run`` with its JSON log (standard output and error) written to *out*."""
    return subprocess.Popen(
        [*NODE, "run", "--config", str(config), "--log-format", "json"],
        stdout=out,
        stderr=subprocess.STDOUT,
    )


def converted_while_stopping(log: Path) -> int:
    """Files the node finished converting after it began to stop (files that were in flight)."""
    count, stopping = 0, False
    for raw in log.read_text().splitlines():
        line = json.loads(raw)
        stopping = stopping or line.get("msg") == "stopping"
        count += stopping and line.get("msg") == "file converted"
    return count


async def while_converting(log: Path) -> None:
    """Return as soon as the node logs a newly converted file: a batch of files handed on by
    the watcher is being converted, so more are in flight."""
    seen = log.read_text().count('"file converted"')
    while log.read_text().count('"file converted"') == seen:
        await trio.sleep(0.005)


async def drop_files(folder: Path, counter: itertools.count[int], every: float) -> None:
    """Write a report file into *folder* every *every* seconds until cancelled."""
    while True:
        report_file(folder, next(counter))
        await trio.sleep(every)


class TestOrderlyStopUnderLoad:
    @pytest.mark.parametrize("separate_process", [True, False], ids=["upload-process", "inline"])
    async def test_sigterm_while_files_flow_logs_no_warning_or_error(
        self, tmp_path: Path, separate_process: bool
    ) -> None:
        """SIGTERM while files are being dropped, converted and uploaded ends the node with exit
        code 0, and its JSON log has no line at warning level or above and no exception (three
        runs, each stopped while the flow goes on; uploads in a helper process or inline)."""
        counter = itertools.count()
        in_flight = 0
        async with open_emulator(token=TOKEN, faults=Faults(latency=0.01)) as emu:
            upload = f"concurrency = 4\nseparate_process = {str(separate_process).lower()}"
            config = write_config(tmp_path, emu.url, upload=upload)
            for run in range(3):
                log = tmp_path / f"node-{run}.log"
                before = emu.stats().accepted
                with log.open("wb") as out:
                    proc = start_node(config, out)
                    try:
                        async with trio.open_nursery() as nursery:
                            nursery.start_soon(drop_files, tmp_path / "in", counter, 0.002)
                            with trio.fail_after(60):
                                while emu.stats().accepted < before + 50:
                                    await trio.sleep(0.01)
                                await while_converting(log)
                            proc.send_signal(signal.SIGTERM)
                            with trio.fail_after(60):
                                while proc.poll() is None:
                                    await trio.sleep(0.02)
                            nursery.cancel_scope.cancel()
                    finally:
                        if proc.poll() is None:
                            proc.kill()
                            proc.wait(timeout=10)
                text = log.read_text()
                assert proc.returncode == 0, text[-2000:]
                assert '"node stopped"' in text
                assert alarming_lines(log) == []
                in_flight += converted_while_stopping(log)
            assert in_flight > 0, "no stop came while files were in flight"
            assert emu.stats().duplicates == 0
