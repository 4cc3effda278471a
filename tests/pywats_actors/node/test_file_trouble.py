"""The whole node when files misbehave: a file rewritten while it is processed, a folder whose
done/ cannot be used, a stop while the spool pauses intake. Real emulator, real workers, real
files; each file's trouble stays with that file or folder, and the node never restarts a branch.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from structlog.testing import capture_logs

from converters import PoolSettings
from pywats_actors.config import load_config
from pywats_actors.emulator import open_emulator
from pywats_actors.node import (
    ConversionUnavailable,
    ConverterWorkersBack,
    ConverterWorkersDown,
    DisposalFailed,
    FileChangedMeanwhile,
    FileDisposed,
    FolderDegraded,
    FolderRecovered,
    Node,
    open_node,
)
from pywats_actors.node._bus import NodeEvent
from pywats_actors.node._supervision import SupervisionEvent
from supervisors import ChildState

from .test_node import NAMESPACE, TOKEN, report_file, running, wait_for, write_config
from .test_pipeline import wsjf


def events(node: Node, kind: type[NodeEvent]) -> list[NodeEvent]:
    return [e.event for e in node.bus.recent() if isinstance(e.event, kind)]


def restarts(node: Node) -> list[SupervisionEvent]:
    """Every child that exited abnormally, was restarted or made a supervisor give up."""
    return [
        e
        for e in events(node, SupervisionEvent)
        if isinstance(e, SupervisionEvent)
        and (
            e.what in ("restarting", "gave_up")
            or (e.what == "exited" and e.reason_kind != "normal")
        )
    ]


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pywats_actors.node._retries.RETRY_FIRST", 0.1)
    monkeypatch.setattr("pywats_actors.node._retries.RETRY_CAP", 0.5)


class TestRewrittenWhileProcessed:
    async def test_rewrite_between_commit_and_disposal_loses_neither_version(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A result file rewritten under the same name after its reports were committed and
        before it was moved stays in the folder; both versions reach the server, and done/
        holds the second."""
        first, first_id = wsjf(101)
        second, second_id = wsjf(102)
        path = tmp_path / "in" / "r.json"
        rewritten: list[bool] = []

        def at_failpoint(name: str) -> None:
            if name == "pipeline.committed" and not rewritten:
                rewritten.append(True)
                path.write_bytes(second)

        monkeypatch.setattr("pywats_actors.node._pipeline.failpoint", at_failpoint)
        async with open_emulator(token=TOKEN) as emu:
            loaded = load_config(write_config(tmp_path, emu.url))
            path.parent.mkdir(parents=True)
            path.write_bytes(first)
            async with running(loaded) as node:
                await wait_for(lambda: len(emu.stats().ids) == 2)
                await wait_for(lambda: (tmp_path / "in" / "done" / "r.json").exists())
                assert [e.stage for e in events(node, FileChangedMeanwhile)] == ["disposal"]  # type: ignore[attr-defined]
                assert not restarts(node)
            assert sorted(emu.stats().ids) == sorted([first_id, second_id])
            assert emu.stats().accepted == 2
        assert (tmp_path / "in" / "done" / "r.json").read_bytes() == second
        assert not path.exists()


def _immutable(folder: Path, on: bool) -> bool:
    if shutil.which("chattr") is None:
        return False
    done = subprocess.run(
        ["chattr", "+i" if on else "-i", str(folder)], capture_output=True, check=False
    )
    return done.returncode == 0


class TestFolderThatCannotDispose:
    @pytest.mark.parametrize("how", ["done_is_a_file", "done_is_immutable"])
    async def test_broken_folder_is_degraded_and_the_rest_goes_on(
        self, tmp_path: Path, how: str, quick_retries: None
    ) -> None:
        """With two watch folders, one whose done/ cannot be used: its files are converted and
        uploaded once, stay in place, and the folder is degraded; the other folder works as
        usual; nothing restarts. Once done/ is usable the waiting files move there and the
        folder recovers."""
        if os.geteuid() != 0:
            pytest.skip("root bypasses permissions; the faults used here need root to undo")
        broken, fine = tmp_path / "in", tmp_path / "in2"
        done = broken / "done"
        broken.mkdir()
        second = f"""
[[watch]]
id = "line2"
path = "{fine}"
include = ["*.json"]
settle = 0.2
rescan_interval = 1
"""
        try:
            async with open_emulator(token=TOKEN) as emu:
                loaded = load_config(write_config(tmp_path, emu.url, extra=second))
                async with running(loaded) as node:
                    # broken while the node runs (the configuration check refuses a done/ that
                    # is a file at start)
                    if how == "done_is_a_file":
                        done.write_text("a file where the done folder should be")
                    else:
                        done.mkdir()
                        if not _immutable(done, True):
                            pytest.skip("chattr +i is not available on this file system")
                    ids = [report_file(broken, n) for n in range(3)]
                    ids += [report_file(fine, n) for n in range(3, 6)]
                    await wait_for(lambda: len(emu.stats().ids) == 6)
                    await wait_for(lambda: len(list((fine / "done").glob("*.json"))) == 3)
                    await wait_for(lambda: bool(events(node, FolderDegraded)))
                    status = node.folder_status()
                    assert status["line1"].state == "degraded"
                    assert status["line1"].awaiting_disposal == 3
                    assert status["line2"].state == "ok"
                    failed = events(node, DisposalFailed)
                    assert {e.folder for e in failed} == {"line1"}  # type: ignore[attr-defined]
                    assert sorted(p.name for p in broken.glob("*.json")) == [
                        "r0.json",
                        "r1.json",
                        "r2.json",
                    ]
                    # the fault is fixed: the waiting files move on their next retry
                    if how == "done_is_a_file":
                        done.unlink()
                    else:
                        _immutable(done, False)
                    await wait_for(lambda: len(list((broken / "done").glob("*.json"))) == 3)
                    await wait_for(lambda: bool(events(node, FolderRecovered)))
                    assert len(events(node, FileDisposed)) == 3
                    assert node.folder_status()["line1"].state == "ok"
                    assert node.folder_status()["line1"].awaiting_disposal == 0
                    assert not restarts(node)
                stats = emu.stats()
                assert sorted(stats.ids) == sorted(ids)
                assert stats.accepted == 6  # every report once: none uploaded again
        finally:
            if how == "done_is_immutable":
                _immutable(done, False)


