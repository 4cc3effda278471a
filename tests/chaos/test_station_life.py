"""Scenarios of station life: writers that pause, a done folder that cannot be made, a spool
past its report limit, a configuration edited while files flow, a watch folder re-created.

Each ends with the history checker accounting for every file and every delivery.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import trio

from ._harness import ChaosRun, chaos_run, size
from ._units import csv_unit

pytestmark = pytest.mark.slow


async def pausing_writer(run: ChaosRun, n: int, pause: float) -> None:
    """Write UUT *n* row by row into the watch folder, keeping the file open and pausing
    *pause* seconds (longer than ``settle``) between rows, as a test executive does."""
    text, expected = csv_unit(n, seed=run.seed + 1000)
    path = run.inbox / f"slow-{n:04d}.csv"
    lines = text.encode().splitlines(keepends=True)
    with path.open("wb") as out:
        out.write(lines[0] + lines[1])
        out.flush()
        for line in lines[2:]:
            await trio.sleep(pause)
            out.write(line)
            out.flush()
    run.record(path, text.encode(), expected)


class TestWriters:
    async def test_files_written_with_pauses_arrive_whole(self, tmp_path: Path) -> None:
        """A writer that holds its file open and pauses longer than settle between rows never
        has its file taken early: every report carries every row (issue 8 A1)."""
        writers = size(4, 40)
        async with chaos_run(tmp_path, seed=41) as run:
            node = run.start()
            await run.wait_ready(node)
            async with trio.open_nursery() as nursery:
                for n in range(writers):
                    nursery.start_soon(pausing_writer, run, n, 0.6)
                run.drop(size(20, 200))  # ordinary files meanwhile
            await run.drain_stop_check(node, "writers that pause", size(30, 300))


class TestDisposal:
    async def test_done_folder_that_cannot_be_used_stops_nothing(self, tmp_path: Path) -> None:
        """While done/ cannot be used (replaced by a file at run time), the node stays up and
        uploads go on; once it is back, every file is moved there and nothing is sent twice
        (issue 8 A3)."""
        async with chaos_run(tmp_path, seed=43) as run:
            node = run.start()
            await run.wait_ready(node)
            run.drop(5)
            await run.drain(node, 60)
            done, aside = run.inbox / "done", tmp_path / "done-aside"
            done.rename(aside)
            done.write_bytes(b"not a folder")
            run.drop(size(20, 300))
            with trio.fail_after(size(30, 300)):
                while not run.expected_ids <= run.delivered_ids():
                    assert node.proc.poll() is None, "the node gave up on a blocked done/"
                    await trio.sleep(0.1)
            await trio.sleep(3)  # several disposal retries while blocked
            assert node.proc.poll() is None, "the node gave up on a blocked done/"
            done.unlink()
            aside.rename(done)
            await run.drain_stop_check(node, "done/ blocked", size(30, 300))


class TestSpoolLimits:
    async def test_report_limit_bounds_what_is_unsent_not_what_was_sent(
        self, tmp_path: Path
    ) -> None:
        """With max_reports far below the number of files, intake never stops for good:
        sent reports make room by themselves (issue 8 C10)."""
        limit = 25
        async with chaos_run(tmp_path, seed=47, spool=f"max_reports = {limit}") as run:
            node = run.start()
            await run.wait_ready(node)
            await run.drop_at_rate(size(4, 40) * limit, 50)
            await run.drain_stop_check(node, "past the spool's report limit", size(30, 300))


class TestReconfiguration:
    async def test_config_edited_while_files_flow_keeps_intake_alive(self, tmp_path: Path) -> None:
        """The watch folder's settings edited again and again while files arrive: the
        restarted watcher keeps taking files (issue 8 B8)."""
        edits = size(6, 60)
        async with chaos_run(tmp_path, seed=53) as run:
            node = run.start()
            await run.wait_ready(node)
            for edit in range(edits):
                run.write_config(settle=0.2 + 0.1 * (edit % 3), rescan_interval=1 + edit % 2)
                run.drop(5)
                await trio.sleep(1.2)  # the node checks its configuration every second
            run.figures.faults["config edits"] = edits
            await run.drain_stop_check(node, "config edited while files flow", size(30, 300))


class TestWatchFolder:
    async def test_watch_folder_deleted_and_recreated_is_watched_again(
        self, tmp_path: Path
    ) -> None:
        """After the watch folder is deleted and created again, files dropped into it are
        taken by file events, well before the next rescan (issue 8 A6)."""
        async with chaos_run(tmp_path, seed=59) as run:
            run.write_config(rescan_interval=60)
            node = run.start()
            await run.wait_ready(node)
            run.drop(5)
            await run.drain(node, 60)
            for _ in range(size(2, 10)):
                moved = tmp_path / "moved-aside"
                run.inbox.rename(moved)
                await trio.sleep(1.5)
                run.inbox.mkdir(exist_ok=True)
                await trio.sleep(1.5)
                done = run.inbox / "done"
                done.mkdir(exist_ok=True)
                for file in (moved / "done").iterdir():  # keep done/ whole for the checker
                    shutil.move(str(file), str(done / file.name))
                shutil.rmtree(moved)
                run.drop(5)
                await run.drain(node, 20)  # a third of the rescan interval
            await run.drain_stop_check(node, "watch folder re-created", 60)
