"""Intake: one folder that cannot be watched never stops the node or the other folders."""

from __future__ import annotations

from pathlib import Path

from pywats_actors.config import load_config
from pywats_actors.emulator import open_emulator
from pywats_actors.node import open_node
from supervisors import ChildState

from .test_node import TOKEN, report_file, wait_for, write_config


class TestFolderInTrouble:
    async def test_a_folder_that_cannot_be_created_is_retried_while_the_others_work(
        self, tmp_path: Path
    ) -> None:
        """A watch folder whose path cannot be created (a file in the way) does not stop
        the node from starting: the other folder's files arrive, the statistics show the bad
        folder's watcher degraded (never running) with the reason, and once the path can be
        created it is watched and its files arrive too."""
        blocker = tmp_path / "blocker"
        extra = f"""
[[watch]]
id = "line2"
path = "{blocker / "in"}"
include = ["*.json"]
settle = 0.2
rescan_interval = 1
"""
        async with open_emulator(token=TOKEN) as emu:
            loaded = load_config(write_config(tmp_path, emu.url, extra=extra))
            # it goes bad after the check (a share not mounted yet when the service starts)
            blocker.write_text("a file where a folder should be")
            async with open_node(loaded.config, stop_grace=10) as node:
                good = report_file(tmp_path / "in", 1)
                await wait_for(lambda: good in emu.stats().ids)
                stats = node.statistics()
                line2 = stats.find("intake/line2")
                assert line2.state is ChildState.DEGRADED
                assert line2.degraded is not None
                assert "Not a directory" in line2.degraded
                assert stats.find("intake/line1").state is ChildState.RUNNING
                assert stats.child("intake").state is ChildState.RUNNING
                blocker.unlink()
                late = report_file(blocker / "in", 2)
                await wait_for(lambda: late in emu.stats().ids, within=120)
                assert node.statistics().find("intake/line2").state is ChildState.RUNNING
