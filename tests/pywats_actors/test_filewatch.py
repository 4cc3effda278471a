"""The one file-watching primitive: events, folders that go and come back, write tracking."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import trio

from pywats_actors._filewatch import Changes, FileWatch
from pywats_actors._inotify import inotify_available
from pywats_actors._logging import get_logger

needs_inotify = pytest.mark.skipif(not inotify_available(), reason="inotify is Linux only")
LOG = get_logger(component="test")


async def next_about(watch: FileWatch, path: Path, within: float = 5.0) -> Changes:
    """The next changes that name *path*."""
    with trio.fail_after(within):
        while True:
            changes = await watch.next()
            if str(path) in changes.paths:
                return changes


async def next_rescan(watch: FileWatch, within: float = 5.0) -> Changes:
    """The next changes that ask for a rescan."""
    with trio.fail_after(within):
        while True:
            changes = await watch.next()
            if changes.rescan:
                return changes


@pytest.mark.parametrize(
    "use_inotify", [pytest.param(True, marks=needs_inotify, id="inotify"), False]
)
class TestFolderComesBack:
    async def test_deleted_and_recreated_folder_is_watched_again(
        self, tmp_path: Path, use_inotify: bool
    ) -> None:
        """A watched folder deleted and made again is watched again, with a rescan asked for."""
        folder = tmp_path / "in"
        folder.mkdir()
        async with FileWatch([folder], log=LOG, use_inotify=use_inotify, retry=0.1) as watch:
            assert watch.source == ("inotify" if use_inotify else "watchdog")
            (folder / "a.csv").write_text("x")
            await next_about(watch, folder / "a.csv")
            shutil.rmtree(folder)
            with trio.fail_after(5):
                while str(folder) not in watch.missing:
                    await next_rescan(watch)
            folder.mkdir()
            await next_rescan(watch)
            assert watch.missing == frozenset()
            (folder / "b.csv").write_text("y")
            await next_about(watch, folder / "b.csv")

    async def test_folder_missing_at_start_is_watched_when_it_appears(
        self, tmp_path: Path, use_inotify: bool
    ) -> None:
        """A folder that does not exist yet is looked for every *retry* seconds."""
        folder = tmp_path / "later"
        async with FileWatch([folder], log=LOG, use_inotify=use_inotify, retry=0.1) as watch:
            assert watch.missing == {str(folder)}
            folder.mkdir()
            await next_rescan(watch)
            (folder / "c.csv").write_text("z")
            await next_about(watch, folder / "c.csv")


class TestCheck:
    @needs_inotify
    async def test_replaced_folder_found_by_check(self, tmp_path: Path) -> None:
        """A folder replaced while its events were not read (another inode at the path) is
        found by check() and watched afresh."""
        folder = tmp_path / "in"
        folder.mkdir()
        async with FileWatch([folder], log=LOG, retry=3600) as watch:
            keep = tmp_path / "keep"  # holds the old inode, so the new folder gets another
            folder.rename(keep)
            folder.mkdir()
            assert await watch.check()
            (folder / "d.csv").write_text("x")
            await next_about(watch, folder / "d.csv")


@needs_inotify
class TestWrites:
    async def test_write_then_close(self, tmp_path: Path) -> None:
        """A write to a file still open is reported as written; its close as closed."""
        async with FileWatch([tmp_path], log=LOG) as watch:
            path = tmp_path / "run.csv"
            with path.open("w") as f:
                f.write("row\n")
                f.flush()
                changes = await next_about(watch, path)
                assert str(path) in changes.written
                assert str(path) not in changes.closed
            changes = await next_about(watch, path)
            assert str(path) in changes.closed
            assert str(path) not in changes.written

    async def test_moved_away_folder_is_not_reported_under_its_old_path(
        self, tmp_path: Path
    ) -> None:
        """After the folder is moved away, files written in it are not reported as if they
        were still in the watched path."""
        folder = tmp_path / "in"
        folder.mkdir()
        async with FileWatch([folder], log=LOG, retry=3600) as watch:
            folder.rename(tmp_path / "old")
            await next_rescan(watch)
            assert watch.missing == {str(folder)}
            (tmp_path / "old" / "late.csv").write_text("x")
            with trio.move_on_after(0.5):
                changes = await watch.next()
                pytest.fail(f"unexpected {changes}")


@needs_inotify
class TestOverflow:
    async def test_queue_overflow_asks_for_a_rescan(self, tmp_path: Path) -> None:
        """Events lost to a queue overflow are reported as a rescan, and as unknown writes."""
        limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
        async with FileWatch([tmp_path], log=LOG) as watch:
            for i in range(limit // 2 + 64):  # two names in turn: the kernel merges no event
                for name in ("a.log", "b.log"):
                    (tmp_path / name).write_text(str(i))
            changes = await next_rescan(watch)
            assert changes.overflowed
