"""The whole node end to end: files dropped in a watch folder reach the emulator exactly once."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from pywats_actors.config import LoadedConfig, load_config
from pywats_actors.emulator import Faults, open_emulator
from pywats_actors.node import Node, open_node
from pywats_actors.report import ReportBuilder

from ..._disk import small_tmpfs
from ..._reports import built_report

TOKEN = "c3RhdGlvbjpzZWNyZXQ="
NAMESPACE = "6f1c2d4e-8a9b-4c3d-9e2f-0a1b2c3d4e5f"


def write_config(
    tmp_path: Path, url: str, *, token: str = TOKEN, extra: str = "", upload: str = ""
) -> Path:
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
token = "{token}"
ping_interval = 1

[upload]
backoff_base = 0.05
backoff_cap = 1
{upload}

[conversion]
workers = 2

[[watch]]
id = "line1"
path = "{tmp_path / "in"}"
include = ["*.json"]
settle = 0.2
rescan_interval = 1
{extra}
"""
    )
    path.chmod(0o600)
    return path


def report_file(folder: Path, n: int) -> str:
    """Write report *n* (its id follows from *n*) as ``folder/r<n>.json``; returns its id."""
    body, report_id = built_report(n, id_label="node-test")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"r{n}.json").write_bytes(body)
    return report_id


@asynccontextmanager
async def running(config: LoadedConfig) -> AsyncIterator[Node]:
    async with open_node(config, stop_grace=10) as node:
        yield node


async def wait_for(predicate: object, within: float = 30) -> None:
    assert callable(predicate)
    with trio.fail_after(within):
        while not predicate():
            await trio.sleep(0.05)


