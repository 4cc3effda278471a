"""Scenarios: writers that rename their files, and the spool's disk full to the last byte.

Each ends with the history checker accounting for every file and every delivery.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
import trio

from pywats_actors.emulator import Faults

from .._disk import fill_disk, small_tmpfs
from ._harness import ChaosRun, chaos_run, size
from ._units import csv_unit

pytestmark = pytest.mark.slow


async def renaming_writer(run: ChaosRun, n: int, delay: float) -> None:
    """Write UUT *n* under one name, close it, and rename it *delay* seconds later, as a
    test executive that names its result file at the end does (the node may already have
    taken it under the first name)."""
    text, expected = csv_unit(n, seed=run.seed + 2000)
    first = run.inbox / f"pending-{n:04d}.csv"
    final = run.inbox / f"result-{n:04d}.csv"
    first.write_bytes(text.encode())
    await trio.sleep(delay)
    with contextlib.suppress(FileNotFoundError):  # taken and moved already
        first.rename(final)
    run.record(final, text.encode(), expected)


class TestRenames:
    async def test_files_renamed_after_writing_arrive_once(self, tmp_path: Path) -> None:
        """A file renamed before, while or after the node takes it is on the server once,
        under one id, and in done/ once."""
        writers = size(30, 300)
        async with chaos_run(tmp_path, seed=61) as run:
            node = run.start()
            await run.wait_ready(node)
            async with trio.open_nursery() as nursery:
                for n in range(writers):
                    nursery.start_soon(renaming_writer, run, n, (n % 10) * 0.1)
                    await trio.sleep(0.05)
            await run.drain_stop_check(node, "writers that rename", size(30, 300))


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
class TestDiskFull:
    async def test_spool_disk_full_pauses_and_resumes_without_loss(self, tmp_path: Path) -> None:
        """With the spool's disk full to the last byte while spooled reports are uploaded and
        new files arrive, the node stays up, does not resend in a hot loop, leaves the new
        files in the folder, and once space is back everything drains (issue 8 C9)."""
        files = size(20, 200)
        # the spool keeps 64 MiB in reserve and resumes at 80 MiB free: a bigger tmpfs
        with small_tmpfs(tmp_path / "data", 160) as data:
            async with chaos_run(tmp_path / "station", seed=67, data=data) as run:
                node = run.start()
                await run.wait_ready(node)
                run.emulator.set_faults(Faults(down=True))
                run.drop(files)
                with trio.fail_after(60):
                    while run.inbox_files():  # every file spooled, none uploaded
                        await trio.sleep(0.1)
                filler = fill_disk(data)
                run.emulator.set_faults(Faults())
                run.drop(files)  # these must wait in the folder while the disk is full
                await trio.sleep(5)
                assert node.proc.poll() is None, "the node died of a full spool disk"
                assert len(run.inbox_files()) == files, "files taken although nothing is free"
                during = run.emulator.delivery_count()
                run.figures.faults["spool disk full s"] = 5
                run.figures.faults["deliveries while full"] = during
                assert during <= 2 * files, f"{during} deliveries of {files} reports: a hot loop"
                filler.unlink()
                await run.drain_stop_check(node, "spool disk full", size(30, 300))
