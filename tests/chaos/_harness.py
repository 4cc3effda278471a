"""The chaos driver: the real node (``pywats-node run``) against the emulator through the proxy.

A :class:`ChaosRun` owns a temporary station: a configuration, one CSV watch folder, the node's
data directory. It drops generated files (recording each one's content and the report it must
become), starts, kills and stops node processes (with failpoints in their environment when
asked), waits for the node to drain, and hands everything the witnesses saw to the history
checker. Every node process and every process it started is gone when the run ends.

``PYWATS_LONG=1`` selects the soak sizes; ``PYWATS_CHAOS_REPORT=FILE`` appends one JSON line per
scenario with its figures (what ``docs/reliability.md`` tabulates).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import trio

from converters import report_id
from pywats_actors.chaos import (
    DroppedFile,
    ExpectedReport,
    FaultProxy,
    History,
    HistoryVerdict,
    HistoryViolations,
    check_history,
    open_fault_proxy,
    read_emulator,
    read_folder,
    read_spool,
)
from pywats_actors.emulator import Emulator, Faults, open_emulator

from ._units import csv_unit

LONG = os.environ.get("PYWATS_LONG") == "1"
TOKEN = "Y2hhb3M6c2VjcmV0"
NODE = [sys.executable, "-m", "pywats_actors._cli", "run", "--log-format", "json"]
_ALARMING = ("error", "critical", "exception")
SHORT_BREAKER = "breaker_open_for = 1\nbreaker_max_open = 2"


def size(short: int, long: int) -> int:
    """The short (CI) or the long (soak) figure."""
    return long if LONG else short


@dataclass
class NodeProcess:
    """One ``pywats-node run`` process, its log file and the processes it started."""

    proc: subprocess.Popen[bytes]
    log: Path
    descendants: dict[int, psutil.Process] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def note_descendants(self) -> None:
        """Remember the processes the node started (the upload process, the workers)."""
        try:
            for child in psutil.Process(self.pid).children(recursive=True):
                self.descendants.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            pass

    def sender_pids(self) -> set[int]:
        """The pids of the node's upload processes now running."""
        self.note_descendants()
        found = set()
        for pid, child in self.descendants.items():
            try:
                if _running(child) and "_sender" in " ".join(child.cmdline()):
                    found.add(pid)
            except psutil.Error:
                continue
        return found

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log.read_bytes().splitlines():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                lines.append({"level": "unparsed", "event": raw.decode(errors="replace")})
        return lines

    def alarming_lines(self) -> list[dict[str, Any]]:
        """Log lines an operator would alert on (error or worse, or not JSON at all)."""
        return [line for line in self.log_lines() if line.get("level") in (*_ALARMING, "unparsed")]


@dataclass
class Figures:
    """What a scenario did, for the report line."""

    kills: int = 0
    failpoints: list[str] = field(default_factory=list)
    orphans: int = 0
    drain_seconds: float = 0.0
    faults: dict[str, int] = field(default_factory=dict)


