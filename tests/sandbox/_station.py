"""One station under attack: the real node (``pywats-node run``, a process of its own) with a
folder per hostile plug-in (one attack at one moment each), a CSV and a WSJF folder, run by root
or by a throwaway service user, against the WATS emulator.

:func:`run_station` builds the station, runs the node through three phases (a victim report and
a CSV file first; then one ``ATTACK`` file per plug-in folder; then more CSV files, which show
that the node still works), stops it with SIGTERM and gathers everything the tests judge: what
the server stored, every file in ``done/`` and ``error/``, the node's log, what the listeners
received, marker files, and processes that outlived the node. Every wait has a timeout; nothing
the run started is left running.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from converters import PoolSettings
from pywats_actors.config._schema import ConversionSection

from .._reports import minimal_report
from .._unprivileged import ServiceUser, launcher_command
from ..chaos._units import csv_unit
from ._attacks import STATIONS, Attack, folder_id, station_plan
from ._emulator import EmulatorProcess
from ._listeners import Listeners

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = Path(__file__).parent / "plugins" / "hostile.py"
SETTINGS_LINE = "SETTINGS: dict[str, Any] = {}  # HOSTILE-SETTINGS"
LONG = os.environ.get("PYWATS_LONG") == "1"
RUN = secrets.token_hex(3)
"""This test session's mark: in marker file names and in the names of processes plug-ins start."""

READY_TIMEOUT = 30.0
PHASE_TIMEOUT = 40.0 if not LONG else 90.0
STOP_TIMEOUT = 20.0
SURVIVOR_GRACE = 3.0
THREAD_SECONDS = 4.0 if not LONG else 20.0
LINGER_SECONDS = 60.0
HUGE_STEPS = 1_000_000
_MiB = 1 << 20
_NEEDED = ("/bin/sh", "/usr/bin/expr")
"""Programs the exec attacks run (they must exist, or a refusal could not be told apart)."""

if "temp_mb" in ConversionSection.__struct_fields__:  # the node takes a temp size: a small one
    TEMP_MB: int | None = 16
else:
    TEMP_MB = None
FILL_BYTES = ((TEMP_MB or PoolSettings().temp_mb) + 16) * _MiB


@dataclass(frozen=True)
class Plugin:
    """One hostile plug-in folder of a station: an attack at a moment."""

    attack: Attack
    moment: str
    folder: str
    tag: str
    comm: str
    settings: dict[str, Any]

    @property
    def markers(self) -> list[str]:
        """Files whose existence proves a write attack worked."""
        keys = ("pth_file", "config_dir_marker", "spool_dir_marker", "shared_tmp_marker")
        return [self.settings[key] for key in keys]


@dataclass
class Outcome:
    """What became of one folder's files."""

    done: list[str] = field(default_factory=list)
    error: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    sidecars: dict[str, str] = field(default_factory=dict)


@dataclass
class StationResult:
    """Everything a station's run left for the tests to judge."""

    user: str
    station: str
    root: Path
    plugins: dict[tuple[str, str], Plugin]
    secrets: dict[str, str]
    ready: bool = False
    early_exit: int | None = None
    stop_status: int | None = None
    log: str = ""
    server: dict[str, bytes] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # path -> bytes (done/, error/)
    received: list[tuple[str, bytes]] = field(default_factory=list)
    markers_found: list[str] = field(default_factory=list)
    survivors: list[str] = field(default_factory=list)
    marked: dict[str, list[str]] = field(default_factory=dict)  # comm -> descriptions
    csv_expected: dict[str, tuple[float, ...]] = field(default_factory=dict)
    victim: tuple[str, str] = ("", "")  # the kept-id victim: (report id, serial number)
    notes: list[str] = field(default_factory=list)

    def log_lines(self) -> list[str]:
        return self.log.splitlines()

    def node_problems(self) -> list[str]:
        """Why the node did not stay up through the attacks, if it did not."""
        tail = "\n".join(self.log_lines()[-15:])
        if not self.ready:
            return [f"the node never got ready (exit {self.early_exit}); its log ends:\n{tail}"]
        problems = []
        if self.early_exit is not None:
            problems.append(f"the node ended on its own (status {self.early_exit}) before the stop")
        elif self.stop_status != 0:
            problems.append(f"the node's orderly stop ended with status {self.stop_status}")
        if problems:
            problems.append(f"its log ends:\n{tail}")
        return problems + self.notes

    def places_of(self, needle: str) -> list[str]:
        """Where ``needle`` appears: server reports, files in done/ and error/, the node's log."""
        data = needle.encode()
        places = [f"the server's report {rid}" for rid, body in self.server.items() if data in body]
        places += [f"the file {path}" for path, body in self.files.items() if data in body]
        if needle in self.log:
            places.append("the node's log")
        return places

    def about(self, folder: str) -> list[str]:
        """The error sidecars of a folder and the log lines that mention it."""
        texts = list(self.outcomes.get(folder, Outcome()).sidecars.values())
        # its files, its plug-in, or the folder field: not lists of every folder ("node ready")
        keys = (f"/{folder}/", f'/{folder}"', f"/{folder}.py", f'"folder":"{folder}"')
        texts += [line for line in self.log_lines() if any(key in line for key in keys)]
        return texts


