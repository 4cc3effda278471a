"""The built-in ``folder-poll`` scheduled converter: new files of a read-only folder, oldest
first, by a cursor of change times; the files stay where they are."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from converters import (
    Converted,
    ConverterArgumentsError,
    ConverterConfig,
    FileRejected,
    FolderPollArguments,
    FolderPollConverter,
    open_converter_pool,
    report_id,
    validate_arguments,
)
from converters._polling import scoped_hash

from .._reports import built_report
from .conftest import NAMESPACE, settings


def args(**keys: Any) -> FolderPollArguments:
    """Validated arguments: the WSJF converter, no settle time, unless told."""
    raw: dict[str, Any] = {"converter": "wsjf", "settle": 0, **keys}
    parsed: FolderPollArguments = validate_arguments("folder-poll", FolderPollArguments, raw)
    return parsed


def drop(folder: Path, name: str, n: int, *, at: int | None = None) -> Path:
    """Write report ``n`` (serial ``SN-<n>``) as ``folder/name``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(built_report(n)[0])
    if at is not None:
        os.utime(path, ns=(at, at))
    return path


def poll(
    source: Path, cursor: bytes | str | None, arguments: FolderPollArguments
) -> tuple[list[tuple[str, str]], bytes | str | None]:
    """One run: ``[(key, serial number)]`` and the new cursor."""
    items, new = FolderPollConverter().poll(str(source), cursor, arguments)
    found = []
    for key, report in items:
        assert isinstance(report, bytes)
        found.append((key, msgspec.json.decode(report)["sn"]))
    return found, new


def serials(found: list[tuple[str, str]]) -> list[str]:
    return [sn for _, sn in found]


