"""``pywats-node demo``: the whole product in one command, against a local emulator.

It starts the WATS emulator in-process and a node on a temporary configuration with two watch
folders (``samples``: real WSJF reports, auto-detected; ``csv``: generated CSV files through the
CSV converter), drops the demo set, follows the node's events, and prints a summary. One file
is deliberately broken, to show where bad input goes. Exit code 0 means every report reached
the server exactly once — counting every delivery the server saw, not distinct ids — and the
broken file is in the error folder with its reason.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TextIO

import trio

from .._logging import configure_logging
from ..config import load_config
from ..emulator import open_emulator
from ._bus import Envelope
from ._pipeline import FileConverted, FileFailed
from ._uplink import ReportRejectedByServer, ReportUploaded

__all__ = ["run_demo"]

_BROKEN_NAME = "broken.csv"


@dataclass
class _Tally:
    files_dropped: int = 0
    converted: int = 0
    failed: int = 0
    reports: set[str] = field(default_factory=set)
    uploaded: set[str] = field(default_factory=set)
    uploads: int = 0
    rejected: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)

    def see(self, envelope: Envelope) -> None:
        event = envelope.event
        if isinstance(event, FileConverted):
            self.converted += 1
            self.reports.update(event.report_ids)
        elif isinstance(event, FileFailed):
            self.failed += 1
            self.failures.append(f"{Path(event.source).name}: {event.kind}: {event.reason}")
        elif isinstance(event, ReportUploaded):
            self.uploads += 1
            self.uploaded.add(event.report_id)
        elif isinstance(event, ReportRejectedByServer):
            self.rejected.add(event.report_id)


def _csv_file(index: int, when: dt.datetime) -> str:
    """One UUT in the canonical long CSV format: five measurements, every ninth unit failing."""
    sn = f"DEMO-{index:04d}"
    failing = index % 9 == 4
    rows = [
        "SerialNumber,PartNumber,Revision,TestDate,StepName,Value,LowLimit,HighLimit,Unit,Result"
    ]
    steps = [
        ("Supply 3V3", 3.30 + index % 5 * 0.01, 3.14, 3.46, "V"),
        ("Supply 5V", 5.02, 4.75, 5.25, "V"),
        ("Idle current", 0.121 if not failing else 0.412, 0.05, 0.2, "A"),
        ("Clock frequency", 24.0001, 23.999, 24.001, "MHz"),
        ("Board temperature", 31.5, 0, 70, "degC"),
    ]
    stamp = when.isoformat(timespec="seconds")
    for name, value, low, high, unit in steps:
        verdict = "PASS" if low <= value <= high else "FAIL"
        rows.append(f"{sn},PCBA-DEMO,B,{stamp},{name},{value},{low},{high},{unit},{verdict}")
    return "\n".join(rows) + "\n"


def _write_config(root: Path, url: str, token: str) -> Path:
    path = root / "node.toml"
    path.write_text(
        f"""schema_version = 2

[node]
instance = "demo"
station_name = "demo-station"
station_namespace = "{uuid.uuid4()}"
data_dir = "{root / "data"}"

[server]
base_url = "{url}"
token = "{token}"
ping_interval = 2

[upload]
concurrency = 4
backoff_base = 0.2
backoff_cap = 2

[conversion]
workers = 2

[[watch]]
id = "samples"
path = "{root / "samples"}"
include = ["*.json"]
settle = 0.3
rescan_interval = 5