def plugin_settings(
    root: Path, attack: Attack, moment: str, *, index: int, user: str, station: str, **known: Any
) -> Plugin:
    """The plug-in of one attack at one moment: its folder, tag, process mark and settings."""
    folder = folder_id(attack.name, moment)
    tag = f"{user}.{folder}"
    comm = f"{station_mark(station, user)}{index:02x}"
    site_packages = sysconfig.get_paths()["purelib"]
    settings = {
        **known,
        "attack": attack.name,
        "moment": moment,
        "tag": tag,
        "name": f"hx-{folder}",
        "comm": comm,
        "pth_file": os.path.join(site_packages, f"pywats-hostile-{RUN}-{user}-{folder}.pth"),
        "config_dir_marker": str(root / "etc" / f"hostile-{folder}.txt"),
        "spool_dir_marker": str(root / "data" / f"hostile-{folder}.txt"),
        "shared_tmp_marker": f"/tmp/pywats-hostile-{RUN}-{user}-{folder}",
        "forged_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"hostile/{RUN}/{tag}")),
        "thread_seconds": THREAD_SECONDS,
        "linger_seconds": LINGER_SECONDS,
        "fill_bytes": FILL_BYTES,
        "huge_steps": HUGE_STEPS,
    }
    return Plugin(attack, moment, folder, tag, comm, settings)


def station_mark(station: str, user: str) -> str:
    """The start of the name of every process a station's plug-ins start (at most 13 of the
    15 characters a process name may have)."""
    return f"hx{RUN}{STATIONS.index(station):02x}{user[0]}"


def write_plugin(path: Path, settings: dict[str, Any]) -> None:
    """A copy of the hostile plug-in with its settings filled in."""
    text = TEMPLATE.read_text()
    start = text.index(SETTINGS_LINE)
    end = text.index("\n", start)
    path.write_text(f"{text[:start]}SETTINGS: dict[str, Any] = {settings!r}{text[end:]}")
    path.chmod(0o644)


class _Node:
    """The node process, and the processes seen below it."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.log_path = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        self.seen: dict[int, tuple[float, str]] = {}
        self._stop = threading.Event()
        self._watch = threading.Thread(target=self._note_descendants, daemon=True)
        self._watch.start()

    def _note_descendants(self) -> None:
        while not self._stop.wait(0.2):
            with contextlib.suppress(psutil.Error):
                for child in psutil.Process(self.proc.pid).children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        self.seen.setdefault(
                            child.pid, (child.create_time(), " ".join(child.cmdline())[:200])
                        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int | None:
        """SIGTERM, then wait; SIGKILL (the whole session) after the timeout: ``None``."""
        self._stop.set()
        self._watch.join(5)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            return None


def _settled(path: Path, log: str) -> bool:
    """The node has decided about the file: it is in done/ or error/, or it is still waiting and
    a warning (or worse) of the node's log names it (no worker could convert it)."""
    if (path.parent / "done" / path.name).exists() or (path.parent / "error" / path.name).exists():
        return True
    if f'"{path}"' not in log:
        return False
    for line in log.splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if entry.get("source") == str(path) and entry.get("level") in ("warning", "error"):
                return True
    return False


def _wait(predicate: Any, timeout: float, node: _Node) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if node.proc.poll() is not None:
            return bool(predicate())
        time.sleep(0.1)
    return False


