"""Semantic checks: what needs several values or the file system, every problem at once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pywats_actors.config import ConfigInvalid, load_config, parse_config, read_token

from .conftest import config_text, write

SERVER = '[server]\nbase_url = "https://wats.example.com"\n'


def _problems(config_file: Path, text: str, mode: int = 0o600) -> list[str]:
    write(config_file, text, mode)
    with pytest.raises(ConfigInvalid) as caught:
        load_config(config_file)
    return [str(problem) for problem in caught.value.problems]


def _token_file(folder: Path, mode: int = 0o600, text: str = "dG9rZW4=\n") -> Path:
    return write(folder / "token", text, mode)


class TestServer:
    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            (
                "ftp://wats.example.com",
                'expected an http:// or https:// URL with a host, got "ftp://wats.example.com"',
            ),
            ("https://", 'expected an http:// or https:// URL with a host, got "https://"'),
            (
                "wats.example.com",
                'expected an http:// or https:// URL with a host, got "wats.example.com"',
            ),
            (
                "https://wats.example.com:0",
                'expected an http:// or https:// URL with a host, got "https://wats.example.com:0"',
            ),
            (
                "https://wats.example.com/?a=1",
                'expected the server\'s root URL without ?query or #fragment, got "https://wats.example.com/?a=1"',
            ),
        ],
    )
    def test_base_url(self, url: str, expected: str, config_file: Path) -> None:
        """The server URL must be http(s) with a host, and nothing after the path."""
        text = config_text(f'[server]\nbase_url = "{url}"\ntoken = "abc"')
        assert _problems(config_file, text) == [f"$.server.base_url: {expected}"]

    def test_url_without_token(self, config_file: Path) -> None:
        """A server without a token is refused, saying where a token goes."""
        (problem,) = _problems(config_file, config_text(SERVER))
        assert problem.startswith("$.server: no API token: set token_file")

    def test_token_without_url(self, config_file: Path) -> None:
        """A token without a server URL is flagged as an oversight."""
        (problem,) = _problems(config_file, config_text('[server]\ntoken = "abc"'))
        assert problem.startswith("$.server.base_url: empty, but a token is set")

    def test_token_and_token_file(self, config_file: Path) -> None:
        """Setting both token and token_file is refused."""
        token = _token_file(config_file.parent)
        text = config_text(SERVER + f'token = "abc"\ntoken_file = "{token}"')
        assert _problems(config_file, text) == [
            "$.server.token_file: set token or token_file, not both"
        ]

    def test_token_with_whitespace(self, config_file: Path) -> None:
        """An inline token with a space is refused without showing it."""
        text = config_text(SERVER + 'token = "ab cd"')
        assert _problems(config_file, text) == [
            "$.server.token: must be printable ASCII without spaces or line breaks "
            "(value not shown)"
        ]

    def test_inline_token_in_readable_file(self, config_file: Path) -> None:
        """An inline token in a config file that others can read is refused: chmod 600."""
        text = config_text(SERVER + 'token = "abc"')
        assert _problems(config_file, text, mode=0o644) == [
            f"$.server.token: the token is in {config_file}, which group or others can access "
            f"(mode 0644); run: chmod 600 {config_file} (or move the token to a token_file)"
        ]

    def test_inline_token_in_private_file(self, config_file: Path) -> None:
        """An inline token in a 0600 file is accepted."""
        write(config_file, config_text(SERVER + 'token = "abc"'), 0o600)
        config = load_config(config_file).config
        assert read_token(config.server) == "abc"

    @pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
    def test_token_file_accessible_by_others(self, mode: int, config_file: Path) -> None:
        """A token file that group or others can access is refused with the chmod that fixes it."""
        token = _token_file(config_file.parent, mode)
        text = config_text(SERVER + 'token_file = "token"')
        assert _problems(config_file, text, mode=0o644) == [
            f"$.server.token_file: {token} can be accessed by group or others (mode {mode:04o}) "
            f"but holds a secret; run: chmod 600 {token}"
        ]

    def test_token_file_missing(self, config_file: Path) -> None:
        """A token file that does not exist is named, with how to create it."""
        text = config_text(SERVER + 'token_file = "token"')
        token = config_file.parent / "token"
        assert _problems(config_file, text) == [
            f"$.server.token_file: {token} does not exist; write the API token into it, "
            f"then run: chmod 600 {token}"
        ]

    @pytest.mark.parametrize(
        ("content", "why"),
        [("\n  \n", "is empty"), ("a\nb\n", "must hold the API token alone, on one line")],
    )
    def test_token_file_content(self, content: str, why: str, config_file: Path) -> None:
        """A token file must hold one token on one line."""
        _token_file(config_file.parent, text=content)
        (problem,) = _problems(config_file, config_text(SERVER + 'token_file = "token"'))
        assert why in problem

    def test_token_file_read(self, config_file: Path) -> None:
        """A private token file is accepted (config mode irrelevant) and read stripped."""
        _token_file(config_file.parent)
        write(config_file, config_text(SERVER + 'token_file = "token"'), 0o644)
        server = load_config(config_file).config.server
        assert server.token_file == str(config_file.parent / "token")
        assert read_token(server) == "dG9rZW4="

    def test_ca_bundle_must_be_readable(self, config_file: Path) -> None:
        """verify_tls naming a CA bundle that does not exist is refused."""
        text = config_text(SERVER + 'token = "abc"\nverify_tls = "ca.pem"')
        assert _problems(config_file, text) == [
            f"$.server.verify_tls: cannot read the CA bundle {config_file.parent / 'ca.pem'}"
        ]


class TestFolders:
    def test_data_dir_under_a_file(self, config_file: Path, tmp_path: Path) -> None:
        """A data folder that cannot be created (a file is in the way) is refused."""
        write(tmp_path / "blocker", "")
        text = config_text(node=f'data_dir = "{tmp_path}/blocker/data"')
        assert _problems(config_file, text) == [
            f"$.node.data_dir: {tmp_path}/blocker/data cannot be created: "
            f"{tmp_path}/blocker is not a folder"
        ]

    def test_data_dir_is_a_file(self, config_file: Path, tmp_path: Path) -> None:
        """A data folder that is a file is refused."""
        write(tmp_path / "data", "")
        text = config_text(node=f'data_dir = "{tmp_path}/data"')
        assert _problems(config_file, text) == [
            f"$.node.data_dir: {tmp_path}/data exists but is not a folder"
        ]

    @pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
    def test_data_dir_not_writable(self, config_file: Path, tmp_path: Path) -> None:
        """A data folder in a folder this user cannot write is refused."""
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        text = config_text(node=f'data_dir = "{locked}/data"')
        assert _problems(config_file, text) == [
            f"$.node.data_dir: {locked}/data cannot be created: {locked} is not writable "
            "by this user"
        ]

    def test_spool_path_is_a_folder(self, config_file: Path, tmp_path: Path) -> None:
        """A spool path that is a folder is refused."""
        text = config_text(f'[spool]\npath = "{tmp_path}"')
        assert _problems(config_file, text) == [f"$.spool.path: {tmp_path} is not a file"]

    def test_creatable_folders_are_not_created(self, config_file: Path, tmp_path: Path) -> None:
        """Checking that folders can be created does not create them."""
        text = config_text('[[watch]]\nid = "a"\npath = "deep/in"', node='data_dir = "data"')
        write(config_file, text)
        loaded = load_config(config_file)
        assert loaded.config.node.data_dir == str(config_file.parent / "data")
        assert not (config_file.parent / "data").exists()
        assert not (config_file.parent / "deep").exists()

    def test_defaults_and_relative_paths(self, config_file: Path, xdg: dict[str, Path]) -> None:
        """Empty paths get the XDG defaults; relative ones are relative to the file; ~ is HOME."""
        text = config_text('[[watch]]\nid = "a"\npath = "~/in"\n[[watch]]\nid = "b"\npath = "in"')
        write(config_file, text)
        loaded = load_config(config_file, instance="node")
        config = loaded.config
        data = xdg["XDG_STATE_HOME"] / "pywats-node" / "node"
        assert config.node.instance == "node"
        assert config.node.data_dir == str(data)
        assert config.spool.path == str(data / "spool.sqlite3")
        assert loaded.runtime_dir == str(xdg["XDG_RUNTIME_DIR"] / "pywats-node" / "node")
        assert [w.path for w in config.watch] == [
            str(xdg["HOME"] / "in"),
            str(config_file.parent / "in"),
        ]


class TestWatchFolders:
    def test_duplicate_id_and_path(self, config_file: Path) -> None:
        """Two [[watch]] tables may not share an id or a folder."""
        text = config_text('[[watch]]\nid = "a"\npath = "in"\n[[watch]]\nid = "a"\npath = "./in/"')
        folder = config_file.parent / "in"
        assert _problems(config_file, text) == [
            "$.watch[1].id: 'a' is already the id of $.watch[0]",
            f"$.watch[1].path: {folder} is already watched by 'a'",
        ]

    def test_inside_anothers_done_folder(self, config_file: Path) -> None:
        """A watch folder inside another's done or error folder is refused."""
        text = config_text(
            '[[watch]]\nid = "a"\npath = "in"\n'
            '[[watch]]\nid = "b"\npath = "in/done"\n'
            '[[watch]]\nid = "c"\npath = "in/failed/x"\n'
        ).replace('path = "in"\n', 'path = "in"\nerror_folder = "failed"\n', 1)
        root = config_file.parent / "in"
        assert _problems(config_file, text) == [
            f"$.watch[1].path: {root}/done is inside the done folder of watch 'a'; "
            "its files would be taken again",
            f"$.watch[2].path: {root}/failed/x is inside the error folder of watch 'a'; "
            "its files would be taken again",
        ]

    def test_inside_recursive_watch(self, config_file: Path) -> None:
        """A watch folder inside a recursive one would see every file twice."""
        text = config_text(
            '[[watch]]\nid = "all"\npath = "in"\nrecursive = true\n'
            '[[watch]]\nid = "sub"\npath = "in/sub"\n'
        )
        assert _problems(config_file, text) == [
            f"$.watch[1].path: {config_file.parent}/in/sub is inside 'all', which is "
            "recursive; its files would be taken twice"
        ]

    def test_nested_in_non_recursive_watch_is_fine(self, config_file: Path) -> None:
        """A folder inside a non-recursive watch folder may be watched on its own."""
        text = config_text(
            '[[watch]]\nid = "all"\npath = "in"\n[[watch]]\nid = "sub"\npath = "in/sub"\n'
        )
        write(config_file, text)
        assert len(load_config(config_file).config.watch) == 2

    def test_done_equals_error(self, config_file: Path) -> None:
        """The done and error folders must differ."""
        text = config_text('[[watch]]\nid = "a"\npath = "in"\nerror_folder = "done"')
        assert _problems(config_file, text) == [
            "$.watch[0].error_folder: the same folder as done_folder ('done')"
        ]

    def test_done_folder_is_a_file(self, config_file: Path) -> None:
        """A done folder name taken by a file is a note, not a refusal: that folder's files
        wait in place while the others run."""
        write(config_file.parent / "in" / "done", "")
        write(config_file, config_text('[[watch]]\nid = "a"\npath = "in"'))
        notes = load_config(config_file).notes
        assert [n for n in notes if n.startswith("$.watch")] == [
            f"$.watch[0].done_folder: {config_file.parent}/in/done exists but is not a folder; "
            "files of this folder are converted and uploaded but stay in place until it is a "
            "folder"
        ]

    def test_unreachable_watch_folder_is_a_note(self, config_file: Path) -> None:
        """A watch folder that cannot be made now (a share not mounted yet: a file stands
        where its parent should be) does not keep the node from starting; it is a note."""
        write(config_file.parent / "mnt", "")
        text = config_text(
            '[[watch]]\nid = "share"\npath = "mnt/results"\n[[watch]]\nid = "local"\npath = "in"\n'
        )
        write(config_file, text)
        loaded = load_config(config_file)
        assert [w.id for w in loaded.config.watch] == ["share", "local"]
        assert [n for n in loaded.notes if n.startswith("$.watch")] == [
            f"$.watch[0].path: {config_file.parent}/mnt/results cannot be created: "
            f"{config_file.parent}/mnt is not a folder; the node waits for this folder"
        ]