class TestFolderPoll:
    def test_new_files_once_each_and_left_in_place(self, tmp_path: Path) -> None:
        """The first run takes every file, the next nothing, then only a newly arrived file;
        no file is moved or changed."""
        drop(tmp_path, "a.json", 1)
        drop(tmp_path, "b.json", 2)
        first, cursor = poll(tmp_path, None, args())
        assert sorted(serials(first)) == ["SN-1", "SN-2"]
        assert isinstance(cursor, str)
        again, same = poll(tmp_path, cursor, args())
        assert again == []
        assert same == cursor
        drop(tmp_path, "c.json", 3)
        later, _ = poll(tmp_path, cursor, args())
        assert serials(later) == ["SN-3"]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json", "c.json"]

    def test_oldest_first_in_batches(self, tmp_path: Path) -> None:
        """With ``batch = 1`` each run takes the file changed longest ago of those left (by
        name among files changed in the same clock tick)."""
        paths = [drop(tmp_path, f"{4 - n}.json", n) for n in (1, 2, 3)]  # 3.json first
        order = sorted(paths, key=lambda p: (p.stat().st_ctime_ns, p.name))
        expected = [f"SN-{4 - int(p.stem)}" for p in order]
        cursor: bytes | str | None = None
        seen = []
        for _ in range(4):
            found, cursor = poll(tmp_path, cursor, args(batch=1))
            seen += serials(found)
        assert seen == expected

    def test_a_rewritten_file_is_a_new_result(self, tmp_path: Path) -> None:
        """A file written again after it was taken is taken again, under another key."""
        path = drop(tmp_path, "a.json", 1)
        first, cursor = poll(tmp_path, None, args())
        taken = path.stat().st_ctime_ns
        path.write_bytes(built_report(7)[0])
        while path.stat().st_ctime_ns == taken:  # a coarse clock: the same tick as before
            os.utime(path)
        second, _ = poll(tmp_path, cursor, args())
        assert serials(second) == ["SN-7"]
        assert second[0][0] != first[0][0]
        assert second[0][0].startswith("a.json@")

    def test_unsettled_file_stops_the_list(self, tmp_path: Path) -> None:
        """A file changed less than ``settle`` seconds ago is not taken, nor anything after it,
        and the cursor stays."""
        drop(tmp_path, "a.json", 1)
        found, cursor = poll(tmp_path, None, args(settle=3600))
        assert found == []
        assert cursor is None

    def test_patterns_hidden_and_sub_folders(self, tmp_path: Path) -> None:
        """Include, exclude, hidden files and sub-folders (taken only when recursive)."""
        drop(tmp_path, "a.json", 1)
        drop(tmp_path, "b.json.part", 2)
        drop(tmp_path, ".c.json", 3)
        drop(tmp_path, "notes.txt", 4)
        drop(tmp_path / "sub", "d.json", 5)
        flat, _ = poll(tmp_path, None, args(include=["*.json", "*.part"]))
        assert serials(flat) == ["SN-1"]
        deep, _ = poll(tmp_path, None, args(include=["*.json"], recursive=True))
        assert sorted(serials(deep)) == ["SN-1", "SN-5"]
        assert any(key.startswith(f"sub{os.sep}d.json@") for key, _ in deep)

    def test_a_bad_file_stops_or_is_skipped(self, tmp_path: Path) -> None:
        """A file its converter rejects fails the run naming the file (``stop``), or is passed
        over (``skip``)."""
        drop(tmp_path, "a.json", 1)
        (tmp_path / "b.json").write_text("{not json")
        items, _ = FolderPollConverter().poll(str(tmp_path), None, args())
        with pytest.raises(FileRejected, match=r"^b\.json: "):
            list(items)
        found, _ = poll(tmp_path, None, args(on_error="skip"))
        assert serials(found) == ["SN-1"]

    def test_cursor_names_the_files_at_the_mark(self, tmp_path: Path) -> None:
        """The cursor is the latest change time taken and the names taken at it."""
        drop(tmp_path, "a.json", 1)
        _, cursor = poll(tmp_path, None, args())
        assert isinstance(cursor, str)
        value = json.loads(cursor)
        assert value["names"] == ["a.json"]
        assert value["ctime_ns"] == (tmp_path / "a.json").stat().st_ctime_ns
        with pytest.raises(FileRejected, match="cursor"):
            FolderPollConverter().poll(str(tmp_path), "garbage", args())

    @pytest.mark.parametrize(
        ("raw", "message"),
        [
            ({"converter": "nope"}, "must be a built-in file converter"),
            ({"converter": "folder-poll"}, "is not a file converter"),
            ({"converter": "csv", "converter_args": {"delimiter": 5}}, "converter_args"),
            ({"converter": "wsjf", "batch": 0}, "batch"),
        ],
    )
    def test_bad_arguments(self, raw: dict[str, Any], message: str) -> None:
        """Arguments naming no built-in file converter, or bad ones for it, are refused."""
        with pytest.raises(ConverterArgumentsError, match=message):
            validate_arguments("folder-poll", FolderPollArguments, raw)

    async def test_in_the_sandbox(self, tmp_path: Path) -> None:
        """Through a sandboxed worker: reports of the export folder's files, ids from the
        schedule and each file's key, and the files left as they were."""
        export = tmp_path / "export"
        drop(export, "a.json", 1)
        before = sorted((p.name, p.stat().st_mtime_ns) for p in export.iterdir())
        config = ConverterConfig(
            "folder-poll",
            name="poll",
            args={"converter": "wsjf", "settle": 0},
            read_paths=(str(export),),
        )
        async with open_converter_pool(
            settings(), converters=[config], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(60):
                result = await pool.poll("poll", str(export), None, scope="oven")
        assert isinstance(result, Converted)
        (report,) = result.reports
        assert msgspec.json.decode(report.wsjf)["sn"] == "SN-1"
        assert report.key is not None
        assert report.id == report_id(NAMESPACE, "folder-poll", scoped_hash("oven", report.key), 0)
        assert sorted((p.name, p.stat().st_mtime_ns) for p in export.iterdir()) == before