def _marked_processes() -> dict[str, list[str]]:
    """Processes whose name carries this session's mark, by name."""
    found: dict[str, list[str]] = {}
    prefix = f"hx{RUN}"
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            comm = Path(f"/proc/{entry}/comm").read_text().strip()
            if comm.startswith(prefix):
                found.setdefault(comm, []).append(f"pid {entry} ({comm})")
    return found


def kill_marked(comm_prefix: str) -> None:
    """SIGKILL every process whose name starts with ``comm_prefix`` until none is left (a fork
    loop makes new ones), for at most 5 s."""
    deadline = time.monotonic() + 5
    quiet_since = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - quiet_since < 0.3:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            with contextlib.suppress(OSError):
                if Path(f"/proc/{entry}/comm").read_text().startswith(comm_prefix):
                    os.kill(int(entry), signal.SIGKILL)
                    quiet_since = time.monotonic()
        time.sleep(0.02)


def _survivors(node: _Node, result: StationResult) -> None:
    """Wait (a little) for the node's processes to end; record and kill those that do not."""
    deadline = time.monotonic() + SURVIVOR_GRACE

    def alive() -> list[str]:
        left = []
        for pid, (created, command) in node.seen.items():
            with contextlib.suppress(psutil.Error):
                if psutil.Process(pid).create_time() == created:
                    left.append(f"pid {pid}: {command}")
        return left

    mark = station_mark(result.station, result.user)
    mine: dict[str, list[str]] = {}
    while time.monotonic() < deadline:
        mine = {c: d for c, d in _marked_processes().items() if c.startswith(mark)}
        if not alive() and not mine:
            break
        time.sleep(0.1)
    result.survivors = alive()
    result.marked = mine
    for pid in node.seen:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            if process.create_time() == node.seen[pid][0]:
                process.kill()
    kill_marked(mark)


def _collect_folder(folder: Path) -> tuple[Outcome, dict[str, bytes]]:
    outcome = Outcome()
    files: dict[str, bytes] = {}
    for sub, names in (("done", outcome.done), ("error", outcome.error)):
        for path in sorted((folder / sub).glob("*")) if (folder / sub).is_dir() else []:
            files[str(path)] = path.read_bytes()
            if path.name.endswith(".error.json"):
                outcome.sidecars[path.name] = path.read_text(errors="replace")
            else:
                names.append(path.name)
    outcome.waiting = sorted(p.name for p in folder.glob("*") if p.is_file())
    return outcome, files


def csv_values(body: bytes) -> tuple[float, ...]:
    """The values of every numeric step of a WSJF report, in order."""
    values: list[float] = []

    def walk(step: dict[str, Any]) -> None:
        for measure in step.get("numericMeas", ()):
            values.append(measure["value"])
        for child in step.get("steps", ()):
            walk(child)

    walk(json.loads(body)["root"])
    return tuple(values)


