"""Disposal touches only the version of a file that was converted, never overwrites a name, and
leaves the file in place when it cannot move it."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from pywats_actors.node import AfterSuccess, FileReady, FileSignature
from pywats_actors.node._disposal import (
    FolderMissing,
    SourceChanged,
    _rename_noreplace,
    dispose_failure,
    dispose_success,
    same_version,
)


def ready(root: Path, relative: str, content: str = "version 1") -> FileReady:
    """A file written now, and the FileReady a watcher would send for it."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    return FileReady(
        folder="f",
        path=str(path),
        relative=relative,
        signature=FileSignature.from_stat(path.stat()),
    )


def replace_keeping_size_and_mtime(path: Path, content: str) -> None:
    """Write *content* to a new inode renamed over *path*, with *path*'s size and mtime."""
    st = path.stat()
    assert len(content) == st.st_size
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(content)
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp, path)


class TestOnlyTheVersionConverted:
    @pytest.mark.parametrize("action", list(AfterSuccess))
    def test_a_file_rewritten_in_place_is_left_alone(
        self, tmp_path: Path, action: AfterSuccess
    ) -> None:
        """A file written to after it was read is neither moved, deleted nor marked."""
        r = ready(tmp_path, "a.csv")
        Path(r.path).write_text("version 2, longer")
        with pytest.raises(SourceChanged):
            dispose_success(r, tmp_path, action)
        assert Path(r.path).read_text() == "version 2, longer"
        done = tmp_path / "done"
        assert not done.exists() or not any(done.rglob("*"))
        assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["a.csv"]

    def test_a_file_replaced_by_another_inode_is_left_alone(self, tmp_path: Path) -> None:
        """A file replaced by a rename, with the same size and mtime, is another version."""
        r = ready(tmp_path, "a.csv", "AAAA")
        replace_keeping_size_and_mtime(Path(r.path), "BBBB")
        with pytest.raises(SourceChanged) as caught:
            dispose_success(r, tmp_path, AfterSuccess.MOVE)
        assert caught.value.found.ino != r.signature.ino
        assert Path(r.path).read_text() == "BBBB"
        assert not (tmp_path / "done" / "a.csv").exists()

    def test_the_version_converted_is_moved(self, tmp_path: Path) -> None:
        """The unchanged file moves to done/ and keeps its content."""
        r = ready(tmp_path, "sub/a.csv")
        assert dispose_success(r, tmp_path, AfterSuccess.MOVE) == tmp_path / "done/sub/a.csv"
        assert (tmp_path / "done/sub/a.csv").read_text() == "version 1"

    def test_delete_leaves_nothing_behind(self, tmp_path: Path) -> None:
        """Delete removes the file and the hidden name it was renamed to first."""
        r = ready(tmp_path, "a.csv")
        assert dispose_success(r, tmp_path, AfterSuccess.DELETE) is None
        assert list(tmp_path.iterdir()) == []

    def test_error_move_of_a_rewritten_file_leaves_it_and_no_sidecar(self, tmp_path: Path) -> None:
        """A file rewritten after its conversion failed stays, and no sidecar is written."""
        r = ready(tmp_path, "bad.csv")
        Path(r.path).write_text("now it is fixed")
        with pytest.raises(SourceChanged):
            dispose_failure(r, tmp_path, kind="rejected", reason="bad", converter="csv")
        assert Path(r.path).read_text() == "now it is fixed"
        assert sorted(p.name for p in tmp_path.rglob("*")) == ["bad.csv"]

    def test_same_version_ignores_an_unknown_inode(self, tmp_path: Path) -> None:
        """A signature without inode (an old marker) compares size and mtime only."""
        path = tmp_path / "a"
        path.write_text("x")
        st = path.stat()
        assert same_version(FileSignature(size=st.st_size, mtime_ns=st.st_mtime_ns), st)
        assert not same_version(FileSignature(size=st.st_size + 1, mtime_ns=st.st_mtime_ns), st)
        assert not same_version(
            FileSignature(size=st.st_size, mtime_ns=st.st_mtime_ns, ino=st.st_ino + 1, dev=1), st
        )


