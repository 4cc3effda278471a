"""Folder units on disk: what belongs to a unit, when it is complete, and its disposal."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import trio

from converters import unpack_unit
from pywats_actors.node._disposal import AfterSuccess, SourceChanged
from pywats_actors.node._messages import FileReady, UnitFile
from pywats_actors.node._unit_disposal import dispose_unit_failure, dispose_unit_success
from pywats_actors.node._unit_watcher import UnitWatcherSettings, run_unit_watcher
from pywats_actors.node._units import (
    UnitRules,
    complete,
    list_root,
    list_unit,
    read_unit,
    unit_signature,
)

RULES = UnitRules(exclude=("*.tmp",), skip_dirs=frozenset({"done", "error"}))


def make(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def ready(root: Path, name: str, rules: UnitRules = RULES) -> FileReady:
    _, files = list_root(root, rules)
    listing = list_unit(root, name, files, rules)
    return FileReady(
        folder="f",
        path=str(root / name),
        relative=name,
        signature=unit_signature(listing),
        unit=listing,
    )


class TestRecognition:
    def test_a_unit_is_its_folder_and_sibling_files(self, tmp_path: Path) -> None:
        """u/ with its files (nested too), u.txt and u.csv; not u.x.txt, hidden or excluded
        files, nor another unit's sibling; done/ and error/ are not units."""
        make(
            tmp_path,
            {
                "u.txt": "h",
                "u.csv": "c",
                "u.x.txt": "no",
                "v.txt": "other",
                "u/a.txt": "1",
                "u/sub/b.txt": "22",
                "u/.hidden": "no",
                "u/c.tmp": "no",
                "done/old/x": "",
            },
        )
        folders, files = list_root(tmp_path, RULES)
        assert folders == ["u"]
        paths = [f.path for f in list_unit(tmp_path, "u", files, RULES)]
        assert paths == ["u.csv", "u.txt", "u/a.txt", "u/sub/b.txt"]

    def test_complete_with_a_required_sibling_and_min_files(self) -> None:
        """A required sibling must be there; min_files counts every file of the unit."""
        inside = (UnitFile("u/a", 1, 1), UnitFile("u/b", 1, 1))
        with_header = (UnitFile("u.txt", 1, 1), *inside)
        required = UnitRules(sibling="required")
        assert not complete("u", inside, required)
        assert complete("u", with_header, required)
        assert complete("u", inside, UnitRules(min_files=2))
        assert not complete("u", inside, UnitRules(min_files=3))
        assert not complete("u", (UnitFile("u.txt", 1, 1),), UnitRules())  # no folder files

    def test_complete_with_a_marker(self) -> None:
        """With a marker glob, a unit is complete only once a file in its folder matches."""
        rules = UnitRules(marker="*.done", min_files=99)
        assert not complete("u", (UnitFile("u/a", 1, 1),), rules)
        assert complete("u", (UnitFile("u/a", 1, 1), UnitFile("u/END.done", 0, 1)), rules)
        assert rules.wait == rules.settle


