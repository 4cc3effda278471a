"""Scenarios: the node killed with -9 at random moments, and at each named failpoint.

Each ends with a node that runs without faults until everything is drained, and the history
checker accounting for every file dropped and every delivery the server saw.
"""

from __future__ import annotations

import random
import signal
from pathlib import Path

import pytest
import trio

from pywats_actors._failpoints import FAILPOINTS

from ._harness import ChaosRun, NodeProcess, chaos_run, size

pytestmark = pytest.mark.slow


async def finish(run: ChaosRun, scenario: str, *, within: float = 120) -> None:
    """Start a clean node, drain, stop it in order, and check the whole history."""
    node = run.start()
    await run.wait_ready(node)
    run.figures.drain_seconds = await run.drain(node, within)
    assert await run.stop(node) == 0
    verdict = run.verdict()
    run.report(scenario, verdict)
    verdict.assert_ok()
    assert verdict.delivered == verdict.files == len(run.dropped)


class TestKillNine:
    async def test_random_kills_while_files_flow_lose_and_repeat_nothing(
        self, tmp_path: Path
    ) -> None:
        """Files keep arriving while the node is killed with -9 at random moments and
        restarted; afterwards every file is on the server once, whole, with one body per id."""
        files, kills = size(60, 2000), size(3, 40)
        rng = random.Random(7)
        busy_kills = 0
        async with chaos_run(tmp_path, seed=7) as run:
            run.drop(files // 4)
            async with trio.open_nursery() as nursery:
                # spread the rest over the whole kill phase (about 2.2 s a cycle)
                nursery.start_soon(run.drop_at_rate, files - files // 4, files / (kills * 2.2))
                for _ in range(kills):
                    node = run.start()
                    await run.wait_ready(node)
                    await trio.sleep(rng.uniform(0.2, 2.0))
                    busy_kills += len(run.delivered_ids()) < len(run.dropped)
                    await run.kill9(node)
            assert busy_kills > 0, "no kill came while the node had work"
            run.figures.faults["kills with work in flight"] = busy_kills
            await finish(run, "kill -9 at random moments", within=size(120, 900))


class TestFailpoints:
    @pytest.mark.parametrize("name", sorted(FAILPOINTS))
    async def test_kill_at_failpoint_then_restart_loses_and_repeats_nothing(
        self, tmp_path: Path, name: str
    ) -> None:
        """The process is killed at the K-th pass of the failpoint; a restart without it
        finishes the job with nothing lost, duplicated or truncated."""
        passes = [3] if not size(0, 1) else [1, 2, 3, 5, 8, 13]
        files = size(16, 400)
        async with chaos_run(tmp_path, seed=11) as run:
            for nth in passes:
                run.drop(files // len(passes))
                rule = f"{name}=kill@{nth}"
                node = run.start(failpoints=rule)
                if await run.wait_ready_or_exit(node):
                    fired = await _wait_fired(run, node, within=60)
                else:  # killed while starting: the spool commits at open (retention)
                    fired = node.proc.returncode == -signal.SIGKILL
                assert fired, f"{rule} never fired (exit {node.proc.returncode})"
                run.figures.failpoints.append(rule)
                await run.kill9(node)
            await finish(run, f"kill at failpoint {name}", within=size(90, 300))


async def _wait_fired(run: ChaosRun, node: NodeProcess, within: float) -> bool:
    """Wait until the failpoint killed the node, or (sender.answered) an upload process;
    a file more every half second keeps the node passing its failpoints meanwhile."""
    seen: set[int] = set()
    next_drop = trio.current_time() + 0.5
    with trio.move_on_after(within):
        while True:
            if trio.current_time() >= next_drop:
                run.drop(1)
                next_drop += 0.5
            if node.proc.poll() is not None:
                return node.proc.returncode == -signal.SIGKILL
            running = node.sender_pids()
            if seen - running:
                return True
            seen |= running
            await trio.sleep(0.02)
    return False