[[watch]]
id = "csv"
path = "{root / "csv"}"
include = ["*.csv"]
settle = 0.3
rescan_interval = 5
converter = "csv"
"""
    )
    path.chmod(0o600)
    return path


def _drop_files(root: Path, csv_files: int) -> int:
    samples = root / "samples"
    samples.mkdir(parents=True, exist_ok=True)
    count = 0
    for item in resources.files(__package__).joinpath("demo_data").iterdir():
        if item.name.endswith(".json"):
            (samples / item.name).write_bytes(item.read_bytes())
            count += 1
    folder = root / "csv"
    folder.mkdir(parents=True, exist_ok=True)
    start = dt.datetime.now().astimezone().replace(microsecond=0)
    for i in range(csv_files):
        tmp = folder / f".unit-{i:04d}.csv.tmp"
        tmp.write_text(_csv_file(i, start + dt.timedelta(minutes=i)))
        tmp.rename(folder / f"unit-{i:04d}.csv")
        count += 1
    (folder / _BROKEN_NAME).write_text("this line is not a CSV export of any test\n\x00\x01\x02")
    return count + 1


def run_demo(*, csv_files: int = 20, keep: str | None = None, timeout: float = 120.0) -> int:
    """Run the demo; returns 0 when every report arrived (see the module docstring)."""
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="pywats-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    # The node's own log goes to a file, so the demo's output stays readable.
    with open(root / "node.log", "w", encoding="utf-8") as log:
        configure_logging(fmt="json", level="info", stream=log)
        try:
            return trio.run(_demo, root, csv_files, timeout, sys.stdout)
        finally:
            if keep is None:
                shutil.rmtree(root, ignore_errors=True)
            else:
                print(f"demo: folders and node.log kept in {root}")


async def _demo(root: Path, csv_files: int, patience: float, out: TextIO) -> int:
    from ._node import open_node

    token = secrets.token_urlsafe(24)
    tally = _Tally()
    began = time.monotonic()
    async with open_emulator(token=token) as emulator:
        print(f"emulator  {emulator.url}  (token in the demo's config)", file=out)
        config = load_config(_write_config(root, emulator.url, token))
        async with open_node(config, stop_grace=10) as node:
            node.bus.observe(tally.see)
            ready = time.monotonic() - began
            sandbox = node.pool.sandbox_level if node.pool is not None else "?"
            print(f"node      ready in {ready:.2f} s, converter sandbox: {sandbox}", file=out)
            tally.files_dropped = await trio.to_thread.run_sync(_drop_files, root, csv_files)
            print(f"dropped   {tally.files_dropped} files into {root}", file=out)
            with trio.move_on_after(patience) as deadline:
                last = ""
                while not _done(tally):
                    line = (
                        f"progress  converted {tally.converted}/{tally.files_dropped - 1}"
                        f"  failed {tally.failed}  uploaded {len(tally.uploaded)}"
                        f"/{len(tally.reports)}"
                    )
                    if line != last:
                        print(line, file=out)
                        last = line
                    await trio.sleep(0.25)
        elapsed = time.monotonic() - began
        stats = emulator.stats()
    broken_ok = (root / "csv" / "error" / _BROKEN_NAME).exists()
    _summary(out, tally, stats.accepted, stats.duplicates, elapsed, root)
    if deadline.cancelled_caught:
        print(f"demo: gave up after {patience:g} s", file=out)
    problems = _verdict(tally, stats.ids, stats.accepted, stats.duplicates)
    if not broken_ok:
        problems.append(f"{_BROKEN_NAME} is not in csv/error/")
    ok = not problems and not deadline.cancelled_caught
    for problem in problems:
        print(f"demo: {problem}", file=out)
    print("demo: OK, every report arrived exactly once" if ok else "demo: FAILED", file=out)
    return 0 if ok else 1


def _verdict(tally: _Tally, ids: list[str], deliveries: int, repeats: int) -> list[str]:
    """What keeps the demo from being a success, counting every delivery the server saw.

    The emulator counts each stored submission (``deliveries``) and each one whose id it
    already had (``repeats``). The demo injects no faults, so a report sent twice is a failure
    even though the server keeps one copy: every report must have been delivered exactly once.
    """
    problems = []
    missing = tally.reports - set(ids)
    if missing:
        problems.append(f"{len(missing)} report(s) never reached the server")
    if repeats:
        problems.append(f"the server received {repeats} report(s) more than once")
    if deliveries != len(tally.reports):
        problems.append(
            f"the server received {deliveries} deliveries for {len(tally.reports)} reports"
        )
    if tally.uploads != len(tally.uploaded):
        problems.append(
            f"the node reported {tally.uploads} uploads of {len(tally.uploaded)} reports"
        )
    if tally.rejected:
        problems.append(f"the server rejected {len(tally.rejected)} report(s)")
    return problems


def _done(tally: _Tally) -> bool:
    expected_files = tally.files_dropped - 1  # the broken one fails on purpose
    return (
        tally.converted >= expected_files
        and tally.failed >= 1
        and tally.reports <= tally.uploaded | tally.rejected
    )


def _summary(
    out: TextIO, tally: _Tally, accepted: int, duplicates: int, elapsed: float, root: Path
) -> None:
    rows = [
        ("files seen", tally.converted + tally.failed),
        ("files converted", tally.converted),
        ("files failed (to error/)", tally.failed),
        ("reports made", len(tally.reports)),
        ("reports uploaded", len(tally.uploaded)),
        ("reports rejected by server", len(tally.rejected)),
        ("server: received / repeats", f"{accepted} / {duplicates}"),
        ("time taken", f"{elapsed:.2f} s"),
    ]
    width = max(len(name) for name, _ in rows)
    print("", file=out)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}", file=out)
    for failure in tally.failures:
        print(f"  error/: {failure}", file=out)
    sidecar = root / "csv" / "error" / f"{_BROKEN_NAME}.error.json"
    if sidecar.exists():
        reason = json.loads(sidecar.read_text()).get("reason")
        print(f"  sidecar {sidecar.name}: {reason}", file=out)
    print("", file=out)
