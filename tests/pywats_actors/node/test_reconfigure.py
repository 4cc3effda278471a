"""Live reconfiguration: changing any key of the running node's file never stops intake."""

from __future__ import annotations

import copy
import json
import os
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from pywats_actors.config import (
    RESTART_REQUIRED_KEYS,
    ConversionSection,
    HealthSection,
    IpcSection,
    NodeConfig,
    NodeSection,
    Schedule,
    ServerSection,
    SpoolSection,
    UploadSection,
    WatchFolder,
    load_config,
)
from pywats_actors.emulator import Emulator, open_emulator
from pywats_actors.node import Node, open_node
from supervisors import ChildState

from ...converters.conftest import PLUGINS
from .test_node import NAMESPACE, TOKEN, report_file

ROWS = f"{PLUGINS / 'scheduled.py'}:RowFiles"

SECTIONS: dict[str, type[msgspec.Struct]] = {
    "node": NodeSection,
    "server": ServerSection,
    "upload": UploadSection,
    "spool": SpoolSection,
    "conversion": ConversionSection,
    "watch": WatchFolder,
    "schedule": Schedule,
    "health": HealthSection,
    "ipc": IpcSection,
}


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def to_toml(config: dict[str, Any]) -> str:
    lines = ["schema_version = 2"]
    for section, table in config.items():
        if section in ("watch", "schedule"):
            continue
        lines += ["", f"[{section}]", *(f"{k} = {toml_value(v)}" for k, v in table.items())]
    for folder in config["watch"]:
        lines += ["", "[[watch]]", *(f"{k} = {toml_value(v)}" for k, v in folder.items())]
    for item in config.get("schedule", ()):
        lines += ["", "[[schedule]]", *(f"{k} = {toml_value(v)}" for k, v in item.items())]
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(text)
    tmp.chmod(0o600)
    os.replace(tmp, path)


@dataclass
class Flow:
    """Files dropped into the current watch folder, and where each must arrive."""

    folder: Path
    counter: int = 1000
    ids: list[str] = field(default_factory=list)
    lock: trio.Lock = field(default_factory=trio.Lock)

    def drop(self) -> str:
        self.counter += 1
        rid = report_file(self.folder, self.counter)
        self.ids.append(rid)
        return rid

    async def keep_dropping(self, every: float) -> None:
        while True:
            async with self.lock:
                self.drop()
            await trio.sleep(every)


def arrived(emulators: list[Emulator]) -> set[str]:
    return {rid for emu in emulators for rid in emu.stats().ids}


async def wait_until(predicate: Any, within: float, what: str) -> None:
    """Poll *predicate* until it holds; fail naming *what* after *within* seconds."""
    with trio.move_on_after(within):
        while not predicate():
            await trio.sleep(0.05)
        return
    raise AssertionError(f"not within {within} s: {what}")


async def arrives(rid: str, emulators: list[Emulator], after: Step) -> None:
    """The report *rid* reaches one of *emulators* within 30 s."""
    await wait_until(lambda: rid in arrived(emulators), 30, f"{rid} after changing {after}")


@dataclass(frozen=True)
class Step:
    """One change: *section*.*key* (``watch``, ``schedule``: the table's key) set to *value*,
    with the keys of *also* (keys that must change with it, or, in a plain section, keys
    changed in the same reload: each counts as covered and must be reported)."""

    section: str
    key: str
    value: object
    also: dict[str, object] = field(default_factory=dict)  # keys that must change with it
    refused: bool = False  # the reload is refused; the running configuration stays


