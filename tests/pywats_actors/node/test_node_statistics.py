"""The node's whole supervision tree in one statistics call."""

from __future__ import annotations

from pathlib import Path

from pywats_actors.config import load_config
from pywats_actors.emulator import open_emulator
from pywats_actors.node import open_node
from supervisors import ChildState

from .test_node import TOKEN, report_file, wait_for, write_config


class TestNodeStatistics:
    async def test_one_call_shows_every_level_of_the_tree(self, tmp_path: Path) -> None:
        """``Node.statistics()`` lists the node's children and, below them, the uplink's
        monitor and uploader, the conversion's pool with each worker and the pipeline, and
        one watcher per folder, all running."""
        async with open_emulator(token=TOKEN) as emu:
            loaded = load_config(write_config(tmp_path, emu.url))
            rid = report_file(tmp_path / "in", 1)
            async with open_node(loaded, stop_grace=10) as node:
                await wait_for(lambda: rid in emu.stats().ids)
                tree = node.statistics()
        paths = [path for path, _ in tree.walk()]
        for expected in (
            "config",
            "spool",
            "uplink/server",
            "uplink/uploader",
            "conversion/pool/worker-0",
            "conversion/pool/worker-1",
            "conversion/pipeline",
            "intake/line1",
            "control",
        ):
            assert expected in paths
        assert {child.state for _, child in tree.walk()} == {ChildState.RUNNING}
        assert tree.find("conversion").kind == "supervisor"
        assert tree.find("conversion/pool/worker-0").incarnation >= 1
        workers = [tree.find(f"conversion/pool/worker-{n}") for n in (0, 1)]
        assert all(w.pid is not None and w.pid > 0 for w in workers)
        assert workers[0].pid != workers[1].pid
        assert tree.find("uplink/upload-process").pid is not None
