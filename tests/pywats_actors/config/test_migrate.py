"""Schema versions: version 1 files are migrated in memory, newer ones are refused."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from pywats_actors.config import (
    CURRENT_SCHEMA_VERSION,
    ConfigInvalid,
    ConfigVersionUnsupported,
    load_config,
)
from pywats_actors.config._migrate import migrate

from .conftest import NAMESPACE, config_text, write

V1 = f"""\
schema_version = 1

[node]
station_namespace = "{NAMESPACE}"

[server]
url = "https://wats.example.com"
token = "abc"
timeout = 12

[upload]
concurrency = 3
retries = 5
retry_delay = 60

[[watch]]
folder = "in"
pattern = "*.xml"

[[watch]]
id = "watch-1"
folder = "other"
"""


class TestMigration:
    def test_current_version(self) -> None:
        """This pywats-node reads and writes schema version 2."""
        assert CURRENT_SCHEMA_VERSION == 2

    def test_v1_file_is_migrated_in_memory(self, config_file: Path) -> None:
        """A version 1 file loads as version 2, with a note per change, and is not rewritten."""
        write(config_file, V1)
        loaded = load_config(config_file)
        config = loaded.config
        assert loaded.source_version == 1
        assert config.schema_version == 2
        assert config.server.base_url == "https://wats.example.com"
        assert (config.server.read_timeout, config.server.write_timeout) == (12, 12)
        assert config.server.connect_timeout == 5.0
        assert config.upload.concurrency == 3
        assert [(w.id, w.include) for w in config.watch] == [
            ("watch-2", ("*.xml",)),
            ("watch-1", ("*",)),
        ]
        assert loaded.notes == (
            f"{config_file} is schema version 1; it was migrated to version 2 in memory and "
            "the file is unchanged",
            "server.url is now server.base_url",
            "server.timeout is now server.read_timeout and server.write_timeout",
            "upload.retries was removed: reports are retried until they are sent, with "
            "exponential backoff (upload.backoff_base, upload.backoff_cap)",
            "upload.retry_delay was removed: reports are retried until they are sent, with "
            "exponential backoff (upload.backoff_base, upload.backoff_cap)",
            "watch[0].folder is now watch[0].path",
            "watch[0].pattern is now watch[0].include",
            "watch[0] has no id; it is now id = 'watch-2'",
            "watch[1].folder is now watch[1].path",
        )
        assert config_file.read_text() == V1

    def test_v1_problems_are_reported_against_the_new_layout(self, config_file: Path) -> None:
        """A bad value in a version 1 file is reported under its version 2 path."""
        write(config_file, V1.replace("concurrency = 3", "concurrency = 99"))
        with pytest.raises(ConfigInvalid) as caught:
            load_config(config_file)
        assert [p.path for p in caught.value.problems] == ["$.upload.concurrency"]

    def test_migration_does_not_touch_its_input(self) -> None:
        """migrate() works on a copy."""
        values = {"schema_version": 1, "server": {"url": "https://x.example.com"}}
        before = copy.deepcopy(values)
        migrated, notes = migrate(values, 1)
        assert values == before
        assert migrated["server"] == {"base_url": "https://x.example.com"}
        assert migrated["schema_version"] == 2
        assert notes == ("server.url is now server.base_url",)

    def test_newer_version_is_refused(self, config_file: Path) -> None:
        """A file from a newer pywats-node is refused, saying what to do."""
        write(config_file, config_text(version=3))
        with pytest.raises(ConfigVersionUnsupported) as caught:
            load_config(config_file)
        assert (caught.value.version, caught.value.supported) == (3, 2)
        assert [str(p) for p in caught.value.problems] == [
            "$.schema_version: this file is schema version 3, but this pywats-node reads "
            "versions up to 2; upgrade pywats-node, or write a version 2 file "
            "(pywats-node config init)"
        ]

    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            (
                "",
                "$.schema_version: required key is missing; add schema_version = 2 as the "
                "first line",
            ),
            ("schema_version = 0\n", "$.schema_version: expected an integer >= 1, got 0"),
            ('schema_version = "2"\n', '$.schema_version: expected an integer >= 1, got "2"'),
        ],
    )
    def test_bad_schema_version(self, line: str, expected: str, config_file: Path) -> None:
        """A missing or malformed schema_version is reported at $.schema_version."""
        write(config_file, line + config_text().split("\n", 1)[1])
        with pytest.raises(ConfigInvalid) as caught:
            load_config(config_file)
        assert [str(p) for p in caught.value.problems] == [expected]


class TestRetiredSections:
    def test_a_retired_section_is_ignored_with_a_note(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A section this version retired loads, and a note says it does nothing (none is
        retired now; the mechanism stays for the next one)."""
        monkeypatch.setattr(
            "pywats_actors.config._migrate.RETIRED_SECTIONS", {"gone": "gone feature"}
        )
        path = write(tmp_path / "node.toml", config_text("[gone]\nenabled = true\n"))
        loaded = load_config(path)
        (note,) = loaded.notes
        assert note == "[gone] is ignored: this version of pywats-node has no gone feature; " + (
            "remove the section"
        )

    def test_validate_prints_where_the_node_listens(self, tmp_path: Path) -> None:
        """`config validate` of a file with the [health] and [ipc] an earlier version wrote
        prints the health URL and the IPC socket, and no note."""
        import io

        from pywats_actors.config import validate_config_command

        path = write(tmp_path / "node.toml", config_text("[health]\nport = 9477\n[ipc]\n"))
        out = io.StringIO()
        assert validate_config_command(path, out=out, err=io.StringIO()) == 0
        text = out.getvalue()
        assert "  health      http://127.0.0.1:9477/" in text
        assert "  ipc         unix:" in text
        assert "is ignored" not in text

    def test_an_earlier_ipc_section_is_read_as_written(self, tmp_path: Path) -> None:
        """[ipc] with the keys earlier versions wrote (enabled, socket_path) loads as the live
        section, without a note."""
        text = config_text('[ipc]\nenabled = false\nsocket_path = "/run/x/ipc.sock"\n')
        loaded = load_config(write(tmp_path / "node.toml", text))
        assert loaded.notes == ()
        assert loaded.config.ipc.enabled is False
        assert loaded.config.ipc.socket_path == "/run/x/ipc.sock"

    def test_old_health_section_is_served(self, tmp_path: Path) -> None:
        """The [health] that earlier versions wrote (port 9477, host localhost) loads as the
        real section; its "localhost" becomes 127.0.0.1 with a note."""
        old = '[health]\nenabled = true\nhost = "localhost"\nport = 9477\n'
        loaded = load_config(write(tmp_path / "node.toml", config_text(old)))
        assert loaded.notes == ('health.host "localhost" is now "127.0.0.1"',)
        assert loaded.config.health.port == 9477
        assert loaded.config.health.host == "127.0.0.1"
        assert loaded.config.health.enabled

    def test_default_file_writes_the_live_ipc_section(self, tmp_path: Path) -> None:
        """`config init` writes the live [ipc]; [health] is left to its defaults."""
        from pywats_actors.config import write_default_config

        path = tmp_path / "node.toml"
        write_default_config(path)
        text = path.read_text()
        assert "[ipc]" in text
        assert "[health]" not in text
