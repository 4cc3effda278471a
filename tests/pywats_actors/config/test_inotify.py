"""The shared trio-loop inotify reader, with the narrow mask the config actor watches with."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

import pytest
import trio

from pywats_actors._inotify import (
    IN_CLOSE_WRITE,
    IN_DELETE_SELF,
    IN_MOVED_TO,
    Inotify,
    inotify_available,
)

pytestmark = pytest.mark.skipif(not inotify_available(), reason="inotify is Linux only")

NARROW = IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE_SELF


def _append_and_keep_open(path: Path, times: int) -> TextIO:
    """Append *times* lines to *path*, each flushed; return the file, still open."""
    file = open(path, "a", encoding="utf-8")  # noqa: SIM115 (the caller closes it)
    for i in range(times):
        file.write(f"line {i}\n")
        file.flush()
    return file


async def _read_within(notify: Inotify, seconds: float) -> list[str] | None:
    """The paths of the next batch of events, or ``None`` if none came within *seconds*."""
    with trio.move_on_after(seconds):
        paths, _ = await notify.read()
        return paths
    return None


class TestMask:
    async def test_default_mask_reports_each_write(self, tmp_path: Path) -> None:
        """The default mask (the node's watchers) reports writes to a file still open."""
        log = tmp_path / "node.log"
        log.touch()
        notify = Inotify()
        try:
            notify.watch(tmp_path)
            with _append_and_keep_open(log, 1):
                assert await _read_within(notify, 2.0) == [str(log)]
        finally:
            notify.close()

    async def test_narrow_mask_ignores_writes_until_close(self, tmp_path: Path) -> None:
        """Without IN_MODIFY, appending to an open file never wakes the reader; closing it,
        and renaming a file into place, do."""
        log = tmp_path / "node.log"
        log.touch()
        notify = Inotify(NARROW)
        try:
            notify.watch(tmp_path)
            with _append_and_keep_open(log, 200):
                assert await _read_within(notify, 0.3) is None
            assert await _read_within(notify, 2.0) == [str(log)]
            (tmp_path / "new.tmp").write_bytes(b"")
            assert await _read_within(notify, 2.0) == [str(tmp_path / "new.tmp")]
            os.replace(tmp_path / "new.tmp", tmp_path / "node.toml")
            assert await _read_within(notify, 2.0) == [str(tmp_path / "node.toml")]
        finally:
            notify.close()

    async def test_a_removed_folder_is_reported_as_a_lost_watch(self, tmp_path: Path) -> None:
        """Deleting a watched folder sets lost_watch (and forgets the folder)."""
        folder = tmp_path / "etc"
        folder.mkdir()
        notify = Inotify(NARROW)
        try:
            notify.watch(folder)
            assert not notify.lost_watch
            folder.rmdir()
            with trio.fail_after(2.0):
                while not notify.lost_watch:
                    await notify.read()
            folder.mkdir()
            notify.watch(folder)  # a new folder at the same path can be watched again
            _append_and_keep_open(folder / "a.log", 1).close()
            assert await _read_within(notify, 2.0) == [str(folder / "a.log")]
        finally:
            notify.close()
