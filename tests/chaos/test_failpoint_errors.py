"""Scenarios: the disk fails under the node (failpoints with the ``error`` action).

Each failpoint raises the error a failing disk would (SQLite's disk I/O error in the spool, an
``OSError`` in disposal) on a share of its passes while files flow. The node must stay up, must
not resend in a hot loop, and once the disk behaves, a restart without failpoints finishes with
the history checker accounting for everything.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from ._harness import chaos_run, size

pytestmark = pytest.mark.slow

FAILING = ["spool.commit", "spool.mark_sent", "disposal.move"]


class TestFailingDisk:
    @pytest.mark.parametrize("name", FAILING)
    async def test_errors_at_a_failpoint_stop_nothing_and_lose_nothing(
        self, tmp_path: Path, name: str
    ) -> None:
        """Half of the passes of the failpoint fail with an I/O error for a while: the node
        stays up, sends each report a bounded number of times, and everything arrives once
        the disk is healthy again (issue 8 A3, C9)."""
        files, seconds = size(12, 200), size(4, 60)
        async with chaos_run(tmp_path, seed=73) as run:
            node = run.start(failpoints=f"{name}=error%0.5")
            await run.wait_ready(node)
            await run.drop_at_rate(files, files / seconds)
            await trio.sleep(1)
            assert node.proc.poll() is None, f"the node exited {node.proc.returncode}"
            deliveries = run.emulator.delivery_count()
            run.figures.faults[f"{name}=error%0.5 s"] = seconds
            run.figures.faults["deliveries while failing"] = deliveries
            assert deliveries <= 3 * files, f"{deliveries} deliveries of {files} reports"
            assert await run.stop(node) == 0
            node = run.start()
            await run.wait_ready(node)
            await run.drain_stop_check(node, f"{name} failing", size(30, 300))