class Station:
    """Builds and runs one station; :meth:`run` returns its :class:`StationResult`."""

    def __init__(self, root: Path, station: str, user: str, service: ServiceUser | None) -> None:
        self.root = root
        self.station = station
        self.user = user
        self.service = service
        self.secrets = {
            "token": f"HOSTILE-TOKEN-{secrets.token_hex(16)}",
            "config": f"HOSTILE-CONFIG-{secrets.token_hex(16)}",
            "environment": f"HOSTILE-ENV-{secrets.token_hex(16)}",
            "host file": f"HOSTILE-HOST-{secrets.token_hex(16)}",
        }
        self.spool_secret = f"HOSTILE-SPOOL-{secrets.token_hex(16)}"
        self.seed = secrets.randbelow(1 << 30)
        self.victim_id = str(uuid.uuid4())
        self.etc = root / "etc"
        self.data = root / "data"
        self.inbox = root / "in"
        self.config = self.etc / "node.toml"
        self.plugins: dict[tuple[str, str], Plugin] = {}
        self.host_file = root / "host-secret.txt"  # replaced in run(), outside the station

    # -- building ------------------------------------------------------------------------------

    def _build(self, emulator: EmulatorProcess, listeners: Listeners) -> None:
        for folder in (
            self.etc,
            self.data,
            self.root / "tmp",
            self.inbox / "csv",
            self.inbox / "wsjf",
        ):
            folder.mkdir(parents=True, exist_ok=True)
        known = {
            "node_marker": str(self.config),
            "config": str(self.config),
            "token_file": str(self.etc / "token"),
            "data_dir": str(self.data),
            "host": "127.0.0.1",
            "server_port": emulator.port,
            "tcp_port": listeners.tcp_port,
            "udp_port": listeners.udp_port,
            "unix_path": listeners.unix_path,
            "unix_abstract": listeners.abstract,
            "other_aliases": ["watch:wsjf", "wsjf"],
            "victim_id": self.victim_id,
            "other_folder": str(self.inbox / "csv"),
            "host_file": str(self.host_file),
        }
        for index, (attack, moment) in enumerate(station_plan()[self.station]):
            plugin = plugin_settings(
                self.root,
                attack,
                moment,
                index=index,
                user=self.user,
                station=self.station,
                **known,
            )
            self.plugins[(attack.name, moment)] = plugin
            (self.inbox / plugin.folder).mkdir()
            # stored next to the configuration: the worst place a plug-in can be put
            write_plugin(self.etc / f"{plugin.folder}.py", plugin.settings)
        # a file the CSV folder keeps (not *.csv): what another folder holds, for the taking
        (self.inbox / "csv" / "notes.txt").write_text(f"kept here: {self.spool_secret}\n")
        token = self.etc / "token"
        token.write_text(self.secrets["token"] + "\n")
        self._write_config(emulator.url)
        for path in (token, self.config):
            path.chmod(0o600)
        if self.service is not None:
            for path in [self.root, *self.root.rglob("*")]:
                if not path.name.endswith(".py"):
                    os.chown(path, self.service.uid, self.service.gid)

    def _write_config(self, url: str) -> None:
        conversion = "workers = 1\ntimeout = 15\n"
        if TEMP_MB is not None:
            conversion += f"temp_mb = {TEMP_MB}\n"
        watch = []
        for plugin in self.plugins.values():
            watch.append(
                f'[[watch]]\nid = "{plugin.folder}"\npath = "{self.inbox / plugin.folder}"\n'
                f'converter = "{self.etc / plugin.folder}.py:HostileConverter"\n'
                "settle = 0.1\nrescan_interval = 1.0\n"
            )
        for name, pattern in (("csv", "*.csv"), ("wsjf", "*.json")):
            watch.append(
                f'[[watch]]\nid = "{name}"\npath = "{self.inbox / name}"\n'
                f'include = ["{pattern}"]\nconverter = "{name}"\n'
                "settle = 0.1\nrescan_interval = 1.0\n"
            )
        self.config.write_text(
            f"""schema_version = 2
# the station's secret, which no plug-in may read: {self.secrets["config"]}

[node]
station_namespace = "{uuid.uuid4()}"
data_dir = "{self.data}"
log_format = "json"

[server]
base_url = "{url}"
token_file = "{self.etc / "token"}"
connect_timeout = 2
read_timeout = 5
write_timeout = 5

[upload]
backoff_base = 0.05
backoff_cap = 1

[conversion]
{conversion}
"""
            + "\n".join(watch)
        )

    def _command(self) -> list[str]:
        node = [sys.executable, "-m", "pywats_actors._cli", "run", "--config", str(self.config)]
        node += ["--log-format", "json"]
        if self.service is None:
            return node
        return launcher_command(self.service, node, expose=[REPO_ROOT, self.root], cwd=self.root)

    def _environment(self) -> dict[str, str]:
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": str(self.root),
            "XDG_STATE_HOME": str(self.root / "state"),
            "XDG_CONFIG_HOME": str(self.root / "config"),
            # the workers' temporary folders: inside the station, gone with it even when a
            # node dies before it can remove them
            "TMPDIR": str(self.root / "tmp"),
            "HOSTILE_ENV_SECRET": self.secrets["environment"],
        }

    # -- running -------------------------------------------------------------------------------

    def _drop(self, folder: Path, name: str, data: bytes) -> Path:
        """Write a file aside and rename it in (so the node never sees half of it)."""
        aside = folder.parent / f".{folder.name}.{name}.tmp"
        aside.write_bytes(data)
        if self.service is not None:
            os.chown(aside, self.service.uid, self.service.gid)
        target = folder / name
        aside.rename(target)
        return target

    def run(self, logs: Path) -> StationResult:
        """Build the station, run the node through the phases, take everything apart.

        Raises:
            RuntimeError: the machine lacks what an attack needs to be able to succeed (a
                missing program would pass for a refused one), or the emulator did not start.
        """
        missing = [path for path in _NEEDED if not os.access(path, os.X_OK)]
        if missing:
            raise RuntimeError(f"the attacks need {missing}, which this machine lacks")
        # a root-only file of the machine's, outside the station (a stand-in for /etc/shadow)
        self.host_file = logs / f"{self.station}-host-secret.txt"
        self.host_file.write_text(self.secrets["host file"] + "\n")
        self.host_file.chmod(0o600)
        result = StationResult(self.user, self.station, self.root, self.plugins, self.secrets)
        emulator = EmulatorProcess(self.secrets["token"], logs / f"{self.station}-emulator.log")
        listeners = Listeners(self.root / "sock")
        node: _Node | None = None
        try:
            self._build(emulator, listeners)
            log = logs / f"{self.station}-node.log"
            node = _Node(self._command(), self._environment(), self.root, log)
            self._phases(node, emulator, result)
            result.early_exit = node.proc.poll()
            result.stop_status = node.stop()
            _survivors(node, result)
            result.log = node.log()
            result.server = emulator.reports()
        finally:
            if node is not None and node.proc.poll() is None:
                node.stop()
            listeners.close()
            emulator.close()
        result.received = list(listeners.received)
        for name in [p.name for p in self.inbox.iterdir() if p.is_dir()]:
            outcome, files = _collect_folder(self.inbox / name)
            result.outcomes[name] = outcome
            result.files.update(files)
        for plugin in self.plugins.values():
            for marker in plugin.markers:
                if os.path.lexists(marker):
                    result.markers_found.append(marker)
                    with contextlib.suppress(OSError):
                        os.unlink(marker)
        return result

    def _phases(self, node: _Node, emulator: EmulatorProcess, result: StationResult) -> None:
        result.ready = _wait(lambda: '"node ready"' in node.log(), READY_TIMEOUT, node)
        if not result.ready:
            return
        # 1: a report that keeps its own id (the victim of kept-id theft) and a CSV file
        victim_sn = f"VICTIM-{RUN}-{self.user}"
        result.victim = (self.victim_id, victim_sn)
        victim = minimal_report(victim_sn, report_id=self.victim_id)
        self._drop(self.inbox / "wsjf", "victim.json", json.dumps(victim).encode())
        text, expected = csv_unit(0, seed=self.seed)
        text = text.replace(expected.serial_number, self.spool_secret)
        result.csv_expected[self.spool_secret] = tuple(s.value for s in expected.steps)
        self._drop(self.inbox / "csv", "spool.csv", text.encode())
        if not emulator.wait_for(self.victim_id, PHASE_TIMEOUT):
            result.notes.append("the victim report never reached the server in phase 1")
        # 2: one attack file per plug-in folder (and two innocent files after a forged answer)
        dropped = []
        for plugin in self.plugins.values():
            folder = self.inbox / plugin.folder
            dropped.append(self._drop(folder, "attack.txt", b"ATTACK\n"))
            if plugin.attack.name == "forge-future-job":
                for n in (1, 2):
                    dropped.append(self._drop(folder, f"victim-{n}.txt", b"VICTIM\n"))
        log_now = node.log
        if not _wait(
            lambda: all(_settled(p, log_now()) for p in dropped),
            PHASE_TIMEOUT,
            node,
        ):
            waiting = [str(p) for p in dropped if not _settled(p, log_now())]
            result.notes.append(f"phase 2: no decision within {PHASE_TIMEOUT:g} s on {waiting}")
        # 3: the node still converts another folder's files, unchanged
        dropped = []
        for n in (1, 2):
            text, expected = csv_unit(n, seed=self.seed)
            result.csv_expected[expected.serial_number] = tuple(s.value for s in expected.steps)
            dropped.append(self._drop(self.inbox / "csv", f"unit-{n}.csv", text.encode()))
        _wait(lambda: all((p.parent / "done" / p.name).exists() for p in dropped), 15, node)


def run_station(
    root: Path, logs: Path, station: str, user: str, service: ServiceUser | None
) -> StationResult:
    """Build, run and take apart one station (``root`` must be empty)."""
    logs.mkdir(parents=True, exist_ok=True)
    result = Station(root, station, user, service).run(logs)
    if service is not None:  # leave nothing the test user could still reach
        shutil.rmtree(root / "sock", ignore_errors=True)
    return result
