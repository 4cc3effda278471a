"""Scenario: SIGTERM while the node is busy converting and uploading, then a restart."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from pywats_actors.emulator import Faults

from ._harness import chaos_run, size

pytestmark = pytest.mark.slow


class TestSigtermUnderLoad:
    async def test_orderly_stops_under_load_lose_nothing_and_log_nothing_alarming(
        self, tmp_path: Path
    ) -> None:
        """Each SIGTERM while files are converted and uploaded ends the node with exit 0 and
        no error line in its log; the next start carries on, and in the end every file is on
        the server once and whole."""
        stops, per_stop = size(2, 10), size(80, 200)
        # a little latency keeps uploads in flight when the signal comes
        async with chaos_run(tmp_path, seed=31, faults=Faults(latency=0.02)) as run:
            for _ in range(stops):
                node = run.start()
                await run.wait_ready(node)
                before = len(run.delivered_ids())
                async with trio.open_nursery() as nursery:
                    # files keep coming while the signal arrives: conversions are in flight
                    nursery.start_soon(run.drop_at_rate, per_stop, 100)
                    with trio.fail_after(60):
                        while len(run.delivered_ids()) < before + per_stop // 3:
                            await trio.sleep(0.01)
                    assert await run.stop(node, within=30) == 0
                assert node.alarming_lines() == []
            run.emulator.set_faults(Faults())
            node = run.start()
            await run.wait_ready(node)
            run.figures.drain_seconds = await run.drain(node, size(120, 600))
            assert await run.stop(node) == 0
            assert node.alarming_lines() == []
            run.figures.faults["SIGTERM under load"] = stops
            verdict = run.verdict()
            run.report("SIGTERM under load", verdict)
            verdict.assert_ok()
            assert verdict.delivered == verdict.files == len(run.dropped)