class TestStopWhileIntakePaused:
    async def test_stop_ends_the_wait_for_room_at_once(self, tmp_path: Path) -> None:
        """A stop while a converted file waits for the spool to resume intake returns at once,
        not after the grace period; the file stays in its folder and is taken at the next
        start."""
        folder = tmp_path / "in"

        def config(max_reports: int) -> Path:
            path = tmp_path / "node.toml"
            path.write_text(
                f"""
schema_version = 2

[node]
station_namespace = "{NAMESPACE}"
data_dir = "{tmp_path / "data"}"

[spool]
max_reports = {max_reports}

[[watch]]
id = "line1"
path = "{folder}"
include = ["*.json"]
settle = 0.2
rescan_interval = 1
"""
            )
            path.chmod(0o600)
            return path

        report_file(folder, 0)
        async with open_node(load_config(config(1)), stop_grace=60) as node:
            await wait_for(lambda: (folder / "done" / "r0.json").exists())
            await wait_for(lambda: node.spool is not None and node.spool.intake_paused is not None)
            report_file(folder, 1)
            await wait_for(lambda: node.pool is not None and node.pool.statistics().converted == 2)
            await trio.sleep(0.2)  # the file now waits for room
            with trio.fail_after(15):  # far below the 60 s grace
                await node.stop(60)
        assert (folder / "r1.json").exists()
        async with open_node(load_config(config(10)), stop_grace=10) as node:
            await wait_for(lambda: (folder / "done" / "r1.json").exists())
            assert node.spool is not None
            assert node.spool.statistics().pending == 2


class TestWorkersCannotStart:
    async def test_node_waits_out_workers_that_cannot_start(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """While no converter worker can be started (the interpreter is gone) for far longer
        than the pool's restart intensity allows, the node keeps running: one event says so,
        files stay in their folder, uploads go on; once workers start again, one event says
        that and the files are converted and uploaded."""
        python = tmp_path / "python3"  # an interpreter that can be taken away and brought back
        script = f'#!/bin/sh\nexec "{sys.executable}" "$@"\n'
        python.write_text(script)
        python.chmod(0o755)
        real = PoolSettings

        def pool_settings(**values: object) -> PoolSettings:
            return real(
                **values,  # type: ignore[arg-type]
                python=str(python),
                restart_intensity=2,
                backoff_min=0.05,
                start_backoff_max=0.5,
            )

        monkeypatch.setattr("pywats_actors.node._worker_settings.PoolSettings", pool_settings)
        folder = tmp_path / "in"
        async with open_emulator(token=TOKEN) as emu:
            config = load_config(write_config(tmp_path, emu.url))
            async with running(config) as node:
                first = report_file(folder, 1)
                await wait_for(lambda: emu.stats().ids == [first])
                assert node.pool is not None
                python.unlink()
                for slot in node.pool.statistics().slots:
                    assert slot.pid is not None
                    os.kill(slot.pid, signal.SIGKILL)
                await wait_for(lambda: bool(events(node, ConverterWorkersDown)))
                with capture_logs() as logs:
                    waiting = [report_file(folder, n) for n in (2, 3, 4)]
                    submitted, submitted_id = wsjf(77)
                    await node.submit(submitted)  # uploads go on meanwhile
                    await wait_for(lambda: submitted_id in emu.stats().ids)
                    await trio.sleep(4)  # some 15 failed starts per slot; intensity is 2
                assert node.pool is not None
                assert node.pool.running
                assert sorted(p.name for p in folder.glob("*.json")) == [
                    "r2.json",
                    "r3.json",
                    "r4.json",
                ]
                assert len(events(node, ConversionUnavailable)) >= 3
                slots = node.statistics().find("conversion/pool").supervisors[0].children
                assert {w.state for w in slots} == {ChildState.DEGRADED}  # never "running"
                assert all("no worker process can start" in (w.degraded or "") for w in slots)
                python.write_text(script)
                python.chmod(0o755)
                await wait_for(lambda: bool(events(node, ConverterWorkersBack)), within=10)
                await wait_for(lambda: set(waiting) <= set(emu.stats().ids), within=10)
                await wait_for(  # each slot recovers once its own backoff has run out
                    lambda: (
                        {
                            w.state
                            for w in node.statistics()
                            .find("conversion/pool")
                            .supervisors[0]
                            .children
                        }
                        == {ChildState.RUNNING}
                    ),
                    within=10,
                )
                down = events(node, ConverterWorkersDown)
                back = events(node, ConverterWorkersBack)
                branch_restarts = restarts(node)
            assert emu.stats().duplicates == 0
        per_file = [e for e in logs if e["event"].startswith("no conversion could run")]
        assert len(per_file) >= 3
        assert {e["log_level"] for e in per_file} == {"info"}  # the outage was said once
        assert len(down) == 1
        reason = down[0].reason  # type: ignore[attr-defined]
        assert "no worker of converter domain 'builtin' can start" in reason
        assert len(back) == 1
        assert branch_restarts == []
        assert not list(folder.glob("*.json"))
