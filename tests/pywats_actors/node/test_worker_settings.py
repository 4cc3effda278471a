"""The paths a converter worker must never read: one list, from the configuration, each path
once, and the [conversion] sandbox keys: both reach the running node's converter pool."""

from __future__ import annotations

import os
from pathlib import Path

from pywats_actors.config import LoadedConfig, load_config
from pywats_actors.node import open_node
from pywats_actors.node._worker_settings import SPOOL_FILE_SUFFIXES, hidden_paths, pool_settings

NAMESPACE = "6f1c2d4e-8a9b-4c3d-9e2f-0a1b2c3d4e5f"


def _load(
    tmp_path: Path, *, server: str = "", spool: str = "", conversion: str = ""
) -> LoadedConfig:
    folder = tmp_path / "etc"
    folder.mkdir(exist_ok=True)
    path = folder / "node.toml"
    path.write_text(
        f'schema_version = 2\n[node]\nstation_namespace = "{NAMESPACE}"\n'
        f'data_dir = "{tmp_path / "state"}"\n'
        f"[server]\n{server}\n[spool]\n{spool}\n[conversion]\n{conversion}\n"
    )
    path.chmod(0o600)
    env = {"HOME": str(tmp_path / "home"), "XDG_RUNTIME_DIR": str(tmp_path / "run")}
    return load_config(path, env=env)


def _hidden(loaded: LoadedConfig) -> tuple[str, ...]:
    return hidden_paths(loaded.config, config_path=loaded.path, runtime_dir=loaded.runtime_dir)


class TestHiddenPaths:
    def test_config_token_file_state_and_runtime_folders(self, tmp_path: Path) -> None:
        """The configuration file, the token file it names (relative to its folder), the
        state folder and the runtime folder; the spool inside the state folder is covered by
        it. Listed whether they exist yet or not: here the file and the token exist, the
        folders not yet."""
        token = tmp_path / "etc" / "wats.token"
        token.parent.mkdir()
        token.write_text("c2VjcmV0\n")
        token.chmod(0o600)
        loaded = _load(
            tmp_path, server='base_url = "https://wats.example"\ntoken_file = "wats.token"'
        )
        listed = _hidden(loaded)
        assert listed == (
            str(tmp_path / "etc" / "node.toml"),
            str(token),
            str(tmp_path / "state"),
            str(tmp_path / "run" / "pywats-node" / "node"),
        )
        assert [os.path.exists(p) for p in listed] == [True, True, False, False]

    def test_inline_token_lists_no_token_file(self, tmp_path: Path) -> None:
        """A token written inline is in the configuration file: nothing more to hide."""
        loaded = _load(tmp_path, server='base_url = "https://wats.example"\ntoken = "abc"')
        assert str(tmp_path / "etc" / "wats.token") not in _hidden(loaded)
        assert _hidden(loaded)[0] == loaded.path

    def test_spool_outside_the_state_folder_is_listed_with_its_files(self, tmp_path: Path) -> None:
        """A spool configured elsewhere: its database and the files SQLite and the writer keep
        beside it, by their configured names."""
        db = tmp_path / "var" / "spool.db"
        listed = _hidden(_load(tmp_path, spool=f'path = "{db}"'))
        assert listed[-len(SPOOL_FILE_SUFFIXES) :] == tuple(
            str(db) + suffix for suffix in ("", "-wal", "-shm", "-journal", ".lock")
        )

    def test_each_path_once_and_none_inside_a_listed_folder(self, tmp_path: Path) -> None:
        """No duplicates: a token file inside the state folder, and a runtime folder inside
        it (no XDG_RUNTIME_DIR), are covered by the folder and not listed again."""
        state = tmp_path / "state"
        state.mkdir()
        token = state / "token"
        token.write_text("abc\n")
        token.chmod(0o600)
        config = tmp_path / "etc" / "node.toml"
        config.parent.mkdir()
        config.write_text(
            f'schema_version = 2\n[node]\nstation_namespace = "{NAMESPACE}"\n'
            f'data_dir = "{state}"\n[server]\nbase_url = "https://wats.example"\n'
            f'token_file = "{token}"\n'
        )
        config.chmod(0o600)
        loaded = load_config(config, env={"HOME": str(tmp_path / "home")})
        assert loaded.runtime_dir == str(state / "run")
        listed = _hidden(loaded)
        assert listed == (str(config), str(state))
        assert len(set(listed)) == len(listed)

    def test_a_bare_configuration_lists_its_state_and_spool(self, tmp_path: Path) -> None:
        """Without a file (an embedded node) there is no configuration file to hide."""
        loaded = _load(tmp_path)
        assert hidden_paths(loaded.config) == (str(tmp_path / "state"),)


class TestPoolSettings:
    def test_every_conversion_key_reaches_the_pool_settings(self, tmp_path: Path) -> None:
        """Each [conversion] key has its PoolSettings field; the address space is twice the
        memory (at least 2048 MiB); hide_paths are the hidden paths."""
        loaded = _load(
            tmp_path,
            conversion=(
                "workers = 3\ntimeout = 7\nmemory_mb = 1500\ncpu_seconds = 9\n"
                'landlock = "required"\nnamespaces = "required"\nseccomp = "off"\ntemp_mb = 16'
            ),
        )
        settings = pool_settings(
            loaded.config, config_path=loaded.path, runtime_dir=loaded.runtime_dir
        )
        assert (settings.workers, settings.timeout, settings.cpu_seconds) == (3, 7.0, 9)
        assert (settings.memory_mb, settings.address_space_mb) == (1500, 3000)
        assert (settings.landlock, settings.namespaces, settings.seccomp) == (
            "required",
            "required",
            "off",
        )
        assert settings.temp_mb == 16
        assert settings.hide_paths == _hidden(loaded)


class TestTheNodesPool:
    async def test_sandbox_keys_and_hidden_paths_reach_the_converter_pool(
        self, tmp_path: Path
    ) -> None:
        """The running node's pool gets [conversion] namespaces, seccomp and temp_mb, and
        the hidden paths of its configuration."""
        loaded = _load(tmp_path, conversion='namespaces = "off"\nseccomp = "off"\ntemp_mb = 32')
        async with open_node(loaded, stop_grace=10) as node:
            assert node.pool is not None
            settings = node.pool.settings
        assert (settings.namespaces, settings.seccomp, settings.temp_mb) == ("off", "off", 32)
        assert settings.hide_paths == _hidden(loaded)
        assert loaded.path in settings.hide_paths
