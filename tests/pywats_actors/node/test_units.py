"""Folder units end to end: a Klippel DUT (header file + folder) dropped in a watch folder with
``unit = "folder"`` reaches the emulator once and moves to done/ or error/ as a whole."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import msgspec
import pytest
import trio

from pywats_actors.config import load_config
from pywats_actors.emulator import open_emulator

from .test_node import NAMESPACE, TOKEN, running, wait_for

NAME = "DUT xyz115 2020-05-14 10-01-37-5 UTC+0200"


def write_config(tmp_path: Path, url: str, quiet: float = 0.4) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(
        f"""
schema_version = 2

[node]
station_namespace = "{NAMESPACE}"
data_dir = "{tmp_path / "data"}"
log_format = "json"

[server]
base_url = "{url}"
token = "{TOKEN}"
ping_interval = 1

[upload]
backoff_base = 0.05
backoff_cap = 1

[conversion]
workers = 1

[[watch]]
id = "klippel"
path = "{tmp_path / "in"}"
unit = "folder"
unit_sibling = "required"
unit_quiet = {quiet}
converter = "klippel"
"""
    )
    path.chmod(0o600)
    return path


@pytest.fixture
def sample(samples_dir: Path) -> Path:
    return samples_dir / "klippel"


def drop(sample: Path, folder: Path) -> None:
    """Copy the sample DUT (its folder, then its header file) into *folder*."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(sample / NAME, folder / NAME)
    shutil.copy(sample / f"{NAME}.txt", folder / f"{NAME}.txt")


def entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


class TestFolderUnits:
    async def test_a_unit_arrives_once_and_moves_whole_and_again_is_not_stored_twice(
        self, tmp_path: Path, sample: Path
    ) -> None:
        """The DUT gives one report (serial xyz115) and moves to done/ with its header; the
        same DUT dropped again is a new unit (done/ gets NAME~1) whose report has the same
        id, so the server still holds one report and was sent none twice."""
        folder = tmp_path / "in"
        drop(sample, folder)
        async with open_emulator(token=TOKEN) as emu:
            async with running(load_config(write_config(tmp_path, emu.url))):
                await wait_for(lambda: len(emu.stats().ids) == 1)
                await wait_for(lambda: entries(folder) == ["done"])
                assert entries(folder / "done") == [NAME, f"{NAME}.txt"]
                assert entries(folder / "done" / NAME) == entries(sample / NAME)
                drop(sample, folder)
                await wait_for(lambda: entries(folder) == ["done"])
                assert entries(folder / "done") == [
                    NAME,
                    f"{NAME}.txt",
                    f"{NAME}~1",
                    f"{NAME}~1.txt",
                ]
                stored = emu.stored_report(emu.stats().ids[0])
            stats = emu.stats()
        assert len(stats.ids) == 1
        assert stats.duplicates == 0
        assert stored is not None
        report = msgspec.json.decode(stored)
        assert report["sn"] == "xyz115"
        assert report["result"] == "F"

    async def test_a_unit_spooled_but_not_moved_is_not_sent_again_after_a_restart(
        self, tmp_path: Path, sample: Path
    ) -> None:
        """done/ is blocked by a file: the unit's report is uploaded but the unit stays; after
        a restart with done/ usable it moves there, and the server got its report once."""
        folder = tmp_path / "in"
        drop(sample, folder)
        (folder / "done").write_text("a file where the done folder should be")
        async with open_emulator(token=TOKEN) as emu:
            loaded = load_config(write_config(tmp_path, emu.url))
            async with running(loaded):
                await wait_for(lambda: emu.stats().accepted == 1)
                await trio.sleep(0.5)  # a disposal try or two fail meanwhile
                assert entries(folder) == [NAME, f"{NAME}.txt", "done"]
            (folder / "done").unlink()
            async with running(loaded):
                await wait_for(lambda: entries(folder) == ["done"])
                assert entries(folder / "done") == [NAME, f"{NAME}.txt"]
            stats = emu.stats()
        assert stats.accepted == 1
        assert len(stats.ids) == 1
        assert stats.duplicates == 0

    async def test_a_unit_still_being_written_is_taken_only_when_complete(
        self, tmp_path: Path, sample: Path
    ) -> None:
        """The header first, then a curve file every 0.2 s (quiet time 1 s): nothing is taken
        while files arrive; then the unit is taken once, its report holding every file."""
        folder = tmp_path / "in"
        unit = folder / NAME
        unit.mkdir(parents=True)
        shutil.copy(sample / f"{NAME}.txt", folder / f"{NAME}.txt")
        async with open_emulator(token=TOKEN) as emu:
            async with running(load_config(write_config(tmp_path, emu.url, quiet=1.0))):
                for path in sorted((sample / NAME).iterdir()):
                    shutil.copy(path, unit / path.name)
                    await trio.sleep(0.2)
                    assert emu.stats().ids == []
                    assert entries(folder) == [NAME, f"{NAME}.txt"]
                await wait_for(lambda: len(emu.stats().ids) == 1)
                await wait_for(lambda: entries(folder) == ["done"])
                stored = emu.stored_report(emu.stats().ids[0])
            assert len(emu.stats().ids) == 1
        assert stored is not None
        steps = [
            (step["stepType"], step["name"])
            for sequence in msgspec.json.decode(stored)["root"]["steps"]
            for step in sequence["steps"]
        ]
        assert sorted(name for kind, name in steps if kind == "WATS_XYGMNLT") == [
            "Impedance imp",
            "Sound Pressure rbz",
            "Sound Pressure resp",
            "Sound Pressure thd",
        ]
        assert ("ET_NLT", "level") in steps

    async def test_a_broken_unit_goes_to_error_whole_with_its_reason(
        self, tmp_path: Path, sample: Path
    ) -> None:
        """A header with a line that is not Key=Value: the folder and header move to error/
        beside NAME.error.json naming the line; nothing is uploaded."""
        folder = tmp_path / "in"
        drop(sample, folder)
        header = folder / f"{NAME}.txt"
        header.write_bytes(header.read_bytes() + b"\nthis is not a key\n")
        async with open_emulator(token=TOKEN) as emu:
            async with running(load_config(write_config(tmp_path, emu.url))):
                await wait_for(lambda: entries(folder) == ["error"])
                errors = folder / "error"
                await wait_for(lambda: len(entries(errors)) == 3)
            assert emu.stats().ids == []
        assert entries(errors) == [NAME, f"{NAME}.error.json", f"{NAME}.txt"]
        reason = json.loads((errors / f"{NAME}.error.json").read_text())
        assert reason["kind"] == "rejected"
        assert "Key=Value" in reason["reason"]
        assert f"{NAME}.txt line" in reason["reason"]
        assert f"{NAME}/Impedance-imp.txt" in reason["unit"]
