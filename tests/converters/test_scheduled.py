"""Scheduled converters in the pool: ``ConverterPool.poll`` runs ``poll()`` in a sandboxed
worker, keys give deterministic report ids, cursors round-trip, and misbehaviour is a failure of
that run only."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import trio

from converters import (
    Converted,
    ConverterConfig,
    Crashed,
    Rejected,
    ScheduledConverter,
    TimedOut,
    open_converter_pool,
    report_id,
)
from converters._discovery import check_converter_class
from converters._errors import ConverterInvalid
from converters._polling import scoped_hash

from .conftest import LANDLOCKED, NAMESPACE, PLUGINS, settings

ROWS = f"{PLUGINS / 'scheduled.py'}:RowFiles"
COUNTER = f"{PLUGINS / 'scheduled.py'}:BinaryCursor"


def folder(base: Path, name: str, files: dict[str, str]) -> Path:
    """``base/name`` holding ``files`` (name -> text)."""
    path = base / name
    path.mkdir()
    for file, text in files.items():
        (path / file).write_text(text)
    return path


def sns(result: Converted) -> list[str]:
    """The serial numbers of a run's reports."""
    return [msgspec.json.decode(report.wsjf)["sn"] for report in result.reports]


class TestPoll:
    async def test_poll_in_a_worker(self, tmp_path: Path) -> None:
        """Rows become reports keyed by file, ids follow from (schedule, key), the cursor
        round-trips as text or bytes, and a batch limit leaves the rest for the next run."""
        rows = folder(tmp_path, "rows", {"a.row": "SN-A", "b.row": "SN-B", "note.txt": "x"})
        configs = [
            ConverterConfig(ROWS, name="rows", read_paths=(str(rows),)),
            ConverterConfig(ROWS, name="one", args={"batch": 1}, read_paths=(str(rows),)),
            ConverterConfig(COUNTER, name="counter", read_paths=(str(rows),)),
        ]
        async with open_converter_pool(
            settings(), converters=configs, station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(60):
                first = await pool.poll("rows", str(rows), None, scope="line1")
                again = await pool.poll("rows", str(rows), None, scope="line1")
                other = await pool.poll("rows", str(rows), None, scope="line2")
                assert isinstance(first, Converted)
                assert first.cursor is not None
                after = await pool.poll("rows", str(rows), first.cursor.native, scope="line1")
                one = await pool.poll("one", str(rows), None, scope="line1")
                count0 = await pool.poll("counter", str(rows), None, scope="c")
                assert isinstance(count0, Converted)
                assert count0.cursor is not None
                count1 = await pool.poll("counter", str(rows), count0.cursor.native, scope="c")
        assert sns(first) == ["SN-A", "SN-B"]
        assert [report.key for report in first.reports] == ["a.row", "b.row"]
        assert first.cursor.native == "b.row"
        expected = [
            report_id(NAMESPACE, "test-rows", scoped_hash("line1", f"{k}.row"), 0) for k in "ab"
        ]
        assert list(first.ids) == expected
        assert isinstance(again, Converted)
        assert again.ids == first.ids
        assert isinstance(other, Converted)
        assert set(other.ids).isdisjoint(first.ids)
        assert isinstance(after, Converted)
        assert after.reports == ()
        assert after.cursor is not None
        assert after.cursor.native == "b.row"
        assert isinstance(one, Converted)
        assert sns(one) == ["SN-A"]
        assert one.cursor is not None
        assert one.cursor.native == "a.row"
        assert isinstance(count1, Converted)
        assert count1.cursor is not None
        assert count1.cursor.native == (2).to_bytes(4, "big")
        assert sns(count1) == ["RUN-1"]

    async def test_misbehaving_runs_fail_alone(self, tmp_path: Path) -> None:
        """A poll that crashes its worker, hangs past its limit, returns a non-pair, or names a
        file converter fails that run with its reason; the next good run works."""
        crash = folder(tmp_path, "crash", {"CRASH": ""})
        hang = folder(tmp_path, "hang", {"HANG": ""})
        bad = folder(tmp_path, "bad", {"BAD": ""})
        good = folder(tmp_path, "good", {"a.row": "SN-1"})
        configs = [
            ConverterConfig(ROWS, name=name, read_paths=(str(path),))
            for name, path in (("crash", crash), ("hang", hang), ("bad", bad), ("good", good))
        ]
        async with open_converter_pool(
            settings(timeout=30), converters=[*configs, "wsjf"], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(60):
                crashed = await pool.poll("crash", str(crash), None, scope="s")
                hung = await pool.poll("hang", str(hang), None, scope="s", wall_limit=1)
                invalid = await pool.poll("bad", str(bad), None, scope="s")
                wrong = await pool.poll("wsjf", str(good), None, scope="s")
                fine = await pool.poll("good", str(good), None, scope="s")
        assert isinstance(crashed, Crashed)
        assert crashed.attempts == 2
        assert isinstance(hung, TimedOut)
        assert hung.limit == 1
        assert isinstance(invalid, Rejected)
        assert invalid.cause == "invalid_output"
        assert "not a (key, report) pair" in invalid.reason
        assert isinstance(wrong, Rejected)
        assert "not a scheduled one" in wrong.reason
        assert isinstance(fine, Converted)
        assert sns(fine) == ["SN-1"]

    @pytest.mark.skipif(not LANDLOCKED, reason="the kernel offers no Landlock")
    async def test_source_is_granted_and_nothing_else(self, tmp_path: Path) -> None:
        """Under Landlock a scheduled converter reads its source, and a folder next to it that
        no configuration grants is refused."""
        secret = tmp_path / "secret"
        secret.mkdir()
        (secret / "data").write_text("x")
        source = tmp_path / "source"
        source.mkdir()
        (source / "mine").write_text("y")
        (source / f"READ={str(source / 'mine').replace('/', '|')}").write_text("")
        probe = tmp_path / "probe"
        probe.mkdir()
        (probe / f"READ={str(secret / 'data').replace('/', '|')}").write_text("")
        configs = [
            ConverterConfig(ROWS, name="own", read_paths=(str(source),)),
            ConverterConfig(ROWS, name="probe", read_paths=(str(probe),)),
        ]
        async with open_converter_pool(
            settings(), converters=configs, station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(60):
                own = await pool.poll("own", str(source), None, scope="s")
                other = await pool.poll("probe", str(probe), None, scope="s")
        assert isinstance(own, Rejected)
        assert own.reason == f"read {source / 'mine'}"
        assert isinstance(other, Rejected)
        assert other.reason == f"cannot read {secret / 'data'}: PermissionError"


class TestDeclaring:
    def test_a_scheduled_converter_needs_poll(self) -> None:
        """A class that says ``kind = "scheduled"`` without a ``poll()`` is refused on load."""

        class NoPoll:
            name = "no-poll"
            version = "1"
            api_version = 1
            kind = "scheduled"
            Arguments = msgspec.Struct

            def detect(self, head: bytes, name: str) -> float:
                return 0.0

            def convert(self, data: bytes, name: str, args: object) -> list[object]:
                return []

        with pytest.raises(ConverterInvalid, match=r"no poll\(\) method"):
            check_converter_class("x:NoPoll", NoPoll)

    def test_sdk_base_class(self) -> None:
        """The SDK base declares the kind, and its convert() says it is a scheduled one."""

        class Mine(ScheduledConverter[msgspec.Struct]):
            name = "mine"

        check_converter_class("x:Mine", Mine)
        assert Mine.kind == "scheduled"
        with pytest.raises(NotImplementedError, match=r"\[\[schedule\]\]"):
            Mine().convert(b"", "f", msgspec.Struct())
