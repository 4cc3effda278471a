"""``config init`` and ``config validate``: the written default file, verdicts, exit codes."""

from __future__ import annotations

import io
import re
import stat
import tomllib
import uuid
from pathlib import Path

import msgspec
import pytest

from pywats_actors.config import (
    ConfigExists,
    ConfigExit,
    NodeConfig,
    NodeSection,
    WatchFolder,
    init_config_command,
    load_config,
    render_default_config,
    validate_config_command,
    write_default_config,
)
from pywats_actors.config._template import COMMENTS

from .conftest import config_text, write


def _run(command: object, *args: object, **kwargs: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    assert callable(command)
    code = command(*args, out=out, err=err, **kwargs)
    return code, out.getvalue(), err.getvalue()


def _all_keys() -> set[str]:
    keys = {"schema_version"}
    for section in ("node", "server", "upload", "spool", "conversion", "ipc"):
        cls = type(
            getattr(NodeConfig(node=NodeSection(station_namespace=str(uuid.uuid4()))), section)
        )
        keys |= {f"{section}.{f.name}" for f in msgspec.structs.fields(cls)}
    keys |= {f"watch.{f.name}" for f in msgspec.structs.fields(WatchFolder)}
    return keys


class TestInit:
    def test_writes_a_valid_private_file(self, xdg: dict[str, Path]) -> None:
        """init writes a 0600 file that validates, for the instance its name says."""
        target = xdg["XDG_CONFIG_HOME"] / "pywats-node" / "line1.toml"
        code, out, _ = _run(init_config_command, target, False)
        assert code == ConfigExit.OK
        assert f"wrote {target}" in out
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        loaded = load_config(target, instance="line1")
        assert loaded.config.node.instance == "line1"

    def test_default_file_has_the_defaults(self, tmp_path: Path) -> None:
        """The written values are exactly the schema's defaults, plus a fresh namespace."""
        target = tmp_path / "default.toml"
        write_default_config(target)
        decoded = msgspec.toml.decode(target.read_bytes(), type=NodeConfig)
        namespace = decoded.node.station_namespace
        assert uuid.UUID(namespace).version == 4
        expected = NodeConfig(node=NodeSection(instance="default", station_namespace=namespace))
        assert decoded == expected

    def test_namespace_is_fresh(self, tmp_path: Path) -> None:
        """Each init writes a new station namespace."""
        write_default_config(tmp_path / "a.toml")
        write_default_config(tmp_path / "b.toml")
        first = load_config(tmp_path / "a.toml").config.node.station_namespace
        second = load_config(tmp_path / "b.toml").config.node.station_namespace
        assert first != second

    def test_every_key_is_written_with_a_comment(self) -> None:
        """Every key of the schema appears in the file, with its own comment."""
        text = render_default_config("default", "6f1c3a52-0b7e-4c21-9d3e-5a8f2b1c4d70")
        assert set(COMMENTS) == _all_keys()
        written = set()
        section = ""
        for line in text.splitlines():
            bare = line.removeprefix("# ")
            if header := re.fullmatch(r"\[\[?(\w+)\]\]?", bare):
                section = header[1]
            elif key := re.match(r"(\w+) = .* # \S", bare):
                written.add(f"{section}.{key[1]}" if section else key[1])
        assert written == _all_keys()

    def test_watch_example_is_valid_when_enabled(self, tmp_path: Path) -> None:
        """Removing the '# ' from the [[watch]] example gives a valid watch folder."""
        text = render_default_config("default")
        enabled = re.sub(r"(?m)^# (\[\[watch\]\]|\w+ = )", r"\1", text)
        enabled = enabled.replace('"/srv/results/line1"', f'"{tmp_path / "in"}"')
        write(tmp_path / "default.toml", enabled)
        (watch,) = load_config(tmp_path / "default.toml").config.watch
        assert watch.id == "line1"

    def test_refuses_to_overwrite(self, tmp_path: Path) -> None:
        """init does not overwrite an existing file without force."""
        target = write(tmp_path / "default.toml", "keep me\n")
        code, _, err = _run(init_config_command, target, False)
        assert code == ConfigExit.EXISTS
        assert "already exists; pass --force" in err
        assert target.read_text() == "keep me\n"
        with pytest.raises(ConfigExists):
            write_default_config(target)

    def test_force_overwrites(self, tmp_path: Path) -> None:
        """init --force replaces an existing file."""
        target = write(tmp_path / "default.toml", "old\n", 0o644)
        code, _, _ = _run(init_config_command, target, True)
        assert code == ConfigExit.OK
        assert target.read_text().startswith("# pywats-node configuration")
        assert stat.S_IMODE(target.stat().st_mode) == 0o600

    def test_unwritable_location(self, tmp_path: Path) -> None:
        """init into a path under a file fails with FAILED and a message."""
        blocker = write(tmp_path / "blocker", "")
        code, _, err = _run(init_config_command, blocker / "x.toml", False)
        assert code == ConfigExit.FAILED
        assert "cannot create the folder" in err

    def test_output_is_valid_toml_for_odd_strings(self) -> None:
        """Strings with quotes, backslashes and control characters survive as TOML."""
        from pywats_actors.config._template import toml_value

        odd = 'a "quoted" \\ back\tslash\x7f\n é 😀'
        assert tomllib.loads(f"v = {toml_value(odd)}")["v"] == odd
        table = {"plain": 1, "with space": [1.5, True]}
        assert tomllib.loads(f"v = {toml_value(table)}")["v"] == table


class TestValidate:
    def test_ok(self, config_file: Path) -> None:
        """A valid file prints OK and a summary, and exits 0."""
        text = config_text('[[watch]]\nid = "line1"\npath = "in"\ninclude = ["*.xml"]')
        write(config_file, text)
        code, out, err = _run(validate_config_command, config_file)
        assert code == 0
        assert err == ""
        assert out.startswith(f"OK: {config_file} (schema version 2)")
        assert "server      none: reports are kept in the spool, not uploaded" in out
        assert f"watch       line1: {config_file.parent}/in *.xml" in out

    def test_invalid_lists_every_problem(self, config_file: Path) -> None:
        """An invalid file prints every problem with its path, and exits 2."""
        write(config_file, config_text("[upload]\nconcurrency = 0\n[spool]\nmax_reports = -1"))
        code, out, err = _run(validate_config_command, config_file)
        assert code == 2
        assert out == ""
        assert err.splitlines() == [
            f"INVALID: {config_file} (2 problems)",
            "  $.upload.concurrency: expected an integer >= 1 and <= 16, got 0",
            "  $.spool.max_reports: expected an integer >= 0 and <= 100000000, got -1",
        ]

    def test_syntax_error(self, config_file: Path) -> None:
        """A syntax error is printed as file:line:column, and exits 2."""
        write(config_file, "schema_version = 2\n[node\n")
        code, _, err = _run(validate_config_command, config_file)
        assert code == ConfigExit.INVALID
        assert f"{config_file}:2:6: TOML syntax error" in err

    def test_not_found(self, config_file: Path) -> None:
        """A missing file exits 3 and says how to create one."""
        code, _, err = _run(validate_config_command, config_file)
        assert code == 3
        assert "pywats-node config init" in err

    def test_unreadable(self, tmp_path: Path) -> None:
        """A path that cannot be read as a file exits 1."""
        code, _, err = _run(validate_config_command, tmp_path)
        assert code == 1
        assert f"cannot read {tmp_path}" in err

    def test_migrated_file_has_a_note(self, config_file: Path) -> None:
        """A version 1 file validates with a note that it was migrated."""
        write(config_file, config_text(version=1))
        code, out, _ = _run(validate_config_command, config_file)
        assert code == ConfigExit.OK
        assert "(schema version 1)" in out
        assert "note: " in out
        assert "migrated to version 2 in memory" in out

    def test_instance_option(self, config_file: Path) -> None:
        """validate with an instance refuses a file that is for another one."""
        write(config_file, config_text(node='instance = "a"'))
        code, _, err = _run(validate_config_command, config_file, instance="b")
        assert code == ConfigExit.INVALID
        assert "$.node.instance" in err