def steps(tmp_path: Path, second_url: str) -> list[Step]:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    return [
        Step("watch", "settle", 0.3),  # the reported bug: the one folder's watcher restarts
        # each restarts the folder's watcher, so keys of one kind change together
        Step(
            "watch",
            "include",
            ["*.json", "*.wsjf"],
            also={"exclude": ["*.tmp"], "recursive": True, "rescan_interval": 2.0},
        ),
        Step("watch", "converter", "wsjf"),
        Step("watch", "converter_args", {"location": "bay 2"}),
        Step("watch", "after_success", "delete"),
        Step("watch", "done_folder", "done2", also={"error_folder": "failed"}),
        # folder units need a named folder converter, and unit_* keys need folder units
        Step("watch", "unit", "folder", also={"converter": "auto"}, refused=True),
        Step(
            "watch",
            "unit_sibling",
            "required",
            also={"unit_marker": "*.done", "unit_min_files": 2, "unit_quiet": 5.0},
            refused=True,
        ),
        Step("watch", "path", str(tmp_path / "in2")),
        Step("watch", "id", "line1b"),
        Step("schedule", "interval", 10.0, also={"run_at_start": True, "timeout": 30.0}),
        Step("schedule", "converter_args", {"converter": "wsjf", "settle": 0, "batch": 5}),
        Step("schedule", "source", str(tmp_path / "export2")),
        Step("schedule", "cron", "*/5 * * * *", also={"interval": 0.0}),
        Step("schedule", "converter", ROWS, also={"converter_args": {}}),
        Step("schedule", "id", "poll1b"),
        # a file for another instance is refused: one instance never becomes another
        Step("node", "instance", "station-b", refused=True),
        Step("node", "station_name", "bench-7"),
        Step("node", "station_namespace", str(uuid.UUID(int=7))),
        Step("node", "data_dir", str(tmp_path / "data2")),
        Step("node", "log_format", "console", also={"log_level": "debug"}),
        Step("server", "token_file", str(token_file), also={"token": ""}),
        Step("server", "token", TOKEN, also={"token_file": ""}),
        # each restarts the uplink, so the keys of one kind change together
        Step(
            "server",
            "connect_timeout",
            4.0,
            also={"read_timeout": 20.0, "write_timeout": 20.0, "pool_timeout": 4.0},
        ),
        Step("server", "ping_interval", 2.0, also={"verify_tls": False, "trust_env": True}),
        Step("server", "base_url", second_url),
        Step("upload", "concurrency", 3, also={"max_concurrency": 8, "attempt_timeout": 60.0}),
        Step(
            "upload",
            "backoff_base",
            0.1,
            also={"backoff_multiplier": 3.0, "backoff_cap": 2.0},
        ),
        Step(
            "upload",
            "breaker_threshold",
            6,
            also={
                "breaker_open_for": 20.0,
                "breaker_max_open": 200.0,
                "max_requests_per_second": 500.0,
            },
        ),
        Step("upload", "separate_process", False),
        Step("spool", "path", str(tmp_path / "data" / "other.sqlite3")),
        Step("spool", "max_bytes", 1 << 29, also={"max_reports": 50_000}),
        Step("spool", "when_full", "error"),
        Step(
            "spool",
            "keep_sent_days",
            20.0,
            also={
                "keep_sent_bodies_days": 5.0,
                "keep_acknowledged_days": 400.0,
                "max_acknowledged": 100_000,
            },
        ),
        # each restarts the converter pool, so the keys of one kind change together
        Step(
            "conversion",
            "workers",
            1,
            also={
                "timeout": 30.0,
                "memory_mb": 512,
                "cpu_seconds": 30,
                "temp_mb": 64,
                "max_input_mb": 32,
                "max_output_mb": 16,
                "max_reports_per_file": 5000,
            },
        ),
        Step("conversion", "landlock", "off", also={"namespaces": "off", "seccomp": "off"}),
        Step(
            "conversion",
            "disabled",
            ["csv"],
            also={"plugins": ["pywats_actors.bench._trivial:Trivial"]},  # detects nothing
        ),
        # the health endpoints move (a fixed port on the IPv6 loopback), then stop serving
        Step("health", "port", free_port("::1"), also={"host": "::1"}),
        Step("health", "enabled", False),
        # each restarts the IPC server, so its limits change together
        Step(
            "ipc",
            "max_connections",
            8,
            also={
                "max_message_kb": 512,
                "rate_per_second": 20.0,
                "burst": 50,
                "read_timeout": 5.0,
                "idle_timeout": 600.0,
                "request_timeout": 10.0,
            },
        ),
        Step("ipc", "socket_path", str(tmp_path / "ipc2.sock")),
        Step("ipc", "transport", "tcp", also={"tcp_port": free_port("127.0.0.1")}),
        Step("ipc", "enabled", False),
    ]