class TestOtherChecks:
    def test_orderings(self, config_file: Path) -> None:
        """Caps below their bases, and bodies kept longer than records, are refused."""
        text = config_text(
            "[upload]\nbackoff_base = 10\nbackoff_cap = 5\nbreaker_open_for = 60\n"
            "breaker_max_open = 30\n[spool]\nkeep_sent_days = 1\nkeep_sent_bodies_days = 2\n"
        )
        assert _problems(config_file, text) == [
            "$.upload.backoff_cap: 5 is below backoff_base (10)",
            "$.upload.breaker_max_open: 30 is below breaker_open_for (60)",
            "$.spool.keep_sent_bodies_days: 2 is more than keep_sent_days (1): a body cannot "
            "outlive its record",
        ]

    def test_nil_namespace(self, config_file: Path) -> None:
        """The nil UUID is not accepted as a station namespace."""
        text = config_text().replace(
            "6f1c3a52-0b7e-4c21-9d3e-5a8f2b1c4d70", "00000000-0000-0000-0000-000000000000"
        )
        (problem,) = _problems(config_file, text)
        assert problem.startswith("$.node.station_namespace: the nil UUID is not a namespace")

    def test_instance_mismatch(self, config_file: Path) -> None:
        """A file for another instance is refused when loaded as this one."""
        write(config_file, config_text(node='instance = "line2"'))
        with pytest.raises(ConfigInvalid) as caught:
            load_config(config_file, instance="line1")
        assert [str(p) for p in caught.value.problems] == [
            "$.node.instance: this file is for instance 'line2', but it was loaded as 'line1'"
        ]

    def test_every_semantic_problem_is_reported(self, config_file: Path) -> None:
        """Semantic problems in different sections are all reported together."""
        text = config_text(
            '[server]\nbase_url = "gopher://x"\n[upload]\nbackoff_base = 10\nbackoff_cap = 5\n'
            '[[watch]]\nid = "a"\npath = "a"\nerror_folder = "done"'
        )
        assert [p.split(":")[0] for p in _problems(config_file, text)] == [
            "$.server.base_url",
            "$.server",
            "$.upload.backoff_cap",
            "$.watch[0].error_folder",
        ]

    def test_parse_config_checks_text_for_a_future_file(self, config_file: Path) -> None:
        """Text can be checked before it is written; an inline token is fine (0600 to come)."""
        loaded = parse_config(config_text(SERVER + 'token = "abc"'), path=config_file)
        assert loaded.path == str(config_file)
