"""Trust domains: the built-ins share workers, every plug-in module has workers of its own.

Real worker processes throughout: what one plug-in does at import time must not reach another
domain, detection across domains picks the most confident converter (ties: configuration order),
names may not collide across domains, and a plug-in whose worker cannot start stops nothing
else.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import trio

from converters import (
    Converted,
    ConverterConfig,
    ConverterInvalid,
    Rejected,
    Unavailable,
    open_converter_pool,
)
from converters._discovery import ref_home
from converters._domains import plan_domains

from .conftest import NAMESPACE, PLUGINS, plugin, settings
from .test_csv import CANONICAL

PATCHER = f"{PLUGINS / 'patcher.py'}:Patcher"
RIVAL = f"{PLUGINS / 'rival.py'}:Rival"
DETECTOR, CHAOS, ECHO = plugin("Detector"), plugin("Chaos"), plugin("Echo")


def sns(result: object) -> list[str]:
    assert isinstance(result, Converted), result
    return [msgspec.json.decode(r.wsjf)["sn"] for r in result.reports]


class TestPlanning:
    def test_builtins_share_a_domain_and_each_plugin_module_has_one(self) -> None:
        """wsjf, csv and a dotted path into ``converters`` are one domain; two classes of one
        plug-in module share its domain; another module and a dotted module outside
        ``converters`` are domains of their own."""
        configs = [
            ConverterConfig("wsjf"),
            ConverterConfig(ECHO),
            ConverterConfig("csv"),
            ConverterConfig("converters._csv:CsvConverter", name="csv2"),
            ConverterConfig(CHAOS),
            ConverterConfig(RIVAL),
            ConverterConfig("json:JSONDecoder"),
        ]
        plans = plan_domains(configs)
        assert [(p.id, p.trusted, [c.ref for c in p.configs]) for p in plans] == [
            ("builtin", True, ["wsjf", "csv", "converters._csv:CsvConverter"]),
            ("misbehaving", False, [ECHO, CHAOS]),
            ("rival", False, [RIVAL]),
            ("json", False, ["json:JSONDecoder"]),
        ]
        assert ref_home("csv") == ("builtin", "converters._csv:CsvConverter")
        assert ref_home("no-such-thing") == ("unknown", "no-such-thing")


class TestIsolation:
    async def test_a_plugin_patching_csv_at_import_does_not_change_csv_results(self) -> None:
        """The patcher replaces the CSV converter's convert() when imported. Its own process
        shows the patch in place; the built-in domain's CSV results are untouched."""
        async with open_converter_pool(
            settings(), converters=["csv", PATCHER], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                csv = await pool.convert(CANONICAL, "t.csv", "csv")
                inside = await pool.convert(b"x", "f", "patcher")
        assert isinstance(inside, Rejected)
        assert "patched=True" in inside.reason  # the patch works where the plug-in runs
        assert sns(csv) == ["SN001", "SN002"]

    async def test_two_plugin_modules_never_share_a_process(self) -> None:
        """Each plug-in module's worker imports only that module: different processes, and
        neither sees the other's module in sys.modules; two workers of one domain see only
        theirs."""
        async with open_converter_pool(
            settings(workers=2), converters=[CHAOS, RIVAL], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                chaos = await pool.convert(b"whoami", "f", "chaos")
                rival = await pool.convert(b"whoami", "f", "rival")
            slots = pool.statistics().slots
        assert isinstance(chaos, Rejected)
        assert isinstance(rival, Rejected)
        # each worker process has a temporary folder of its own (pids are namespace-local)
        chaos_dir, chaos_modules = chaos.reason.split()
        rival_dir, rival_modules = rival.reason.split()
        assert chaos_dir != rival_dir
        assert chaos_modules == "modules=misbehaving"
        assert rival_modules == "modules=rival"
        assert {s.domain for s in slots} == {"misbehaving", "rival"}
        assert len({s.pid for s in slots}) == 4  # two domains, two workers each


class TestDetectionAcrossDomains:
    async def test_the_most_confident_converter_of_any_domain_wins(self) -> None:
        """Each domain scores the head; the best converts in its domain; a rejection reports
        every domain's scores."""
        async with open_converter_pool(
            settings(), converters=[DETECTOR, RIVAL], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                rival = await pool.convert(b"RIVAL file", "f")
                nothing = await pool.convert(b"nothing here", "g")
        assert isinstance(rival, Converted), rival
        assert (rival.converter, rival.detected) == ("rival", True)
        assert sns(rival) == ["RIVAL"]
        assert rival.scores == {"detector": 0.3, "rival": 0.9}
        assert isinstance(nothing, Rejected)
        assert nothing.cause == "unrecognised"
        assert nothing.scores == {"detector": 0.3, "rival": 0.0}

    @pytest.mark.parametrize("rival_first", [False, True])
    async def test_a_tie_across_domains_converts_nothing(self, rival_first: bool) -> None:
        """Both say 0.7 for DETECT, in two domains: whatever the order, the file is refused as
        ambiguous, naming both (a guess could make a wrong report nobody would notice)."""
        order = [RIVAL, DETECTOR] if rival_first else [DETECTOR, RIVAL]
        async with open_converter_pool(
            settings(), converters=order, station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                result = await pool.convert(b"DETECT me", "f")
        assert isinstance(result, Rejected), result
        assert result.cause == "unrecognised"
        first, second = ("rival", "detector") if rival_first else ("detector", "rival")
        assert f"the file is ambiguous: {first} and {second} are equally confident (0.70)" in (
            result.reason
        )
        assert result.scores == {"detector": 0.7, "rival": 0.7}

    async def test_builtins_and_plugins_detect_together(self) -> None:
        """A canonical CSV is detected by the built-in domain beside a plug-in domain."""
        async with open_converter_pool(
            settings(), converters=["wsjf", "csv", RIVAL], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                result = await pool.convert(CANONICAL, "t.csv")
        assert isinstance(result, Converted), result
        assert (result.converter, result.detected) == ("csv", True)


class TestNames:
    @pytest.mark.parametrize(
        ("refs", "clash", "other"),
        [
            (["csv", f"{PLUGINS / 'rival.py'}:FakeCsv"], "FakeCsv", "csv"),
            ([f"{PLUGINS / 'rival.py'}:FakeCsv"], "FakeCsv", "csv"),  # reserved, even unused
            ([ECHO, f"{PLUGINS / 'rival.py'}:EchoTwin"], "EchoTwin", ECHO),
        ],
    )
    async def test_a_name_another_domain_uses_is_refused(
        self, refs: list[str], clash: str, other: str
    ) -> None:
        """A plug-in declaring the name of a built-in or of another plug-in would share its
        report ids: the start fails with ConverterInvalid naming both references."""
        with trio.fail_after(30), pytest.raises(ConverterInvalid) as info:
            async with open_converter_pool(
                settings(), converters=refs, station_namespace=NAMESPACE
            ):
                pass  # pragma: no cover
        assert info.value.ref.endswith(clash)
        assert repr(other) in str(info.value)

    async def test_one_alias_in_two_domains_is_refused(self) -> None:
        """Two configurations in two domains under one name: refused, naming both."""
        configs = [ConverterConfig("csv", name="x"), ConverterConfig(RIVAL, name="x")]
        with trio.fail_after(30), pytest.raises(ConverterInvalid, match="used twice"):
            async with open_converter_pool(
                settings(), converters=configs, station_namespace=NAMESPACE
            ):
                pass  # pragma: no cover


class TestFailuresStayInTheirDomain:
    async def test_a_plugin_killed_at_import_leaves_the_builtins_converting(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A plug-in whose worker is killed while importing it (as the seccomp filter kills
        with SIGSYS): the pool starts, CSV converts, the plug-in's files are Unavailable with
        the reason, its slot keeps trying with start backoff, and the domain going down is
        logged once (on_workers stays for the case where no domain can start a worker)."""
        module = tmp_path / "doomed.py"
        module.write_text("import socket\nsocket.socket()\n")  # forbidden: SIGSYS
        doomed = ConverterConfig(f"{module}:X", name="doomed")
        told: list[str | None] = []
        async with open_converter_pool(
            settings(start_backoff_max=0.2),
            converters=["csv", doomed],
            station_namespace=NAMESPACE,
            on_workers=told.append,
        ) as pool:
            with trio.fail_after(30):
                waiting = await pool.convert(b"x", "f", "doomed")
                # an unknown name may be the doomed domain's (it never said): not an error yet
                unknown = await pool.convert(b"x", "f", "whatever")
                csv = await pool.convert(CANONICAL, "t.csv", "csv")
                detected = await pool.convert(CANONICAL, "t.csv")  # without the plug-in's word
                await trio.sleep(1)
            stats = pool.statistics()
        assert isinstance(waiting, Unavailable), waiting
        assert "killed by SIGSYS" in waiting.reason
        assert "'doomed'" in waiting.reason
        assert isinstance(unknown, Unavailable)
        assert "no converter named 'whatever' is known yet" in unknown.reason
        assert sns(csv) == ["SN001", "SN002"]
        assert isinstance(detected, Converted)
        assert detected.converter == "csv"
        assert told == []  # on_workers is for "no worker at all"; the built-ins have theirs
        down = [r for r in caplog.records if "the files for its converters wait" in r.message]
        assert len(down) == 1
        assert "'doomed'" in down[0].message
        (slot,) = [s for s in stats.slots if s.domain == "doomed"]
        assert slot.state in ("down", "starting")
        assert slot.processes == 0
        tries = [r for r in caplog.records if "'doomed': a worker cannot start" in r.message]
        assert len(tries) >= 3  # retried with start backoff, each logged with the reason
        assert "killed by SIGSYS" in tries[0].message
        assert [s.state for s in stats.slots if s.domain == "builtin"] == ["idle"]

    async def test_a_plugin_domain_crashing_too_often_stops_alone(self) -> None:
        """Past the restart intensity a plug-in domain stops (its files Unavailable) and
        starts again after start_backoff_max; the built-in domain converts meanwhile."""
        quick = settings(restart_intensity=1, restart_period=30, start_backoff_max=1.0)
        async with open_converter_pool(
            quick, converters=["csv", CHAOS], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(60):
                crashed = await pool.convert(b"segv", "f", "chaos")  # two crashes: gives up
                while pool.statistics().slots[1].state != "down":
                    await trio.sleep(0.02)
                meanwhile = await pool.convert(b"fine", "g", "chaos")
                csv = await pool.convert(CANONICAL, "t.csv", "csv")
                while pool.statistics().slots[1].state != "idle":  # back after the pause
                    await trio.sleep(0.05)
                again = await pool.convert(b"fine", "h", "chaos")
        assert not isinstance(crashed, Converted | Unavailable), crashed
        assert isinstance(meanwhile, Unavailable), meanwhile
        assert "crashed too often" in meanwhile.reason
        assert sns(csv) == ["SN001", "SN002"]
        assert isinstance(again, Converted), again