def free_port(host: str) -> int:
    """A TCP port free on *host* right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def base_config(tmp_path: Path, url: str) -> dict[str, Any]:
    return {
        "node": {
            "station_namespace": NAMESPACE,
            "data_dir": str(tmp_path / "data"),
            "log_format": "json",
        },
        "server": {"base_url": url, "token": TOKEN, "ping_interval": 1.0},
        "upload": {"backoff_base": 0.05, "backoff_cap": 1.0},
        "conversion": {"workers": 2},
        "watch": [
            {
                "id": "line1",
                "path": str(tmp_path / "in"),
                "include": ["*.json"],
                "settle": 0.2,
                "rescan_interval": 1.0,
            }
        ],
        "schedule": [
            {
                "id": "poll1",
                "converter": "folder-poll",
                "converter_args": {"converter": "wsjf", "settle": 0},
                "source": str(tmp_path / "export"),
                "interval": 5.0,
            }
        ],
    }


def assert_everything_runs(node: Node, folder_id: str) -> None:
    stats = node.statistics()
    assert [c.id for c in stats.children if c.state is not ChildState.RUNNING] == []
    assert node.intake is not None
    assert node.intake.statistics().child(folder_id).state is ChildState.RUNNING


class TestEveryKeyWhileFilesFlow:
    def test_the_steps_cover_every_key_of_every_section(self, tmp_path: Path) -> None:
        """Each key of each section of the schema is changed by one step below (a key added
        to the schema without a step here fails this test)."""
        made = steps(tmp_path, "http://127.0.0.1:1")
        covered = {(s.section, key) for s in made for key in (s.key, *s.also)}
        expected = {
            (section, f.name)
            for section, struct in SECTIONS.items()
            for f in msgspec.structs.fields(struct)
        }
        assert covered == expected
        top = {f.name for f in msgspec.structs.fields(NodeConfig)}
        assert top == {*SECTIONS, "schema_version"}  # the version is the layout, not a setting

    async def test_every_key_changed_keeps_files_arriving(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """While files keep being dropped, each key of each section is changed in the file in
        turn; after every change a new file reaches the server, every part of the tree runs,
        the change is reported with its key, and exactly the keys that wait for a restart are
        reported as such. At the end every file dropped has arrived, none twice."""
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
            monkeypatch.delenv(name, raising=False)
        async with open_emulator(token=TOKEN) as first, open_emulator(token=TOKEN) as second:
            emulators = [first, second]
            config = base_config(tmp_path, first.url)
            path = tmp_path / "node.toml"
            write_atomically(path, to_toml(config))
            flow = Flow(folder=tmp_path / "in")
            for export in ("export", "export2"):
                (tmp_path / export).mkdir()
            async with open_node(load_config(path), stop_grace=10) as node:
                with node.bus.subscribe(topics=["config"]) as changes:
                    async with trio.open_nursery() as background:
                        background.start_soon(flow.keep_dropping, 0.1)
                        for step in steps(tmp_path, second.url):
                            await self._apply_step(
                                node, path, config, step, flow, changes, emulators
                            )
                            rid = flow.drop()
                            target = [second] if step.key == "base_url" else emulators
                            await arrives(rid, target, step)
                            assert_everything_runs(node, config["watch"][0]["id"])
                        background.cancel_scope.cancel()
                    await wait_until(lambda: set(flow.ids) <= arrived(emulators), 30, "all")
            assert first.stats().duplicates == second.stats().duplicates == 0
            assert second.stats().accepted > 0

    async def _apply_step(
        self,
        node: Node,
        path: Path,
        config: dict[str, Any],
        step: Step,
        flow: Flow,
        changes: Any,
        emulators: list[Emulator],
    ) -> None:
        new = copy.deepcopy(config)
        table = (
            new[step.section][0]
            if step.section in ("watch", "schedule")
            else new.setdefault(step.section, {})
        )
        table[step.key] = step.value
        table.update(step.also)
        moves = step.section == "watch" and step.key == "path"
        async with flow.lock:
            if moves:
                # files already in the old folder are taken before it stops being watched
                await wait_until(lambda: set(flow.ids) <= arrived(emulators), 30, "drained")
            write_atomically(path, to_toml(new))
            with trio.fail_after(30):
                applied = None
                while applied is None:
                    for envelope in await changes.receive():
                        if type(envelope.event).__name__ in ("ConfigApplied", "ConfigRefused"):
                            applied = envelope.event
            if moves:
                flow.folder = Path(str(step.value))
        if step.refused:
            assert type(applied).__name__ == "ConfigRefused"
            where = "watch[0]" if step.section == "watch" else step.section
            assert any(f"$.{where}.{step.key}" in p for p in applied.problems), applied.problems
            return
        assert type(applied).__name__ == "ConfigApplied", applied
        config.clear()
        config.update(new)
        folder_id = new["watch"][0]["id"]
        key = f"watch[{folder_id}].{step.key}" if step.section == "watch" else step.key
        if step.section == "schedule":
            key = f"schedule[{new['schedule'][0]['id']}].{step.key}"
        if step.section == "watch" and step.key == "id":
            assert applied.watch_added == ("line1b",)
            assert applied.watch_removed == ("line1",)
        elif step.section == "schedule" and step.key == "id":
            assert set(applied.keys) >= {"schedule[poll1b]", "schedule[poll1]"}
            running = node.statistics().find("conversion/schedules/poll1b").state
            assert running is ChildState.RUNNING
        elif step.section in ("watch", "schedule"):
            table = key.rsplit(".", 1)[0]  # watch[<id>] or schedule[<id>]
            for changed in (step.key, *step.also):  # keys changed together: each reported
                key = f"{table}.{changed}"
                assert key in applied.keys
                assert (key in applied.restart_required) == (key in RESTART_REQUIRED_KEYS)
        else:
            for changed in (step.key, *step.also):  # keys changed together: each reported
                key = f"{step.section}.{changed}"
                assert key in applied.keys
                assert (key in applied.restart_required) == (key in RESTART_REQUIRED_KEYS)
        if step.section == "health":  # the endpoints follow the change
            want = ("::1", step.value) if step.key == "port" else None
            await wait_until(lambda: node.health_address == want, 10, f"health at {want}")
        assert set(applied.restart_required) <= RESTART_REQUIRED_KEYS


class TestChangeThatCannotRun:
    async def test_a_converter_that_will_not_load_refuses_the_change_and_intake_goes_on(
        self, tmp_path: Path
    ) -> None:
        """A reload whose folder converter cannot load with its new arguments is refused with
        the reason; the running configuration stays, files keep arriving, every part runs,
        and fixing the file applies it."""
        async with open_emulator(token=TOKEN) as emu:
            config = base_config(tmp_path, emu.url)
            path = tmp_path / "node.toml"
            write_atomically(path, to_toml(config))
            flow = Flow(folder=tmp_path / "in")
            async with open_node(load_config(path), stop_grace=10) as node:
                with node.bus.subscribe(topics=["config"]) as changes:
                    bad = Step("watch", "converter_args", {"bogus": 1}, also={"converter": "wsjf"})
                    refused = await self._change(path, config, bad, changes)
                    assert type(refused).__name__ == "ConfigRefused"
                    assert any("bogus" in problem for problem in refused.problems)
                    assert node.config.watch[0].converter == "auto"
                    await arrives(flow.drop(), [emu], bad)
                    assert_everything_runs(node, "line1")
                    good = Step("watch", "converter_args", {"location": "bay 2"})
                    applied = await self._change(path, config, good, changes)
                    assert type(applied).__name__ == "ConfigApplied"
                    assert node.config.watch[0].converter == "wsjf"
                    await arrives(flow.drop(), [emu], good)
                    assert_everything_runs(node, "line1")

    @staticmethod
    async def _change(path: Path, config: dict[str, Any], step: Step, changes: Any) -> Any:
        """Write *config* with *step* applied and return the node's answer (applied or refused)."""
        folder = config["watch"][0]
        folder[step.key] = step.value
        folder.update(step.also)
        write_atomically(path, to_toml(config))
        with trio.fail_after(30):
            while True:
                for envelope in await changes.receive():
                    if type(envelope.event).__name__ in ("ConfigApplied", "ConfigRefused"):
                        return envelope.event
