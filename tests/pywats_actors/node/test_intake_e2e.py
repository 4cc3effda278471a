"""Station life at the node's intake, end to end: a test executive that writes its result row
by row with the file open, and a watch folder that disappears and comes back."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import msgspec
import trio

from pywats_actors.config import load_config
from pywats_actors.emulator import open_emulator
from pywats_actors.node import Node, WatchFolderBack, WatchFolderLost

from ._children import writer
from .test_node import TOKEN, report_file, running, wait_for, write_config

HEADER = "SerialNumber,PartNumber,StepName,Value,LowLimit,HighLimit,Unit\n"
STEPS = ["Vcc", "Icc", "Vref", "Leak"]


def _csv_folder(config: Path, folder: Path) -> None:
    config.write_text(
        config.read_text()
        + f"""
[[watch]]
id = "csv"
path = "{folder}"
include = ["*.csv"]
settle = 0.2
rescan_interval = 1
converter = "csv"
"""
    )


class TestPausingWriter:
    async def test_row_by_row_writer_is_uploaded_whole(self, tmp_path: Path) -> None:
        """Each row is followed by a pause of five settle intervals with the file open; the
        server receives one report with every step, and nothing before the file is closed."""
        folder = tmp_path / "csv"
        folder.mkdir()
        async with open_emulator(token=TOKEN) as emu:
            config = write_config(tmp_path, emu.url)
            _csv_folder(config, folder)
            async with running(load_config(config)):
                async with writer(folder / "u1.csv") as executive:
                    await executive.write(HEADER)
                    for step in STEPS:
                        await executive.write(f"SN-1,PCB-1,{step},3.3,3.0,3.6,V\n")
                        await trio.sleep(1.0)  # five settle intervals
                        assert emu.stats().ids == []
                        assert not (folder / "done").exists()
                    await executive.close()
                await wait_for(lambda: len(emu.stats().ids) == 1)
                await wait_for(lambda: (folder / "done" / "u1.csv").exists())
                stored = emu.stored_report(emu.stats().ids[0])
            assert emu.stats().duplicates == 0
        assert stored is not None
        text = msgspec.json.decode(stored)
        names = _step_names(text)
        assert [name for name in names if name in STEPS] == STEPS
        assert (folder / "done" / "u1.csv").read_text().count("\n") == 1 + len(STEPS)


class TestVanishingFolder:
    async def test_deleted_watch_folder_is_reported_on_the_bus_and_served_again(
        self, tmp_path: Path
    ) -> None:
        """A watch folder deleted while the node runs is reported on the node's event bus,
        and once re-created its files reach the server."""
        folder = tmp_path / "in"
        async with open_emulator(token=TOKEN) as emu:
            config = load_config(write_config(tmp_path, emu.url))
            async with running(config) as node:
                report_file(folder, 1)
                await wait_for(lambda: len(emu.stats().ids) == 1)
                shutil.rmtree(folder)
                await wait_for(lambda: len(_folder_events(node)) == 1, within=10)
                report_file(folder, 2)  # makes the folder again
                await wait_for(lambda: len(emu.stats().ids) == 2, within=10)
                events = _folder_events(node)
        assert [(type(e), e.folder) for e in events] == [
            (WatchFolderLost, "line1"),
            (WatchFolderBack, "line1"),
        ]


class TestBacklogOrder:
    async def test_a_backlog_reaches_the_server_in_the_order_it_was_made(
        self, tmp_path: Path
    ) -> None:
        """300 files waiting when the node starts, made in an order unrelated to their names,
        arrive at the server in nearly that order: the rank correlation between drop order
        and arrival order is above 0.9 (concurrent conversion and uploads may swap
        neighbours)."""
        folder = tmp_path / "in"
        n = 300
        base = 1_700_000_000_000_000_000
        dropped: list[str] = []
        for rank, i in enumerate(sorted(range(n), key=lambda i: (i * 7919) % n)):
            dropped.append(report_file(folder, i))
            path = folder / f"r{i}.json"
            os.utime(path, ns=(base + rank * 10**6, base + rank * 10**6))
        async with open_emulator(token=TOKEN) as emu:
            config = load_config(write_config(tmp_path, emu.url))
            async with running(config):
                await wait_for(lambda: len(emu.stats().ids) == n, within=120)
            arrived = emu.stats().ids
        assert sorted(arrived) == sorted(dropped)
        assert _rank_correlation(dropped, arrived) > 0.9


def _rank_correlation(first: list[str], second: list[str]) -> float:
    """Spearman's rank correlation of two orderings of the same items."""
    rank = {item: r for r, item in enumerate(second)}
    n = len(first)
    d2 = sum((r - rank[item]) ** 2 for r, item in enumerate(first))
    return 1 - 6 * d2 / (n * (n * n - 1))


def _folder_events(node: Node) -> list[WatchFolderLost | WatchFolderBack]:
    return [
        envelope.event
        for envelope in node.bus.recent()
        if isinstance(envelope.event, WatchFolderLost | WatchFolderBack)
    ]


def _step_names(node: object) -> list[str]:
    """Every step name in a decoded WSJF document, in document order."""
    names: list[str] = []
    if isinstance(node, dict):
        name = node.get("name")
        if isinstance(name, str) and ("stepType" in node or "numericMeas" in node):
            names.append(name)
        for value in node.values():
            names.extend(_step_names(value))
    elif isinstance(node, list):
        for item in node:
            names.extend(_step_names(item))
    return names