class TestNodeEndToEnd:
    async def test_files_dropped_become_reports_on_the_server(self, tmp_path: Path) -> None:
        """WSJF files dropped in the watch folder arrive on the emulator with their own ids,
        and the files move to done/."""
        async with open_emulator(token=TOKEN) as emu:
            loaded = load_config(write_config(tmp_path, emu.url))
            ids = [report_file(tmp_path / "in", n) for n in range(5)]
            async with running(loaded) as node:
                await wait_for(lambda: emu.stats().accepted == 5)
                await wait_for(lambda: len(list((tmp_path / "in" / "done").glob("*.json"))) == 5)
                assert node.spool is not None
            assert sorted(emu.stats().ids) == sorted(ids)
            assert emu.stats().duplicates == 0

    async def test_http_in_the_node_process_and_a_folder_on_a_network_share(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The other paths give the same result: uploads with httpx in the node's own process
        (``separate_process = false``), and a folder taken for a network share, whose files
        are read and moved through worker threads."""
        monkeypatch.setattr("pywats_actors.node._pipeline.is_local", lambda path: False)
        async with open_emulator(token=TOKEN) as emu:
            config = write_config(tmp_path, emu.url, upload="separate_process = false")
            ids = [report_file(tmp_path / "in", n) for n in range(5)]
            async with running(load_config(config)) as node:
                await wait_for(lambda: emu.stats().accepted == 5)
                await wait_for(lambda: len(list((tmp_path / "in" / "done").glob("*.json"))) == 5)
                assert node.spool is not None
                await wait_for(lambda: node.spool is not None and node.spool.statistics().sent == 5)
            assert sorted(emu.stats().ids) == sorted(ids)
            assert emu.stats().duplicates == 0

    async def test_spool_section_reaches_the_spool(self, tmp_path: Path) -> None:
        """The [spool] keys, the ledger's bounds included, are the running spool's settings."""
        extra = (
            "\n[spool]\nmax_reports = 500\nmax_bytes = 1000000\nkeep_sent_days = 3\n"
            "keep_sent_bodies_days = 2\nkeep_acknowledged_days = 400\nmax_acknowledged = 12345\n"
        )
        async with open_emulator(token=TOKEN) as emu:
            loaded = load_config(write_config(tmp_path, emu.url, extra=extra))
            async with running(loaded) as node:
                assert node.spool is not None
                settings = node.spool.settings
        assert (settings.max_reports, settings.max_bytes) == (500, 1_000_000)
        assert (settings.sent_metadata_days, settings.sent_body_days) == (3, 2)
        assert (settings.acknowledged_days, settings.acknowledged_max) == (400, 12345)

    async def test_bad_file_goes_to_error_with_reason(self, tmp_path: Path) -> None:
        """A file no converter accepts lands in error/ with a sidecar; the node carries on."""
        async with open_emulator(token=TOKEN) as emu:
            loaded = load_config(write_config(tmp_path, emu.url))
            (tmp_path / "in").mkdir(parents=True)
            (tmp_path / "in" / "garbage.json").write_bytes(b"\x00\x01 not json at all")
            good = report_file(tmp_path / "in", 1)
            async with running(loaded):
                await wait_for(lambda: (tmp_path / "in" / "error" / "garbage.json").exists())
                await wait_for(lambda: emu.stats().accepted == 1)
            sidecar = json.loads(
                (tmp_path / "in" / "error" / "garbage.json.error.json").read_text()
            )
            assert sidecar["kind"] == "rejected"
            assert sidecar["reason"]
            assert emu.stats().ids == [good]

    async def test_server_down_then_up_nothing_lost_nothing_twice(self, tmp_path: Path) -> None:
        """Files converted while the server is down are uploaded once it is back."""
        async with open_emulator(token=TOKEN, faults=Faults(down=True)) as emu:
            loaded = load_config(write_config(tmp_path, emu.url))
            ids = [report_file(tmp_path / "in", n) for n in range(6)]
            async with running(loaded) as node:
                await wait_for(lambda: len(list((tmp_path / "in" / "done").glob("*.json"))) == 6)
                assert node.spool is not None
                assert node.spool.statistics().pending == 6
                emu.set_faults(Faults())
                await wait_for(lambda: emu.stats().accepted == 6)
            assert sorted(emu.stats().ids) == sorted(ids)
            assert emu.stats().duplicates == 0

    async def test_unsent_reports_survive_a_restart(self, tmp_path: Path) -> None:
        """Reports spooled while the server is away are uploaded by the next run of the node."""
        async with open_emulator(token=TOKEN, faults=Faults(down=True)) as emu:
            loaded = load_config(write_config(tmp_path, emu.url))
            ids = [report_file(tmp_path / "in", n) for n in range(3)]
            async with running(loaded):
                await wait_for(lambda: len(list((tmp_path / "in" / "done").glob("*.json"))) == 3)
            emu.set_faults(Faults())
            async with running(loaded):
                await wait_for(lambda: emu.stats().accepted == 3)
            assert sorted(emu.stats().ids) == sorted(ids)

    async def test_token_fixed_by_config_reload_resumes_uploads(self, tmp_path: Path) -> None:
        """A 401 pauses uploads; writing the right token into the config file resumes them."""
        async with open_emulator(token=TOKEN) as emu:
            path = write_config(tmp_path, emu.url, token="d3Jvbmc6dG9rZW4=")
            loaded = load_config(path)
            report_file(tmp_path / "in", 1)
            async with running(loaded) as node:
                await wait_for(
                    lambda: node.link is not None and node.link.state.value == "auth_failed"
                )
                alerts = [e for e in node.bus.recent(topics=["server"]) if e.event.alert]
                assert alerts
                write_config(tmp_path, emu.url)  # the right token
                await wait_for(lambda: emu.stats().accepted == 1)

    async def test_embedded_submit_is_durable_and_uploaded(self, tmp_path: Path) -> None:
        """A report submitted in code returns a receipt once spooled, then reaches the server."""
        async with open_emulator(token=TOKEN) as emu:
            loaded = load_config(write_config(tmp_path, emu.url))
            async with running(loaded) as node:
                b = ReportBuilder(
                    pn="X",
                    sn="1",
                    rev="A",
                    process_code=10,
                    machine_name="m",
                    location="l",
                    purpose="p",
                )
                b.root.pass_fail("Power on", True)
                receipt = await node.submit(b.build())
                again = await node.submit(b.build())
                await wait_for(lambda: emu.stats().accepted == 1)
            assert receipt.new
            assert not again.new
            assert emu.stats().ids == [receipt.report_id]


CHAOS = Path(__file__).resolve().parents[2] / "converters" / "plugins" / "misbehaving.py"


class TestHostileConverters:
    async def test_node_survives_converters_that_raise_crash_hang_eat_memory_and_fork(
        self, tmp_path: Path
    ) -> None:
        """Each bad file ends in error/ with its kind of failure; good files keep flowing;
        the node keeps running and no stray process is left."""
        import psutil

        extra = f"""
[[watch]]
id = "chaos"
path = "{tmp_path / "chaos"}"
include = ["*.txt"]
settle = 0.2
rescan_interval = 1
converter = "{CHAOS}:Chaos"
"""
        bad = {
            "raise.txt": ("raise", "rejected"),
            "segv.txt": ("segv", "crashed"),
            "hang.txt": ("hang", "timed_out"),
            "alloc.txt": ("alloc 3000", "out_of_memory"),
            "fork.txt": ("fork", "timed_out"),
        }
        async with open_emulator(token=TOKEN) as emu:
            config = write_config(tmp_path, emu.url, extra=extra)
            config.write_text(
                config.read_text().replace(
                    "[conversion]\nworkers = 2", "[conversion]\nworkers = 2\ntimeout = 2"
                )
            )
            loaded = load_config(config)
            (tmp_path / "chaos").mkdir(parents=True)
            for name, (command, _) in bad.items():
                (tmp_path / "chaos" / name).write_text(command)
            (tmp_path / "chaos" / "fine.txt").write_text("fine")
            good = report_file(tmp_path / "in", 1)
            async with running(loaded) as node:
                errors = tmp_path / "chaos" / "error"
                await wait_for(
                    lambda: all((errors / f"{n}.error.json").exists() for n in bad), within=60
                )
                await wait_for(lambda: emu.stats().accepted == 2, within=30)
                assert node.supervisor is not None
                assert not node.supervisor.statistics().stopping
                me = psutil.Process()

                def workers() -> list[psutil.Process]:
                    """The node's worker launchers (each with its worker below it)."""
                    return [p for p in me.children() if "converters._worker" in p.cmdline()]

                def settled() -> bool:
                    try:
                        launchers = workers()
                        return len(launchers) == 4 and all(
                            len(launcher.children(recursive=True)) == 1 for launcher in launchers
                        )
                    except psutil.Error:  # one ended meanwhile: not settled yet
                        return False

                # dead workers are replaced (after their backoff), never multiplied: two per
                # trust domain (the built-ins, and the plug-in's own); the forks were killed,
                # so below each launcher there is only its worker
                await wait_for(settled, within=20)
            for name, (_, kind) in bad.items():
                sidecar = json.loads((errors / f"{name}.error.json").read_text())
                assert sidecar["kind"] == kind, (name, sidecar)
                assert sidecar["converter"]
            assert good in emu.stats().ids
            assert (tmp_path / "chaos" / "done" / "fine.txt").exists()


class TestReload:
    async def test_invalid_reload_is_refused_and_the_node_keeps_working(
        self, tmp_path: Path
    ) -> None:
        """A broken config file is refused with its problem's path; files keep flowing."""
        async with open_emulator(token=TOKEN) as emu:
            path = write_config(tmp_path, emu.url)
            loaded = load_config(path)
            async with running(loaded) as node:
                path.write_text(path.read_text().replace("workers = 2", "workers = 0"))
                await wait_for(
                    lambda: any(
                        type(e.event).__name__ == "ConfigRefused" for e in node.bus.recent()
                    ),
                    within=20,
                )
                refused = next(
                    e.event for e in node.bus.recent() if type(e.event).__name__ == "ConfigRefused"
                )
                assert any("$.conversion.workers" in p for p in refused.problems)
                rid = report_file(tmp_path / "in", 9)
                await wait_for(lambda: rid in emu.stats().ids)
                assert node.config.conversion.workers == 2

    async def test_new_watch_folder_is_picked_up_without_restart(self, tmp_path: Path) -> None:
        """Adding a [[watch]] table to the running node's file starts watching that folder."""
        async with open_emulator(token=TOKEN) as emu:
            path = write_config(tmp_path, emu.url)
            loaded = load_config(path)
            async with running(loaded) as node:
                text = (
                    path.read_text()
                    + f"""
[[watch]]
id = "line2"
path = "{tmp_path / "in2"}"
include = ["*.json"]
settle = 0.2
rescan_interval = 1
"""
                )
                path.write_text(text)
                await wait_for(lambda: node.config.watch[-1].id == "line2", within=20)
                rid = report_file(tmp_path / "in2", 5)
                await wait_for(lambda: rid in emu.stats().ids)
                await wait_for(lambda: (tmp_path / "in2" / "done" / "r5.json").exists())


class TestServerRefusal:
    async def test_report_refused_by_the_server_is_kept_as_rejected(self, tmp_path: Path) -> None:
        """A 400 marks the report rejected in the spool with the server's message; its file is
        accounted for in done/ (it converted), and nothing is retried."""
        async with open_emulator(token=TOKEN, faults=Faults(reject=1.0)) as emu:
            loaded = load_config(write_config(tmp_path, emu.url))
            rid = report_file(tmp_path / "in", 4)
            async with running(loaded) as node:
                assert node.spool is not None
                spool = node.spool
                await wait_for(lambda: spool.statistics().rejected == 1)
                record = await spool.show(rid)
                assert record.summary.last_error is not None
                assert "400" in record.summary.last_error
                assert "Injected rejection" in record.summary.last_error
                requests_then = emu.stats().faults["reject"]
                await trio.sleep(1.5)
                assert emu.stats().faults["reject"] == requests_then  # no retry
            assert (tmp_path / "in" / "done" / "r4.json").exists()
            assert emu.stats().ids == []


class TestDiskFull:
    async def test_full_disk_pauses_intake_and_loses_nothing(self, tmp_path: Path) -> None:
        """With the spool's disk full, files wait in their folder (intake paused, an event says
        so); once there is room again, every report arrives and every file moves to done/."""
        with small_tmpfs(tmp_path / "data", 8) as data:
            async with open_emulator(token=TOKEN) as emu:
                loaded = load_config(write_config(tmp_path, emu.url))
                ids = [report_file(tmp_path / "in", n) for n in range(3)]
                async with running(loaded) as node:
                    # below the spool's free-space reserve (64 MiB): intake pauses
                    await wait_for(
                        lambda: any(
                            type(e.event).__name__ == "SpoolIntake" and e.event.paused
                            for e in node.bus.recent()
                        ),
                        within=20,
                    )
                    await trio.sleep(1)
                    assert emu.stats().ids == []
                    assert sorted(p.name for p in (tmp_path / "in").glob("*.json")) == [
                        "r0.json",
                        "r1.json",
                        "r2.json",
                    ]
                    with trio.fail_after(30):
                        await trio.run_process(["mount", "-o", "remount,size=256m", str(data)])
                    await wait_for(lambda: len(emu.stats().ids) == 3, within=40)
                    await wait_for(
                        lambda: len(list((tmp_path / "in" / "done").glob("*.json"))) == 3
                    )
                assert sorted(emu.stats().ids) == sorted(ids)


class TestStationName:
    async def test_csv_reports_carry_the_station_name(self, tmp_path: Path) -> None:
        """CSV files become reports whose machineName is the configured station name."""
        import msgspec

        async with open_emulator(token=TOKEN) as emu:
            path = write_config(tmp_path, emu.url)
            path.write_text(
                path.read_text().replace("[node]\n", '[node]\nstation_name = "ICT-07"\n')
                + f"""
[[watch]]
id = "csv"
path = "{tmp_path / "csv"}"
include = ["*.csv"]
settle = 0.2
converter = "csv"
"""
            )
            loaded = load_config(path)
            (tmp_path / "csv").mkdir()
            (tmp_path / "csv" / "u1.csv").write_text(
                "SerialNumber,PartNumber,StepName,Value,LowLimit,HighLimit,Unit\n"
                "SN-1,PCB-1,Vcc,3.3,3.0,3.6,V\n"
            )
            async with running(loaded):
                await wait_for(lambda: len(emu.stats().ids) == 1)
                stored = emu.stored_report(emu.stats().ids[0])
        assert stored is not None
        assert msgspec.json.decode(stored)["machineName"] == "ICT-07"


class TestKeptIdConflict:
    async def test_a_file_carrying_another_files_id_is_an_error_not_a_silent_duplicate(
        self, tmp_path: Path
    ) -> None:
        """WSJF file A is uploaded; file B carries A's id with other content: B goes to error/
        with a sidecar naming A, and the server receives one report (A's). A dropped again is
        still a quiet duplicate: done/, nothing sent again."""
        import hashlib

        first, report_id = built_report(7, id_label="node-conflict")
        other, other_id = built_report(7, id_label="node-conflict", sn="SN-forged")
        assert other_id == report_id
        inbox = tmp_path / "in"
        inbox.mkdir()
        async with open_emulator(token=TOKEN) as emu:
            async with running(load_config(write_config(tmp_path, emu.url))) as node:
                (inbox / "a.json").write_bytes(first)
                await wait_for(lambda: emu.delivery_count() == 1)
                await wait_for(lambda: (inbox / "done" / "a.json").exists())
                (inbox / "b.json").write_bytes(other)
                await wait_for(lambda: (inbox / "error" / "b.json.error.json").exists())
                (inbox / "again.json").write_bytes(first)
                await wait_for(lambda: (inbox / "done" / "again.json").exists())
                assert node.spool is not None
                stats = node.spool.statistics()
            deliveries = emu.deliveries()
        sidecar = json.loads((inbox / "error" / "b.json.error.json").read_text())
        assert sidecar["kind"] == "id_conflict"
        assert (
            f"report id {report_id} is already in the spool from {inbox / 'a.json'}"
            in (sidecar["reason"])
        )
        assert (inbox / "error" / "b.json").read_bytes() == other
        assert not (inbox / "error" / "again.json.error.json").exists()
        assert [(d.report_id, d.sha256) for d in deliveries] == [
            (report_id, hashlib.sha256(first).hexdigest())
        ]
        assert (stats.pending, stats.sent, stats.enqueued) == (0, 1, 1)
