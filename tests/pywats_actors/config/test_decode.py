"""Decoding: every kind of bad value or key is named by its exact path, with the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from pywats_actors.config import (
    ConfigInvalid,
    ConfigSyntaxError,
    NodeConfig,
    load_config,
    parse_config,
)

from .conftest import NAMESPACE, config_text, write


def _with(section: str, assignment: str) -> str:
    """A valid file plus one *assignment* in *section* (``watch`` is one [[watch]] table)."""
    if section == "node":
        return config_text(node=assignment)
    if section == "":
        return assignment + "\n" + config_text().split("\n", 1)[1]
    if section == "watch":
        return config_text(f'[[watch]]\nid = "line1"\npath = "in"\n{assignment}')
    return config_text(f"[{section}]\n{assignment}")


def _problems(text: str, path: Path) -> list[str]:
    with pytest.raises(ConfigInvalid) as caught:
        parse_config(text, path=path)
    return [str(problem) for problem in caught.value.problems]


BAD_VALUES = [
    (
        "upload",
        "concurrency = 0",
        "$.upload.concurrency: expected an integer >= 1 and <= 16, got 0",
    ),
    (
        "upload",
        "concurrency = 17",
        "$.upload.concurrency: expected an integer >= 1 and <= 16, got 17",
    ),
    (
        "upload",
        'concurrency = "2"',
        '$.upload.concurrency: expected an integer >= 1 and <= 16, got "2"',
    ),
    (
        "upload",
        "concurrency = 2.0",
        "$.upload.concurrency: expected an integer >= 1 and <= 16, got 2.0",
    ),
    (
        "upload",
        "backoff_base = 0",
        "$.upload.backoff_base: expected a number > 0 and <= 3600, got 0",
    ),
    (
        "upload",
        "backoff_multiplier = 0.5",
        "$.upload.backoff_multiplier: expected a number >= 1 and <= 10, got 0.5",
    ),
    (
        "upload",
        "max_requests_per_second = -1",
        "$.upload.max_requests_per_second: expected a number >= 0 and <= 1000, got -1",
    ),
    (
        "upload",
        "attempt_timeout = true",
        "$.upload.attempt_timeout: expected a number >= 1 and <= 3600, got true",
    ),
    (
        "server",
        "connect_timeout = 0",
        "$.server.connect_timeout: expected a number > 0 and <= 3600, got 0",
    ),
    (
        "server",
        "ping_interval = 0.5",
        "$.server.ping_interval: expected a number >= 1 and <= 3600, got 0.5",
    ),
    (
        "server",
        "verify_tls = 1",
        "$.server.verify_tls: expected true or false or a string of at most 4096 characters, got 1",
    ),
    ("server", 'trust_env = "no"', '$.server.trust_env: expected true or false, got "no"'),
    (
        "node",
        'log_level = "verbose"',
        '$.node.log_level: expected one of "critical", "debug", "error", "info", "warning", '
        'got "verbose"',
    ),
    (
        "node",
        'log_format = "text"',
        '$.node.log_format: expected one of "auto", "console", "json", got "text"',
    ),
    (
        "node",
        'instance = "../etc"',
        "$.node.instance: expected a name of 1 to 64 letters, digits, '.', '_' or '-' that "
        'starts with a letter or digit, or empty, got "../etc"',
    ),
    (
        "node",
        f'station_name = "{"x" * 101}"',
        '$.node.station_name: expected a string of at most 100 characters, got "'
        + "x" * 76
        + "...",
    ),
    (
        "spool",
        "max_bytes = -1",
        f"$.spool.max_bytes: expected an integer >= 0 and <= {1 << 50}, got -1",
    ),
    (
        "spool",
        'when_full = "drop"',
        '$.spool.when_full: expected one of "error", "pause", got "drop"',
    ),
    (
        "spool",
        "keep_sent_days = 4000",
        "$.spool.keep_sent_days: expected a number >= 0 and <= 3650, got 4000",
    ),
    (
        "spool",
        "keep_acknowledged_days = 0",
        "$.spool.keep_acknowledged_days: expected a number > 0 and <= 36500, got 0",
    ),
    (
        "spool",
        "max_acknowledged = 0",
        f"$.spool.max_acknowledged: expected an integer >= 1 and <= {1 << 40}, got 0",
    ),
    (
        "conversion",
        "workers = 0",
        "$.conversion.workers: expected an integer >= 1 and <= 64, got 0",
    ),
    (
        "conversion",
        "memory_mb = 1",
        f"$.conversion.memory_mb: expected an integer >= 64 and <= {1 << 20}, got 1",
    ),
    (
        "conversion",
        "cpu_seconds = 1.5",
        "$.conversion.cpu_seconds: expected an integer >= 1 and <= 86400, got 1.5",
    ),
    (
        "conversion",
        'landlock = "yes"',
        '$.conversion.landlock: expected one of "auto", "off", "required", got "yes"',
    ),
    (
        "conversion",
        'namespaces = "on"',
        '$.conversion.namespaces: expected one of "auto", "off", "required", got "on"',
    ),
    (
        "conversion",
        "seccomp = true",
        '$.conversion.seccomp: expected one of "auto", "off", "required", got true',
    ),
    (
        "conversion",
        "temp_mb = 0",
        "$.conversion.temp_mb: expected an integer >= 1 and <= 65536, got 0",
    ),
    ("watch", "settle = 0", "$.watch[0].settle: expected a number >= 0.1 and <= 3600, got 0"),
    (
        "watch",
        "include = []",
        "$.watch[0].include: expected an array of 1 to 64 items, each a non-empty string of "
        "at most 256 characters, got []",
    ),
    (
        "watch",
        'include = ["*.xml", ""]',
        '$.watch[0].include[1]: expected a non-empty string of at most 256 characters, got ""',
    ),
    (
        "watch",
        'after_success = "archive"',
        '$.watch[0].after_success: expected one of "delete", "keep", "move", got "archive"',
    ),
    (
        "watch",
        'done_folder = "a/b"',
        "$.watch[0].done_folder: expected a folder name without '/' (not '.' or '..'), got \"a/b\"",
    ),
    (
        "watch",
        'error_folder = ".."',
        "$.watch[0].error_folder: expected a folder name without '/' (not '.' or '..'), got \"..\"",
    ),
    (
        "watch",
        'converter = "not valid!"',
        '$.watch[0].converter: expected "auto", a converter name, a dotted path '
        '(package.module:Class) or a file (path/to/file.py:Class), got "not valid!"',
    ),
    ("watch", "recursive = 1", "$.watch[0].recursive: expected true or false, got 1"),
    ("watch", "converter_args = 3", "$.watch[0].converter_args: expected a table, got 3"),
]


class TestBadValues:
    @pytest.mark.parametrize(("section", "assignment", "expected"), BAD_VALUES)
    def test_names_path_and_value(
        self, section: str, assignment: str, expected: str, config_file: Path
    ) -> None:
        """A value of the wrong type or out of range is reported with its path and value."""
        assert _problems(_with(section, assignment), config_file) == [expected]

    def test_problem_carries_path_and_value(self, config_file: Path) -> None:
        """Each problem exposes .path and .value, not only a message."""
        with pytest.raises(ConfigInvalid) as caught:
            parse_config(_with("upload", "concurrency = 0"), path=config_file)
        (problem,) = caught.value.problems
        assert (problem.path, problem.value) == ("$.upload.concurrency", 0)

    def test_bad_watch_id(self, config_file: Path) -> None:
        """A watch id that is not a plain name is reported at $.watch[N].id."""
        text = config_text('[[watch]]\nid = "-bad"\npath = "in"')
        assert _problems(text, config_file) == [
            "$.watch[0].id: expected a name of 1 to 64 letters, digits, '.', '_' or '-' that "
            'starts with a letter or digit, got "-bad"'
        ]

    def test_station_namespace_must_be_a_uuid(self, config_file: Path) -> None:
        """A station namespace that is not a UUID is refused with its value."""
        text = config_text().replace(NAMESPACE, "not-a-uuid")
        assert _problems(text, config_file) == [
            "$.node.station_namespace: expected a UUID such as "
            '6f1c3a52-0b7e-4c21-9d3e-5a8f2b1c4d70, got "not-a-uuid"'
        ]

    def test_token_value_is_never_shown(self, config_file: Path) -> None:
        """A token of the wrong type is reported without repeating the value."""
        with pytest.raises(ConfigInvalid) as caught:
            parse_config(_with("server", "token = 123456"), path=config_file)
        (problem,) = caught.value.problems
        assert problem.path == "$.server.token"
        assert problem.value is None
        assert "123456" not in str(caught.value)

    def test_every_problem_is_reported(self, config_file: Path) -> None:
        """All problems of a file are reported in one go, in file order."""
        text = config_text(
            "[upload]\nconcurrency = 0\nbackoff_cap = -1\n[spool]\nmax_reports = -1\n",
            node='log_level = "loud"',
        )
        assert [p.split(":")[0] for p in _problems(text, config_file)] == [
            "$.node.log_level",
            "$.upload.concurrency",
            "$.upload.backoff_cap",
            "$.spool.max_reports",
        ]

    def test_section_of_wrong_type(self, config_file: Path) -> None:
        """A key where a table belongs is named as such."""
        text = "upload = 3\n" + config_text()
        assert _problems(text, config_file) == ["$.upload: expected a table, got 3"]

    def test_watch_must_be_an_array_of_tables(self, config_file: Path) -> None:
        """A [watch] table instead of [[watch]] is explained."""
        text = config_text('[watch]\nid = "a"\npath = "in"')
        assert _problems(text, config_file) == [
            '$.watch: expected an array of tables ([[...]]), got {id = "a", path = "in"}'
        ]


class TestUnknownAndMissingKeys:
    def test_unknown_key_in_section(self, config_file: Path) -> None:
        """A misspelt key is refused with its path and a suggestion."""
        assert _problems(_with("upload", "concurency = 2"), config_file) == [
            "$.upload.concurency: unknown key; did you mean 'concurrency'?"
        ]

    def test_unknown_section(self, config_file: Path) -> None:
        """A misspelt section is refused with its path and a suggestion."""
        assert _problems(config_text("[uplaod]\nconcurrency = 2"), config_file) == [
            "$.uplaod: unknown key; did you mean 'upload'?"
        ]

    def test_unknown_key_without_close_match_lists_known_keys(self, config_file: Path) -> None:
        """An unknown key with no near neighbour lists what the table takes."""
        (problem,) = _problems(_with("conversion", "zzz = 1"), config_file)
        assert problem == (
            "$.conversion.zzz: unknown key; known keys: workers, timeout, memory_mb, "
            "cpu_seconds, landlock, namespaces, seccomp, temp_mb, max_input_mb, max_output_mb, "
            "max_reports_per_file, disabled, plugins"
        )

    def test_unknown_key_in_watch(self, config_file: Path) -> None:
        """An unknown key inside the second [[watch]] table is located by its index."""
        text = config_text(
            '[[watch]]\nid = "a"\npath = "a"\n[[watch]]\nid = "b"\npath = "b"\npattern = "*"'
        )
        (problem,) = _problems(text, config_file)
        assert problem.startswith("$.watch[1].pattern: unknown key")

    def test_missing_node(self, config_file: Path) -> None:
        """A file without [node] says how to get one."""
        assert _problems("schema_version = 2\n", config_file) == [
            "$.node: required key is missing; add a [node] table with station_namespace "
            "(pywats-node config init writes one)"
        ]

    def test_missing_watch_keys(self, config_file: Path) -> None:
        """A [[watch]] without id and path names both."""
        problems = _problems(config_text("[[watch]]\nrecursive = true"), config_file)
        assert [p.split(":")[0] for p in problems] == ["$.watch[0].id", "$.watch[0].path"]


class TestSyntax:
    def test_syntax_error_has_line_and_column(self, config_file: Path) -> None:
        """A TOML syntax error is reported with its line and column."""
        text = config_text("[upload\nconcurrency = 2")
        with pytest.raises(ConfigSyntaxError) as caught:
            parse_config(text, path=config_file)
        assert (caught.value.line, caught.value.column) == (5, 8)
        assert "TOML syntax error" in str(caught.value)

    def test_not_utf8(self, config_file: Path) -> None:
        """A file that is not UTF-8 is a syntax error at the first bad byte."""
        with pytest.raises(ConfigSyntaxError) as caught:
            parse_config(b"schema_version = 2\n# \xff\n", path=config_file)
        assert (caught.value.line, caught.value.column) == (2, 3)


class TestValid:
    def test_minimal_file_loads(self, config_file: Path) -> None:
        """schema_version and [node] station_namespace are all a file needs."""
        write(config_file, config_text())
        loaded = load_config(config_file)
        assert isinstance(loaded.config, NodeConfig)
        assert loaded.config.upload.concurrency == 2
        assert loaded.config.node.station_namespace == NAMESPACE

    def test_sandbox_keys_of_conversion(self, config_file: Path) -> None:
        """[conversion] namespaces, seccomp and temp_mb default to auto, auto and 128, and
        take what the file says."""
        write(config_file, config_text())
        default = load_config(config_file).config.conversion
        assert (default.namespaces, default.seccomp, default.temp_mb) == ("auto", "auto", 128)
        write(
            config_file,
            config_text('[conversion]\nnamespaces = "required"\nseccomp = "off"\ntemp_mb = 64'),
        )
        chosen = load_config(config_file).config.conversion
        assert (chosen.namespaces, chosen.seccomp, chosen.temp_mb) == ("required", "off", 64)

    def test_config_is_frozen(self, config_file: Path) -> None:
        """A loaded configuration cannot be changed in place."""
        write(config_file, config_text())
        config = load_config(config_file).config
        with pytest.raises(AttributeError):
            config.upload = config.upload  # type: ignore[misc]

    def test_server_repr_hides_token(self, config_file: Path) -> None:
        """The token never appears in a repr (and so in a log line or traceback)."""
        text = config_text('[server]\nbase_url = "https://wats.example.com"\ntoken = "s3cret"')
        write(config_file, text)
        config = load_config(config_file).config
        assert "s3cret" not in repr(config)
        assert config.server.token == "s3cret"


class TestEveryProblemAtOnce:
    def test_schema_and_file_problems_together(self, config_file: Path, tmp_path: Path) -> None:
        """A wrong value in one section does not hide a token file others can read in another:
        both are reported in one pass, schema problems first."""
        token = write(tmp_path / "token", "abc\n", mode=0o644)
        text = config_text(
            f'[server]\nbase_url = "https://wats.example.com"\ntoken_file = "{token}"\n'
            "[upload]\nconcurrency = 0\nconcurency = 2\n"
        )
        problems = [p.split(":")[0] for p in _problems(text, config_file)]
        assert problems == ["$.upload.concurency", "$.upload.concurrency", "$.server.token_file"]

    def test_no_second_guess_about_a_broken_section(self, config_file: Path) -> None:
        """A section with a schema problem is not also checked with defaults standing in."""
        text = config_text("[upload]\nbackoff_base = 10\nbackoff_cap = -1\n")
        assert [p.split(":")[0] for p in _problems(text, config_file)] == ["$.upload.backoff_cap"]

    def test_broken_node_section_reports_the_schema_problem_only(self, config_file: Path) -> None:
        """With [node] itself broken, the file-system checks (which need it) are not run."""
        text = config_text(
            '[[watch]]\nid = "a"\npath = "a"\nerror_folder = "done"', node="log_level = 3"
        )
        assert [p.split(":")[0] for p in _problems(text, config_file)] == ["$.node.log_level"]
