"""``pywats-node converters`` and ``convert --explain``: as real subprocesses where the command
line itself is the point, in-process (the same functions ``main`` calls) for the rest."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from converters import AUTO_DETECTED, ENTRY_POINT_GROUP
from pywats_actors._commands import convert_command
from pywats_actors._converter_list import converters_command

from .test_cli import NAMESPACE, cli


class Output:
    """What an in-process command wrote, and its exit code."""

    def __init__(self, code: int, out: io.StringIO, err: io.StringIO) -> None:
        self.code, self.out, self.err = code, out.getvalue(), err.getvalue()


def listing(
    name: str | None = None, config: Path | None = None, *, as_json: bool = False
) -> Output:
    out, err = io.StringIO(), io.StringIO()
    code = converters_command(
        name, None if config is None else str(config), None, as_json=as_json, out=out, err=err
    )
    return Output(code, out, err)


DEMO_PLUGIN = '''
from converters import Converter, NoArguments


class Demo(Converter[NoArguments]):
    """A demo converter\x1b[31m that paints the terminal red.

    It says more here.
    """

    name = "demo"
    version = "3.1"
    patterns = ("*.demo",)

    def convert(self, data, name, args):
        return []
'''


def config_file(tmp_path: Path, conversion: str = "") -> Path:
    config = tmp_path / "node.toml"
    config.write_text(
        f'schema_version = 2\n[node]\nstation_namespace = "{NAMESPACE}"\n'
        f'data_dir = "{tmp_path / "data"}"\n{conversion}'
    )
    config.chmod(0o600)
    return config


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A folder holding an installed distribution that advertises the entry point ``demo``."""
    site = tmp_path / "site"
    (site / "democonv").mkdir(parents=True)
    (site / "democonv" / "__init__.py").write_text("")
    (site / "democonv" / "conv.py").write_text(DEMO_PLUGIN)
    info = site / "demo_converter-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-converter\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\ndemo = democonv.conv:Demo\n")
    return site


class TestConvertersCommand:
    def test_the_builtins_and_an_installed_plugin(self, tmp_path: Path, site: Path) -> None:
        """Every built-in is listed as asked by auto-detection; an entry-point plug-in is
        described by its sandboxed worker (version, patterns, distribution), shown as not
        asked, with its text cleaned of terminal escapes."""
        env = {**os.environ, "PYTHONPATH": str(site)}
        result = cli("converters", env=env)
        assert result.code == 0, result.err
        lines = {line.split()[0]: line.split() for line in result.out.splitlines()[1:-1]}
        for name in AUTO_DETECTED:
            assert lines[name][3] == "on", lines[name]
            assert lines[name][-1] == "built-in"
        assert lines["demo"][:5] == ["demo", "3.1", "file", "off", "*.demo"]
        assert result.out.splitlines()[-2].endswith("entry point demo-converter 1.0")
        shown = cli("converters", "demo", "--json", env=env)
        assert shown.code == 0, shown.err
        (demo,) = json.loads(shown.out)
        assert demo["summary"] == "A demo converter[31m that paints the terminal red."
        assert demo["arguments"] == []
        assert demo["schema"]["$ref"] == "#/$defs/NoArguments"

    def test_one_converter_with_its_arguments(self) -> None:
        """``converters NAME`` shows the arguments with their types, defaults and meaning."""
        result = listing("junit")
        assert result.code == 0, result.err
        assert "  serial_number_pattern: string or null; default null" in result.out
        assert "  max_text: integer >= 20; default 2000" in result.out
        assert "auto-detection: on" in result.out

    def test_json_carries_every_argument_schema(self) -> None:
        """``--json``: one object per converter, each with a JSON Schema of its arguments."""
        result = listing(as_json=True)
        assert result.code == 0, result.err
        listed = {item["name"]: item for item in json.loads(result.out)}
        assert set(AUTO_DETECTED) <= set(listed)
        csv = listed["csv"]
        assert csv["kind"] == "file"
        assert csv["schema"]["$defs"]["CsvArguments"]["type"] == "object"
        assert any(arg["name"] == "columns" for arg in csv["arguments"])

    def test_a_disabled_builtin_is_shown_disabled(self, tmp_path: Path) -> None:
        """With --config, a built-in in ``[conversion] disabled`` is listed as disabled."""
        config = config_file(tmp_path, '[conversion]\ndisabled = ["openhtf"]\n')
        result = listing(config=config)
        assert result.code == 0, result.err
        row = next(line for line in result.out.splitlines() if line.startswith("openhtf "))
        assert row.split()[3] == "disabled"

    def test_an_unknown_name_is_not_found(self) -> None:
        """A name no converter has: one line, exit 3."""
        result = listing("nope")
        assert (result.code, result.err) == (
            3,
            "pywats-node: no installed converter is named 'nope'\n",
        )


class TestExplain:
    def test_every_score_and_the_choice(self, samples_dir: Path) -> None:
        """``convert --explain`` prints each converter's score, best first, the winner and the
        outcome, and no WSJF."""
        sample = samples_dir / "openhtf" / "openhtf_psu100_pass.json"
        result = cli("convert", str(sample), "--explain")
        assert result.code == 0, result.err
        lines = result.out.splitlines()
        assert lines[1].split() == ["converter", "score"]
        assert lines[2].split()[:4] == ["openhtf", "0.95", "<-", "chosen"]
        assert {line.split()[0] for line in lines[2 : 2 + len(AUTO_DETECTED)]} == set(AUTO_DETECTED)
        assert "auto-detection takes the single best score of at least 0.50: openhtf" in lines
        assert lines[-1] == "outcome: converted by openhtf 1.0: 1 report(s)"
        assert '"root"' not in result.out

    def test_an_unrecognised_file_explains_why(self, tmp_path: Path) -> None:
        """A file nobody takes: the reason (here a known foreign format) and exit 2."""
        file = tmp_path / "board.log"
        file.write_bytes(b"{@BATCH|board|1.0}\n{@BTEST|1|00}\n")
        out, err = io.StringIO(), io.StringIO()
        result = Output(
            convert_command(str(file), None, None, None, explain=True, out=out, err=err), out, err
        )
        assert result.code == 2
        assert "it looks like a Keysight i3070 ICT log" in result.out
        assert result.out.splitlines()[-1].startswith("outcome: rejected: no converter")


class TestConfig:
    def test_a_disabled_name_that_is_no_builtin_is_refused(self, tmp_path: Path) -> None:
        """``disabled`` names built-ins only; a typo is a config error naming the key."""
        config = config_file(tmp_path, '[conversion]\ndisabled = ["stdff"]\nplugins = ["csv"]\n')
        result = cli("config", "validate", str(config))
        assert result.code == 2
        assert "$.conversion.disabled[0]: 'stdff' is not a built-in converter" in result.err
        assert "$.conversion.plugins[0]: 'csv' is a built-in converter" in result.err