class TestNames:
    def test_a_name_clash_gets_the_first_free_suffix(self, tmp_path: Path) -> None:
        """done/ holding a.csv and a~1.csv: the next a.csv becomes a~2.csv, nothing is
        overwritten."""
        (tmp_path / "done").mkdir()
        (tmp_path / "done" / "a.csv").write_text("first")
        (tmp_path / "done" / "a~1.csv").write_text("second")
        r = ready(tmp_path, "a.csv", "third")
        assert dispose_success(r, tmp_path, AfterSuccess.MOVE) == tmp_path / "done" / "a~2.csv"
        assert [(tmp_path / "done" / n).read_text() for n in ("a.csv", "a~1.csv", "a~2.csv")] == [
            "first",
            "second",
            "third",
        ]

    def test_rename_never_replaces(self, tmp_path: Path) -> None:
        """The rename used for disposal refuses an existing target and leaves both files."""
        (tmp_path / "a").write_text("a")
        (tmp_path / "b").write_text("b")
        with pytest.raises(FileExistsError):
            _rename_noreplace(tmp_path / "a", tmp_path / "b")
        assert (tmp_path / "a").read_text() == "a"
        assert (tmp_path / "b").read_text() == "b"

    def test_error_sidecars_of_clashing_names_stay_paired(self, tmp_path: Path) -> None:
        """Two failed files of one name: each lands next to its own sidecar."""
        for content in ("one", "two"):
            r = ready(tmp_path, "bad.csv", content)
            dispose_failure(r, tmp_path, kind="rejected", reason=content, converter=None)
        error = tmp_path / "error"
        for name, content in (("bad.csv", "one"), ("bad~1.csv", "two")):
            assert (error / name).read_text() == content
            sidecar = json.loads((error / f"{name}.error.json").read_text())
            assert (sidecar["file"], sidecar["reason"]) == (name, content)


class TestCannotMove:
    def test_done_folder_that_is_a_file_raises_and_leaves_the_file(self, tmp_path: Path) -> None:
        """A done/ that cannot be created (a file of that name) is an OSError; the file stays."""
        (tmp_path / "done").write_text("not a folder")
        r = ready(tmp_path, "a.csv")
        with pytest.raises(OSError):
            dispose_success(r, tmp_path, AfterSuccess.MOVE)
        assert Path(r.path).read_text() == "version 1"

    def test_error_folder_that_is_a_file_raises_and_leaves_the_file(self, tmp_path: Path) -> None:
        """The same for error/: the file stays, no sidecar is left anywhere."""
        (tmp_path / "error").write_text("not a folder")
        r = ready(tmp_path, "bad.csv")
        with pytest.raises(OSError):
            dispose_failure(r, tmp_path, kind="rejected", reason="x", converter=None)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "error"]


class TestDeletedWatchFolder:
    @pytest.mark.parametrize("action", list(AfterSuccess))
    def test_disposal_never_makes_a_deleted_watch_folder_again(
        self, tmp_path: Path, action: AfterSuccess
    ) -> None:
        """A watch folder deleted after its file was converted is not brought back by the
        disposal (no done/ under a new root): the disposal fails, to be tried again."""
        root = tmp_path / "in"
        r = ready(root, "sub/a.csv")
        for path in (root / "sub" / "a.csv", root / "sub", root):
            path.unlink() if path.is_file() else path.rmdir()
        with pytest.raises(FolderMissing) as info:
            dispose_success(r, root, action)
        assert info.value.errno == errno.ENOENT
        assert not root.exists()

    def test_error_disposal_never_makes_a_deleted_watch_folder_again(self, tmp_path: Path) -> None:
        """The same holds for a file on its way to error/."""
        root = tmp_path / "in"
        r = ready(root, "a.csv")
        Path(r.path).unlink()
        root.rmdir()
        with pytest.raises(FolderMissing):
            dispose_failure(r, root, kind="rejected", reason="bad", converter="csv")
        assert not root.exists()

    def test_done_and_its_sub_folders_are_made_inside_an_existing_root(
        self, tmp_path: Path
    ) -> None:
        """Under a watch folder that is there, done/ and the file's sub-folders are made."""
        r = ready(tmp_path, "x/y/a.csv")
        moved = dispose_success(r, tmp_path, AfterSuccess.MOVE)
        assert moved == tmp_path / "done" / "x" / "y" / "a.csv"
        assert moved.read_text() == "version 1"

    def test_a_file_gone_from_a_present_root_is_not_a_failure(self, tmp_path: Path) -> None:
        """A file an operator took away, from a watch folder that is still there, is done."""
        r = ready(tmp_path, "a.csv")
        Path(r.path).unlink()
        assert dispose_success(r, tmp_path, AfterSuccess.MOVE) is None
        assert dispose_failure(r, tmp_path, kind="rejected", reason="bad", converter=None) is None
