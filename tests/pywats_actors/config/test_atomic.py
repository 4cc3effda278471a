"""Atomic writes: temp file in the same folder, fsync, rename, fsync of the folder."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pywats_actors.config import ConfigWriteError, write_config_atomically


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An empty folder of the test's own."""
    path = tmp_path / "etc"
    path.mkdir()
    return path


class TestAtomicWrite:
    def test_creates_with_mode(self, folder: Path) -> None:
        """A new file gets the text and mode 0600, and no temporary file is left."""
        target = folder / "a.toml"
        write_config_atomically(target, "x = 1\n")
        assert target.read_text() == "x = 1\n"
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert os.listdir(folder) == ["a.toml"]

    def test_replaces_by_rename(self, folder: Path) -> None:
        """An existing file is replaced by a new inode, never rewritten in place."""
        target = folder / "a.toml"
        target.write_text("old\n")
        before = target.stat().st_ino
        write_config_atomically(target, "new\n", mode=0o640)
        assert target.read_text() == "new\n"
        assert target.stat().st_ino != before
        assert stat.S_IMODE(target.stat().st_mode) == 0o640

    def test_fsyncs_file_and_folder(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The file's data and then its folder are fsynced."""
        synced: list[str] = []
        real_fsync = os.fsync

        def record(descriptor: int) -> None:
            synced.append("dir" if stat.S_ISDIR(os.fstat(descriptor).st_mode) else "file")
            real_fsync(descriptor)

        monkeypatch.setattr(os, "fsync", record)
        write_config_atomically(folder / "a.toml", "x = 1\n")
        assert synced == ["file", "dir"]

    def test_failure_leaves_old_file(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """If the rename fails, the old file is intact and the temporary file is removed."""
        target = folder / "a.toml"
        target.write_text("old\n")

        def broken_replace(source: str, destination: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "replace", broken_replace)
        with pytest.raises(ConfigWriteError, match="No space left on device") as caught:
            write_config_atomically(target, "new\n")
        assert caught.value.path == target
        assert target.read_text() == "old\n"
        assert os.listdir(folder) == ["a.toml"]

    def test_missing_folder(self, folder: Path) -> None:
        """Writing into a folder that does not exist is a ConfigWriteError."""
        with pytest.raises(ConfigWriteError, match="cannot write"):
            write_config_atomically(folder / "nope" / "a.toml", "x = 1\n")