class ChaosRun:
    """One station under chaos. Make it with :func:`chaos_run`."""

    def __init__(
        self,
        root: Path,
        emulator: Emulator,
        proxy: FaultProxy,
        *,
        seed: int,
        upload: str,
        spool: str,
        data: Path | None = None,
    ) -> None:
        self.root = root
        self.emulator = emulator
        self.proxy = proxy
        self.seed = seed
        self.namespace = uuid.uuid4()
        self.inbox = root / "in"
        self.inbox.mkdir(parents=True)
        self.data = data or root / "data"
        self.dropped: list[DroppedFile] = []
        self.expected_ids: set[str] = set()
        self.nodes: list[NodeProcess] = []
        self.figures = Figures()
        self.config = root / "node.toml"
        self.upload = upload
        self.spool = spool
        self.write_config()

    def write_config(self, *, settle: float = 0.2, rescan_interval: float = 1.0) -> None:
        """Write the node's configuration (atomically, mode 0600): a running node reloads it."""
        text = f"""schema_version = 2

[node]
station_namespace = "{self.namespace}"
data_dir = "{self.data}"
log_format = "json"

[server]
base_url = "{self.proxy.url}"
token = "{TOKEN}"
ping_interval = 1
connect_timeout = 2
read_timeout = 3
write_timeout = 3

[upload]
concurrency = 4
attempt_timeout = 5
backoff_base = 0.05
backoff_cap = 1
{self.upload}

[spool]
{self.spool}

[conversion]
workers = 2

[[watch]]
id = "line1"
path = "{self.inbox}"
include = ["*.csv"]
converter = "csv"
settle = {settle}
rescan_interval = {rescan_interval}
"""
        temporary = self.config.with_name(".node.toml.tmp")
        temporary.write_text(text)
        temporary.chmod(0o600)
        temporary.rename(self.config)

    # -- files ---------------------------------------------------------------------------

    def drop(self, count: int) -> list[str]:
        """Drop *count* new CSV files, each written aside and renamed in (atomically); returns
        the ids of the reports they must become."""
        ids = []
        for _ in range(count):
            n = len(self.dropped)
            text, expected = csv_unit(n, seed=self.seed)
            content = text.encode()
            final = self.inbox / f"unit-{n:06d}.csv"
            temporary = self.inbox / f".unit-{n:06d}.csv.tmp"
            temporary.write_bytes(content)
            temporary.rename(final)
            ids.append(self.record(final, content, expected))
        return ids

    def record(self, path: Path, content: bytes, expected: ExpectedReport) -> str:
        """Record a file a writer of the test's own made (with its final content); returns
        the id of the report it must become."""
        dropped = DroppedFile(path=str(path), content=content, expected=(expected,))
        self.dropped.append(dropped)
        rid = str(report_id(self.namespace, "csv", dropped.sha256, 0))
        self.expected_ids.add(rid)
        return rid

    def drop_broken(self, count: int) -> None:
        """Drop *count* files that no converter can read: they belong in ``error/``."""
        for _ in range(count):
            n = len(self.dropped)
            final = self.inbox / f"broken-{n:06d}.csv"
            content = f"this is not a test result ({self.seed}/{n})\n\x00\x01".encode()
            temporary = self.inbox / f".broken-{n:06d}.csv.tmp"
            temporary.write_bytes(content)
            temporary.rename(final)
            self.dropped.append(DroppedFile(path=str(final), content=content, expected=()))

    async def drop_at_rate(self, count: int, per_second: float) -> None:
        """Drop *count* files at a steady rate."""
        for _ in range(count):
            self.drop(1)
            await trio.sleep(1.0 / per_second)

    # -- node processes ------------------------------------------------------------------

    def start(self, failpoints: str | None = None) -> NodeProcess:
        """Start a node; with *failpoints*, ``PYWATS_FAILPOINTS`` is set for it (and for the
        processes it starts)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYWATS_")}
        if failpoints:
            env["PYWATS_FAILPOINTS"] = failpoints
        log = self.root / f"node-{len(self.nodes)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*NODE, "--config", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        node = NodeProcess(proc, log)
        self.nodes.append(node)
        return node

    async def wait_ready(self, node: NodeProcess, within: float = 60) -> None:
        if not await self.wait_ready_or_exit(node, within):
            raise AssertionError(f"node exited {node.proc.returncode}: {node.log}")

    async def wait_ready_or_exit(self, node: NodeProcess, within: float = 60) -> bool:
        """Whether the node got ready (``False``: it exited first, see its return code)."""
        with trio.fail_after(within):
            while b"node ready" not in node.log.read_bytes():
                if node.proc.poll() is not None:
                    return False
                await trio.sleep(0.05)
        node.note_descendants()
        return True

    async def wait_exit(self, node: NodeProcess, within: float = 60) -> int:
        with trio.fail_after(within):
            while node.proc.poll() is None:
                node.note_descendants()
                await trio.sleep(0.02)
        return node.proc.returncode

    async def kill9(self, node: NodeProcess) -> None:
        """SIGKILL the node, then give its orphans 10 s to notice and go (counted if not)."""
        node.note_descendants()
        if node.proc.poll() is None:
            os.kill(node.pid, signal.SIGKILL)
        await self.wait_exit(node)
        self.figures.kills += 1
        await self.reap(node, grace=10.0)

    async def reap(self, node: NodeProcess, *, grace: float) -> None:
        """Wait up to *grace* for the node's descendants to exit; SIGKILL and count the rest."""
        deadline = trio.current_time() + grace
        alive = list(node.descendants.values())
        while alive and trio.current_time() < deadline:
            alive = [p for p in alive if _running(p)]
            await trio.sleep(0.05)
        for process in alive:
            self.figures.orphans += 1
            try:
                process.kill()
            except psutil.Error:
                continue
        node.descendants.clear()

    async def stop(self, node: NodeProcess, within: float = 60) -> int:
        """SIGTERM the node and wait for it to exit; returns its exit code."""
        if node.proc.poll() is None:
            node.proc.send_signal(signal.SIGTERM)
        code = await self.wait_exit(node, within)
        await self.reap(node, grace=10.0)
        return code

    def kill_everything(self) -> None:
        """Make sure no process of this run is left (called at the end, whatever happened)."""
        for node in self.nodes:
            node.note_descendants()
            if node.proc.poll() is None:
                node.proc.kill()
                node.proc.wait(timeout=10)
            for process in node.descendants.values():
                try:
                    process.kill()
                except psutil.Error:
                    continue

    # -- the end ---------------------------------------------------------------------------

    def delivered_ids(self) -> set[str]:
        return {d.report_id for d in self.emulator.deliveries()}

    def undelivered(self) -> set[str]:
        """Expected ids neither on the server nor rejected by it (with the reason spooled)."""
        missing = self.expected_ids - self.delivered_ids()
        if missing:
            rows = read_spool(self.spool_path) if self.spool_path.exists() else ()
            missing -= {row.report_id for row in rows if row.state == "rejected"}
        return missing

    def inbox_files(self) -> list[str]:
        return [
            entry.name
            for entry in os.scandir(self.inbox)
            if entry.is_file() and not entry.name.startswith(".")
        ]

    async def drain(self, node: NodeProcess, within: float) -> float:
        """Wait until every dropped file is on the server, the folder is empty and nothing is
        pending in the spool; returns the seconds it took."""
        start = time.monotonic()
        with trio.move_on_after(within):
            while True:
                if node.proc.poll() is not None:
                    raise AssertionError(f"node exited {node.proc.returncode} while draining")
                node.note_descendants()
                if self.undelivered() == set() and not self.inbox_files():
                    rows = read_spool(self.spool_path)
                    if not any(row.state == "pending" for row in rows):
                        return time.monotonic() - start
                await trio.sleep(0.2)
        verdict = self.verdict()  # why it did not drain, as far as the witnesses tell
        missing = len(self.undelivered())
        raise AssertionError(
            f"not drained after {within} s: {missing} report(s) not on the server, "
            f"{len(self.inbox_files())} file(s) in the folder\n"
            + (str(HistoryViolations(verdict)) if verdict.violations else verdict.summary())
        )

    async def drain_stop_check(self, node: NodeProcess, scenario: str, within: float) -> None:
        """Drain the running node, stop it in order, and check the whole history."""
        self.figures.drain_seconds = await self.drain(node, within)
        assert await self.stop(node) == 0
        verdict = self.verdict()
        self.report(scenario, verdict)
        verdict.assert_ok()
        accounted = verdict.delivered + verdict.rejected + verdict.in_error
        assert accounted == verdict.files == len(self.dropped)

    @property
    def spool_path(self) -> Path:
        return self.data / "spool.sqlite3"

    def verdict(self) -> HistoryVerdict:
        history = History(
            dropped=tuple(self.dropped),
            spool=read_spool(self.spool_path),
            folders=(read_folder(self.inbox),),
            server=read_emulator(self.emulator),
        )
        return check_history(history, namespace=self.namespace, converter="csv")

    def report(self, scenario: str, verdict: HistoryVerdict) -> None:
        """Append this scenario's figures to ``$PYWATS_CHAOS_REPORT`` (when set)."""
        target = os.environ.get("PYWATS_CHAOS_REPORT")
        if not target:
            return
        figures = self.figures
        emulator_faults = {k: v for k, v in self.emulator.stats().faults.items() if v}
        line = {
            "scenario": scenario,
            "long": LONG,
            "files": verdict.files,
            "delivered": verdict.delivered,
            "reports": verdict.reports,
            "deliveries": verdict.deliveries,
            "resends": verdict.resends,
            "lost": verdict.lost,
            "duplicated": verdict.duplicated,
            "truncated": verdict.truncated,
            "in_error": verdict.in_error,
            "rejected": verdict.rejected,
            "violations": len(verdict.violations),
            "kills": figures.kills,
            "failpoints": figures.failpoints,
            "orphans_killed": figures.orphans,
            "drain_seconds": round(figures.drain_seconds, 2),
            "api_requests": self.emulator.stats().requests,
            "emulator_faults": emulator_faults,
            "proxy_faults": self.proxy.stats().faults,
            "scenario_faults": figures.faults,
        }
        with open(target, "a") as out:
            out.write(json.dumps(line) + "\n")


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@asynccontextmanager
async def chaos_run(
    root: Path,
    *,
    seed: int = 1,
    faults: Faults | None = None,
    upload: str = SHORT_BREAKER,
    spool: str = "",
    data: Path | None = None,
) -> AsyncIterator[ChaosRun]:
    """An emulator, a fault proxy in front of it and a station directory; no process of the
    run outlives the block. *upload* is extra ``[upload]`` settings (by default a circuit
    breaker that pauses 1-2 s, not 30-300 s, so that short runs stay short); *spool* is the
    ``[spool]`` settings; *data* the node's data directory (default: inside *root*)."""
    async with (
        open_emulator(token=TOKEN, faults=faults, seed=seed) as emulator,
        open_fault_proxy("127.0.0.1", emulator.port, seed=seed) as proxy,
    ):
        run = ChaosRun(root, emulator, proxy, seed=seed, upload=upload, spool=spool, data=data)
        try:
            yield run
        finally:
            run.kill_everything()
