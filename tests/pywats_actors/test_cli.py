"""``pywats-node`` run as a real subprocess with wrong input: one clear line, the documented exit
code (docs/operators.md: 1 failed, 2 invalid input, 3 not found), never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import trio

from converters import DRY_RUN_NAMESPACE, content_hash, report_id
from pywats_actors.spool import SourceInfo, SpoolItem, open_reader, open_spool

from .._reports import minimal_report

CLI = [sys.executable, "-m", "pywats_actors._cli"]
NAMESPACE = "6f1c3a52-0b7e-4c21-9d3e-5a8f2b1c4d70"
UNKNOWN = "00000000-0000-0000-0000-000000000001"


class Result:
    def __init__(self, done: subprocess.CompletedProcess[str]) -> None:
        self.code = done.returncode
        self.out = done.stdout
        self.err = done.stderr


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run ``pywats-node ARGS`` and check that it printed no traceback."""
    done = subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    result = Result(done)
    assert "Traceback" not in result.out + result.err, result.err
    assert "Exception ignored" not in result.err
    return result


@pytest.fixture
def station(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A configuration and a spool holding one pending, one sent and one rejected report."""
    for var, sub in (("HOME", "home"), ("XDG_CONFIG_HOME", "cfg"), ("XDG_STATE_HOME", "state")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    config = tmp_path / "node.toml"
    config.write_text(
        f'schema_version = 2\n[node]\nstation_namespace = "{NAMESPACE}"\n'
        f'data_dir = "{tmp_path / "data"}"\n'
    )
    config.chmod(0o600)
    trio.run(_fill_spool, tmp_path / "data" / "spool.sqlite3")
    return config


IDS = {
    "pending": "10000000-0000-0000-0000-000000000001",
    "sent": "10000000-0000-0000-0000-000000000002",
    "rejected": "10000000-0000-0000-0000-000000000003",
}


async def _fill_spool(path: Path) -> None:
    path.parent.mkdir(parents=True)
    items = [
        SpoolItem(
            report_id=rid,
            body=json.dumps({"id": rid}).encode(),
            source=SourceInfo(
                path=f"/results/{state}.json",
                content_hash="sha256:0",
                converter="wsjf",
                converter_version="1",
            ),
        )
        for state, rid in IDS.items()
    ]
    async with open_spool(path) as spool:
        await spool.enqueue(items)
        claimed = {r.report_id for r in await spool.claim(3)}
        assert claimed == set(IDS.values())
        await spool.mark_sent(IDS["sent"], answer="ok")
        await spool.mark_rejected(IDS["rejected"], error="400: bad report")
        spool.release(IDS["pending"])


def states(config: Path) -> dict[str, str]:
    with open_reader(config.parent / "data" / "spool.sqlite3") as reader:
        page = reader.list_reports(limit=100)
    return {s.report_id: s.state.value for s in page.reports}


class TestQueueLs:
    def test_times_are_iso_8601_utc(self, station: Path) -> None:
        """`queue ls` shows times as 2026-12-02T08:03:53Z, and the sent time of sent reports."""
        result = cli("queue", "ls", "--config", str(station))
        assert result.code == 0
        assert result.out.splitlines()[0].startswith("1 pending, 1 sent, 1 rejected")
        (sent,) = [line for line in result.out.splitlines() if IDS["sent"] in line]
        assert " sent " in sent
        stamps = [w for w in sent.split() if w.endswith("Z") and "T" in w]
        assert len(stamps) == 2
        assert all(len(s) == len("2026-12-02T08:03:53Z") for s in stamps)

    def test_json_keeps_raw_values(self, station: Path) -> None:
        """`queue ls --json` gives epoch seconds, not text."""
        result = cli("queue", "ls", "--config", str(station), "--json")
        assert result.code == 0
        reports = json.loads(result.out)["reports"]
        assert all(isinstance(r["created_at"], float) for r in reports)

    @pytest.mark.parametrize("limit", ["100000", "0", "-1", "many"])
    def test_limit_out_of_range_is_bad_input(self, station: Path, limit: str) -> None:
        """A --limit outside 1..10000 exits 2 and names the range."""
        result = cli("queue", "ls", "--config", str(station), "--limit", limit)
        assert result.code == 2
        assert "--limit" in result.err

    def test_closed_pipe_ends_quietly(self, station: Path) -> None:
        """`queue ls | head -1` ends without an error message (exit 141, as for SIGPIPE)."""
        for n in range(1, 8):
            trio.run(_more, station.parent / "data" / "spool.sqlite3", n)
        proc = subprocess.Popen(
            [*CLI, "queue", "ls", "--config", str(station), "--limit", "10000"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read().decode()
        proc.stderr.close()
        code = proc.wait(timeout=60)
        assert err == ""
        assert code == 141

    def test_missing_config_exits_3(self, tmp_path: Path) -> None:
        """A configuration file that does not exist is exit 3, with its path."""
        result = cli("queue", "ls", "--config", str(tmp_path / "none.toml"))
        assert result.code == 3
        assert "none.toml" in result.err

    def test_unreadable_config_exits_1(self, tmp_path: Path) -> None:
        """A configuration path that is a folder is a failure to read: exit 1, one line."""
        result = cli("queue", "ls", "--config", str(tmp_path))
        assert result.code == 1
        assert result.err.strip() == f"pywats-node: cannot read {tmp_path}: Is a directory"

    def test_bad_instance_name_is_bad_input(self, station: Path) -> None:
        """An invalid --instance is refused by the argument parser with exit 2."""
        result = cli("queue", "ls", "--instance", "bad name!")
        assert result.code == 2
        assert "invalid instance name" in result.err


async def _more(path: Path, n: int) -> None:
    items = [
        SpoolItem(
            report_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{n}-{i}")),
            body=b"{}",
            source=SourceInfo(
                path=f"/results/{'x' * 200}-{n}-{i}.json",
                content_hash="sha256:0",
                converter="wsjf",
                converter_version="1",
            ),
        )
        for i in range(200)
    ]
    async with open_spool(path) as spool:
        await spool.enqueue(items)


class TestQueueShow:
    def test_readable_record(self, station: Path) -> None:
        """`queue show` prints one field per line, times in ISO 8601 UTC."""
        result = cli("queue", "show", IDS["rejected"], "--config", str(station))
        assert result.code == 0
        fields = dict(line.split(":", 1) for line in result.out.splitlines())
        assert fields["state"].strip() == "rejected"
        assert fields["last error"].strip() == "400: bad report"
        assert fields["created"].strip().endswith("Z")

    def test_json_record(self, station: Path) -> None:
        """`queue show --json` gives the raw record."""
        result = cli("queue", "show", IDS["sent"], "--config", str(station), "--json")
        assert result.code == 0
        assert isinstance(json.loads(result.out)["sent_at"], float)

    def test_not_a_guid_is_bad_input(self, station: Path) -> None:
        """An id that is not a GUID exits 2."""
        result = cli("queue", "show", "nope", "--config", str(station))
        assert result.code == 2
        assert result.err.strip() == "pywats-node: 'nope' is not a report id (a GUID)"

    def test_unknown_id_exits_3(self, station: Path) -> None:
        """An id that is not in the spool exits 3."""
        result = cli("queue", "show", UNKNOWN, "--config", str(station))
        assert result.code == 3
        assert f"no report {UNKNOWN}" in result.err


class TestQueueRetry:
    def test_unknown_id_exits_3_and_the_others_are_retried(self, station: Path) -> None:
        """An unknown id is reported (exit 3); the known rejected one is pending again."""
        result = cli("queue", "retry", UNKNOWN, IDS["rejected"], "--config", str(station))
        assert result.code == 3
        assert f"no report {UNKNOWN} in the spool" in result.err
        assert f"{IDS['rejected']}: pending again" in result.out
        assert states(station)[IDS["rejected"]] == "pending"

    def test_report_that_is_not_rejected_is_bad_input(self, station: Path) -> None:
        """Retrying a sent report exits 2 and says which state it is in."""
        result = cli("queue", "retry", IDS["sent"], "--config", str(station))
        assert result.code == 2
        assert "it is sent" in result.err

    def test_not_a_guid_changes_nothing(self, station: Path) -> None:
        """One malformed id among good ones exits 2 before anything is changed."""
        result = cli("queue", "retry", IDS["rejected"], "nope", "--config", str(station))
        assert result.code == 2
        assert states(station)[IDS["rejected"]] == "rejected"


class TestQueuePurge:
    def test_pending_needs_force_and_is_counted(self, station: Path) -> None:
        """A purge that would delete a pending report is refused, says how many, deletes
        nothing."""
        result = cli("queue", "purge", "--older-than", "0", "--config", str(station))
        assert result.code == 2
        assert "1 of the matching reports are pending" in result.err
        assert "--force" in result.err
        assert len(states(station)) == 3

    def test_pending_by_id_needs_force(self, station: Path) -> None:
        """Naming a pending report by id needs --force too."""
        result = cli("queue", "purge", "--id", IDS["pending"], "--config", str(station))
        assert result.code == 2
        assert IDS["pending"] in states(station)

    def test_force_purges_pending(self, station: Path) -> None:
        """With --force the pending report goes as well."""
        result = cli("queue", "purge", "--older-than", "0", "--force", "--config", str(station))
        assert result.code == 0
        assert result.out.strip() == "purged 3 report(s)"
        assert states(station) == {}

    def test_sent_only_needs_no_force(self, station: Path) -> None:
        """Purging sent reports deletes only those."""
        result = cli("queue", "purge", "--state", "sent", "--config", str(station))
        assert result.code == 0
        assert result.out.strip() == "purged 1 report(s)"
        assert set(states(station)) == {IDS["pending"], IDS["rejected"]}

    @pytest.mark.parametrize("days", ["-5", "nan", "soon"])
    def test_bad_age_is_bad_input(self, station: Path, days: str) -> None:
        """A negative or non-numeric --older-than exits 2."""
        result = cli("queue", "purge", "--older-than", days, "--config", str(station))
        assert result.code == 2
        assert "--older-than" in result.err

    def test_no_filter_is_bad_input(self, station: Path) -> None:
        """A purge without a filter exits 2 and says which filters exist."""
        result = cli("queue", "purge", "--config", str(station))
        assert result.code == 2
        assert "--state, --older-than or --id" in result.err


class TestConvert:
    def test_unknown_converter_is_bad_input(self, tmp_path: Path) -> None:
        """An unknown --converter exits 2 and lists the known ones."""
        file = tmp_path / "x.csv"
        file.write_text("a,b\n1,2\n")
        result = cli("convert", str(file), "--converter", "nope")
        assert result.code == 2
        assert "converter 'nope': no built-in converter or entry point by that name" in (result.err)
        assert "csv" in result.err

    def test_missing_file_exits_3(self, tmp_path: Path) -> None:
        """A file that does not exist exits 3."""
        result = cli("convert", str(tmp_path / "none.csv"))
        assert result.code == 3


_PLUGIN = """
from collections.abc import Sequence
from typing import ClassVar

from converters import Converter, ConverterOutput, NoArguments


class Lines(Converter[NoArguments]):
    \"\"\"One report per file: its first line is the serial number.\"\"\"

    name: ClassVar[str] = "lines"
    version: ClassVar[str] = "1.0"

    def detect(self, head: bytes, name: str) -> float:
        return 0.9

    def convert(self, data: bytes, name: str, args: NoArguments) -> Sequence[ConverterOutput]:
        report = dict(REPORT)
        report["sn"] = data.decode().splitlines()[0]
        return [report]


class NotAConverter:
    pass


class Slow(Lines):
    name: ClassVar[str] = "slow"

    def convert(self, data: bytes, name: str, args: NoArguments) -> Sequence[ConverterOutput]:
        import time

        time.sleep(30)
        return super().convert(data, name, args)
"""


@pytest.fixture
def plugin(tmp_path: Path) -> Path:
    """A plug-in file ``plugins/lines.py`` with the converter ``Lines`` (and a class that is not
    a converter), in a folder of its own: only the sandbox's worker imports it."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    path = folder / "lines.py"
    report = minimal_report("SN-0")
    path.write_text(f"REPORT = {report!r}\n{_PLUGIN}")
    return path


class TestConvertWithAPlugin:
    """``convert FILE --converter path.py:Class`` without ``--config`` (issue 9)."""

    def test_a_plugin_file_converts_without_a_config(self, tmp_path: Path, plugin: Path) -> None:
        """The plug-in is loaded in the sandbox by its path (relative to the current folder
        too), and its WSJF is printed with the dry run's report id."""
        file = tmp_path / "u1.txt"
        file.write_text("SN-42\n")
        for ref in (f"{plugin}:Lines", "plugins/lines.py:Lines"):
            done = subprocess.run(
                [*CLI, "convert", str(file), "--converter", ref],
                capture_output=True,
                text=True,
                timeout=120,
                cwd=tmp_path,
                check=False,
            )
            assert "Traceback" not in done.stderr, done.stderr
            assert done.returncode == 0, done.stderr
            report = json.loads(done.stdout)
            assert report["sn"] == "SN-42"
            expected = report_id(DRY_RUN_NAMESPACE, "lines", content_hash(b"SN-42\n"), 0)
            assert report["id"] == str(expected)
            assert done.stderr == f"converted by lines 1.0 ({ref}): 1 report(s)\n"

    def test_a_plugin_with_a_config_converts_too(self, tmp_path: Path, plugin: Path) -> None:
        """With --config, a plug-in that no folder names is loaded beside the node's
        converters, and its ids are the station's."""
        config = tmp_path / "node.toml"
        config.write_text(f'schema_version = 2\n[node]\nstation_namespace = "{NAMESPACE}"\n')
        config.chmod(0o600)
        file = tmp_path / "u1.txt"
        file.write_text("SN-43\n")
        result = cli(
            "convert", str(file), "--converter", f"{plugin}:Lines", "--config", str(config)
        )
        assert result.code == 0, result.err
        report = json.loads(result.out)
        assert report["sn"] == "SN-43"
        expected = report_id(uuid.UUID(NAMESPACE), "lines", content_hash(b"SN-43\n"), 0)
        assert report["id"] == str(expected)

    def test_the_configs_conversion_settings_apply(self, tmp_path: Path, plugin: Path) -> None:
        """With --config, the dry run's worker has the node's [conversion] limits: a
        one-second timeout stops a slow plug-in, and the failure names the key (the pool's
        own warning about the killed worker comes before it)."""
        config = tmp_path / "node.toml"
        config.write_text(
            f'schema_version = 2\n[node]\nstation_namespace = "{NAMESPACE}"\n'
            "[conversion]\ntimeout = 1\n"
        )
        config.chmod(0o600)
        file = tmp_path / "u1.txt"
        file.write_text("SN-44\n")
        ref = f"{plugin}:Slow"
        result = cli("convert", str(file), "--converter", ref, "--config", str(config))
        assert result.code == 2
        assert (
            "pywats-node: timed_out: took more than 1 s of wall-clock time; "
            "raise [conversion] timeout"
        ) in result.err.splitlines()

    @pytest.mark.parametrize(
        ("ref", "code", "needle"),
        [
            ("{missing}:Lines", 3, "the converter's file: no such file: "),
            ("{plugin}:NotAConverter", 2, "its name None must match"),
            ("{plugin}:Absent", 2, "has no attribute 'Absent'"),
            ("{plugin}", 2, "names a file but no class in it: give "),
            ("{plugin}:", 2, "names no converter: give a name"),
            ("two words", 2, "names no converter: give a name"),
            (":Lines", 2, "expected package.module:Class"),
            ("no_such_package.mod:Lines", 2, "cannot import 'no_such_package.mod'"),
        ],
    )
    def test_wrong_converter_is_one_clear_line(
        self, tmp_path: Path, plugin: Path, ref: str, code: int, needle: str
    ) -> None:
        """Each wrong --converter: one line starting ``pywats-node:``, the documented exit
        code (3 for a plug-in file that does not exist, else 2), no traceback."""
        file = tmp_path / "u1.txt"
        file.write_text("SN-1\n")
        given = ref.format(plugin=plugin, missing=tmp_path / "gone.py")
        result = cli("convert", str(file), "--converter", given)
        assert result.code == code
        (line,) = result.err.splitlines()
        assert line.startswith("pywats-node: ")
        assert needle in line

    def test_a_missing_file_with_a_plugin_exits_3(self, tmp_path: Path, plugin: Path) -> None:
        """The file to convert is checked first: no such file, exit 3, one line."""
        result = cli("convert", str(tmp_path / "none.txt"), "--converter", f"{plugin}:Lines")
        assert result.code == 3
        assert result.err.splitlines() == [f"pywats-node: no such file: {tmp_path / 'none.txt'}"]


class TestOtherCommands:
    @pytest.mark.parametrize(
        ("args", "needle"),
        [
            (["emulator", "--port", "99999"], "--port"),
            (["emulator", "--token", "é x"], "--token"),
            (["emulator", "--store", "/nonexistent/folder/x.db"], "--store"),
            (["emulator", "--latency", "nan"], "--latency"),
            (["emulator", "--max-body", "-1"], "--max-body"),
            (["demo", "--csv-files", "-1"], "--csv-files"),
            (["bench", "--files", "0"], "--files"),
            (["bench", "--rate", "0"], "--rate"),
            (["run", "--stop-grace", "-1"], "--stop-grace"),
            (["config", "validate", "--instance", "a b"], "--instance"),
            (["nonsense"], "invalid choice"),
        ],
    )
    def test_bad_arguments_exit_2(self, args: list[str], needle: str) -> None:
        """Each bad argument is refused before anything starts, naming the option."""
        result = cli(*args)
        assert result.code == 2
        assert needle in result.err

    def test_run_with_a_folder_as_config(self, tmp_path: Path) -> None:
        """`run --config FOLDER` prints one line and exits 5 (could not start), no traceback."""
        result = cli("run", "--config", str(tmp_path))
        assert result.code == 5
        assert f"cannot read {tmp_path}" in result.err

    def test_demo_keep_in_an_impossible_place(self, tmp_path: Path) -> None:
        """`demo --keep` where no folder can be made prints why and exits 1."""
        blocker = tmp_path / "file"
        blocker.write_text("")
        result = cli("demo", "--keep", str(blocker / "sub"))
        assert result.code == 1
        assert f"cannot create {blocker / 'sub'}" in result.err


class TestSpoolCheck:
    def test_readable_result(self, station: Path) -> None:
        """`python -m pywats_actors.spool check` prints words, not a repr."""
        path = station.parent / "data" / "spool.sqlite3"
        done = subprocess.run(
            [sys.executable, "-m", "pywats_actors.spool", "check", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0
        lines = done.stdout.splitlines()
        assert lines[0] == f"{path}: sound (quick_check: ok)"
        assert "reports:        1 pending, 1 sent, 1 rejected" in lines
        assert "SpoolStatistics(" not in done.stdout

    def test_missing_file_exits_3(self, tmp_path: Path) -> None:
        """A path with no file exits 3 (and creates nothing)."""
        done = subprocess.run(
            [sys.executable, "-m", "pywats_actors.spool", "check", str(tmp_path / "x.db")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 3
        assert not (tmp_path / "x.db").exists()
        assert "Traceback" not in done.stderr
