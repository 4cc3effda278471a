"""Scheduled converters in a running node, against the WATS emulator: reports arrive exactly
once, a restart continues from the stored cursor, and a crashing schedule is contained."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import msgspec
import pytest
import trio

from pywats_actors.config import load_config
from pywats_actors.emulator import open_emulator
from pywats_actors.node import Node, open_node
from pywats_actors.node._bus import Envelope
from pywats_actors.node._cursors import CursorStore
from pywats_actors.node._schedule import ScheduleFailed, ScheduleRan

from ...converters.conftest import PLUGINS
from .test_node import NAMESPACE, TOKEN, report_file, wait_for

ROWS = f"{PLUGINS / 'scheduled.py'}:RowFiles"


def write_config(tmp_path: Path, url: str) -> Path:
    """A node with one watch folder and two schedules: ``rows`` (a folder of rows) and
    ``crasher`` (its folder holds the marker that makes the converter kill its worker)."""
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
token = "{TOKEN}"
ping_interval = 1

[upload]
backoff_base = 0.05
backoff_cap = 1

[conversion]
workers = 2

[[watch]]
id = "line1"
path = "{tmp_path / "in"}"
include = ["*.json"]
settle = 0.2
rescan_interval = 1

[[schedule]]
id = "rows"
converter = "{ROWS}"
source = "{tmp_path / "export"}"
interval = 0.3
run_at_start = true

[[schedule]]
id = "crasher"
converter = "{ROWS}"
source = "{tmp_path / "crash"}"
interval = 2
run_at_start = true
"""
    )
    path.chmod(0o600)
    return path


def rows(folder: Path, *names: str) -> None:
    """Write one row file per name, its serial number the name in capitals."""
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / f"{name}.row").write_text(name.upper())


def schedule_events(node: Node) -> list[object]:
    """The node's schedule events so far."""
    envelopes: list[Envelope] = node.bus.recent(topics=["schedule"])
    return [envelope.event for envelope in envelopes]


class TestSchedulesInTheNode:
    async def test_exactly_once_across_a_restart_with_a_crashing_neighbour(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Rows become reports on the server once each; a cursor lost after the reports were
        spooled repeats a run without a second delivery; after a restart only the new row is
        found; a schedule whose converter crashes its worker fails alone, while the other
        schedule and the watch folder go on."""
        export, crash = tmp_path / "export", tmp_path / "crash"
        rows(export, "a", "b", "c")
        crash.mkdir()
        (crash / "CRASH").write_text("")
        lost = {"left": 1}
        store = CursorStore.store

        def store_once_failing(self: CursorStore, *args: object, **kw: str) -> None:
            if lost["left"]:  # as if the node died after the spool commit
                lost["left"] -= 1
                raise OSError("simulated crash before the cursor was written")
            store(self, *args, **kw)  # type: ignore[arg-type]

        monkeypatch.setattr(CursorStore, "store", store_once_failing)
        async with open_emulator(token=TOKEN) as emu:
            loaded = load_config(write_config(tmp_path, emu.url))
            watched = report_file(tmp_path / "in", 1)
            async with open_node(loaded, stop_grace=10) as node:
                await wait_for(lambda: emu.stats().accepted == 4)
                await wait_for(  # the run repeated after the lost cursor, before a new row
                    lambda: any(isinstance(e, ScheduleRan) for e in schedule_events(node))
                )
                rows(export, "d")
                await wait_for(lambda: emu.stats().accepted == 5)
                await wait_for(
                    lambda: any(
                        isinstance(e, ScheduleFailed) and e.schedule == "crasher"
                        for e in schedule_events(node)
                    )
                )
                first = schedule_events(node)
            rows(export, "e")
            async with open_node(loaded, stop_grace=10) as node:
                await wait_for(lambda: emu.stats().accepted == 6)
                await wait_for(
                    lambda: any(
                        isinstance(e, ScheduleRan) and e.schedule == "rows"
                        for e in schedule_events(node)
                    )
                )
                await trio.sleep(1)  # a few more runs: none may deliver anything again
                second = schedule_events(node)
            counts = Counter(d.report_id for d in emu.deliveries())
            bodies = {rid: emu.stored_report(rid) for rid in counts}
        assert len(counts) == 6
        assert set(counts.values()) == {1}
        assert watched in counts
        delivered = {msgspec.json.decode(body or b"{}").get("sn") for body in bodies.values()}
        delivered.discard("SN-1")  # the watched file's
        assert delivered == {"A", "B", "C", "D", "E"}
        failed = [e for e in first if isinstance(e, ScheduleFailed)]
        assert [e.kind for e in failed if e.schedule == "rows"] == ["cursor"]
        assert {e.kind for e in failed if e.schedule == "crasher"} == {"crashed"}
        ran = [e for e in first if isinstance(e, ScheduleRan)]
        assert [(len(e.report_ids), e.new_reports) for e in ran[:2]] == [(3, 0), (1, 1)]
        after_restart = [e for e in second if isinstance(e, ScheduleRan)]
        assert [(len(e.report_ids), e.new_reports) for e in after_restart] == [(1, 1)]