class TestReadAndDispose:
    def test_read_packs_the_listed_files(self, tmp_path: Path) -> None:
        """The unit's files are packed by path relative to the watch folder."""
        make(tmp_path, {"u.txt": "h", "u/a.txt": "1"})
        files = unpack_unit(read_unit(ready(tmp_path, "u"), tmp_path, RULES))
        assert files == {"u.txt": b"h", "u/a.txt": b"1"}

    def test_a_file_added_since_it_was_found_is_a_change(self, tmp_path: Path) -> None:
        """A new file in the unit after it was found complete: read and disposal refuse."""
        make(tmp_path, {"u.txt": "h", "u/a.txt": "1"})
        found = ready(tmp_path, "u")
        make(tmp_path, {"u/b.txt": "late"})
        with pytest.raises(SourceChanged):
            read_unit(found, tmp_path, RULES)
        with pytest.raises(SourceChanged):
            dispose_unit_success(found, tmp_path, RULES, AfterSuccess.MOVE)
        assert (tmp_path / "u" / "b.txt").exists()

    def test_move_keeps_folder_and_sibling_together(self, tmp_path: Path) -> None:
        """A second unit of the same name moves as u~1/ and u~1.txt, even if only u/ was
        taken in done/ (the first N free for all of its parts)."""
        make(tmp_path, {"u.txt": "h", "u/a.txt": "1", "done/u/x": ""})
        moved = dispose_unit_success(ready(tmp_path, "u"), tmp_path, RULES, AfterSuccess.MOVE)
        assert moved == tmp_path / "done" / "u~1"
        assert sorted(os.listdir(tmp_path / "done")) == ["u", "u~1", "u~1.txt"]
        assert sorted(os.listdir(tmp_path)) == ["done"]

    def test_delete_removes_the_whole_unit(self, tmp_path: Path) -> None:
        """after_success = "delete" removes the folder and its sibling, nothing else."""
        make(tmp_path, {"u.txt": "h", "u/a.txt": "1", "v.txt": "stays"})
        assert (
            dispose_unit_success(ready(tmp_path, "u"), tmp_path, RULES, AfterSuccess.DELETE) is None
        )
        assert sorted(os.listdir(tmp_path)) == ["v.txt"]

    def test_keep_leaves_the_unit_and_never_deletes_it(self, tmp_path: Path) -> None:
        """after_success = "keep" (refused by the configuration check) leaves the unit whole."""
        make(tmp_path, {"u.txt": "h", "u/a.txt": "1"})
        kept = dispose_unit_success(ready(tmp_path, "u"), tmp_path, RULES, AfterSuccess.KEEP)
        assert kept == tmp_path / "u"
        assert sorted(os.listdir(tmp_path)) == ["u", "u.txt"]

    def test_failure_writes_the_reason_beside_the_unit(self, tmp_path: Path) -> None:
        """error/ gets u/, u.txt and u.error.json listing the unit's files."""
        make(tmp_path, {"u.txt": "h", "u/a.txt": "1"})
        moved = dispose_unit_failure(
            ready(tmp_path, "u"), tmp_path, RULES, kind="rejected", reason="bad", converter="k"
        )
        assert moved == tmp_path / "error" / "u"
        assert sorted(os.listdir(tmp_path / "error")) == ["u", "u.error.json", "u.txt"]
        document = json.loads((tmp_path / "error" / "u.error.json").read_text())
        assert (document["file"], document["reason"]) == ("u", "bad")
        assert document["unit"] == ["u.txt", "u/a.txt"]


class TestWatcher:
    async def test_a_marker_completes_the_unit_and_it_is_handed_on_once(
        self, tmp_path: Path
    ) -> None:
        """With unit_marker, a unit without its marker is not handed on; with it, once, with
        every file listed; a unit with only a sibling file is never handed on."""
        rules = UnitRules(marker="*.done", settle=0.1, skip_dirs=frozenset({"done", "error"}))
        settings = UnitWatcherSettings(id="w", path=tmp_path, rules=rules)
        make(tmp_path, {"u.txt": "h", "u/a.txt": "1", "lonely.txt": "no folder"})
        send, receive = trio.open_memory_channel[FileReady](10)
        async with trio.open_nursery() as nursery:
            await nursery.start(run_unit_watcher, settings, send)
            await trio.sleep(0.5)
            with pytest.raises(trio.WouldBlock):
                receive.receive_nowait()
            make(tmp_path, {"u/END.done": ""})
            with trio.fail_after(5):
                got = await receive.receive()
            await trio.sleep(0.5)
            with pytest.raises(trio.WouldBlock):
                receive.receive_nowait()
            nursery.cancel_scope.cancel()
        assert (got.relative, got.path) == ("u", str(tmp_path / "u"))
        assert [f.path for f in got.unit or ()] == ["u.txt", "u/END.done", "u/a.txt"]
