"""File locations: XDG defaults and --config / --instance resolution."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pywats_actors.config import (
    ConfigError,
    ConfigLocation,
    default_config_path,
    default_data_dir,
    default_runtime_dir,
    load_config,
    resolve_config_path,
)

from .conftest import config_text, write


class TestDefaults:
    def test_xdg_locations(self) -> None:
        """Config, state and runtime folders follow the XDG variables."""
        env = {"XDG_CONFIG_HOME": "/c", "XDG_STATE_HOME": "/s", "XDG_RUNTIME_DIR": "/r"}
        assert default_config_path("line1", env=env) == Path("/c/pywats-node/line1.toml")
        assert default_data_dir("line1", env=env) == Path("/s/pywats-node/line1")
        assert default_runtime_dir("line1", env=env) == Path("/r/pywats-node/line1")

    def test_fallbacks(self) -> None:
        """Unset (or relative) XDG variables fall back to the spec's defaults under HOME."""
        env = {"HOME": "/home/op", "XDG_CONFIG_HOME": "relative/ignored"}
        assert default_config_path(env=env) == Path("/home/op/.config/pywats-node/default.toml")
        assert default_data_dir("a", env=env) == Path("/home/op/.local/state/pywats-node/a")
        assert default_runtime_dir("a", env=env) == Path("/home/op/.local/state/pywats-node/a/run")
        assert default_runtime_dir("a", data_dir="/data", env=env) == Path("/data/run")

    def test_invalid_instance_name(self) -> None:
        """An instance name that is not a plain file name is refused."""
        with pytest.raises(ValueError, match=re.escape("invalid instance name '../x'")):
            default_config_path("../x", env={})


class TestResolve:
    def test_neither(self, xdg: dict[str, Path]) -> None:
        """Without options, the default instance's file is used."""
        path = xdg["XDG_CONFIG_HOME"] / "pywats-node" / "default.toml"
        assert resolve_config_path() == ConfigLocation(path, "default")

    def test_instance(self, xdg: dict[str, Path]) -> None:
        """--instance picks that instance's file."""
        path = xdg["XDG_CONFIG_HOME"] / "pywats-node" / "line1.toml"
        assert resolve_config_path(instance="line1") == ConfigLocation(path, "line1")

    def test_config(self, tmp_path: Path) -> None:
        """--config alone uses that file, and the file says which instance it is."""
        assert resolve_config_path(tmp_path / "x.toml") == ConfigLocation(tmp_path / "x.toml", None)

    def test_both(self, tmp_path: Path) -> None:
        """--config with --instance uses the file, which must be for that instance."""
        location = resolve_config_path(str(tmp_path / "x.toml"), "line1")
        assert location == ConfigLocation(tmp_path / "x.toml", "line1")

    def test_bad_instance(self) -> None:
        """An invalid --instance is a ConfigError."""
        with pytest.raises(ConfigError, match="invalid instance name"):
            resolve_config_path(instance="a/b")

    def test_instance_from_file_name(self, tmp_path: Path) -> None:
        """A file loaded with --config alone is the instance its name says."""
        write(tmp_path / "line7.toml", config_text())
        assert load_config(tmp_path / "line7.toml").config.node.instance == "line7"

    def test_instance_from_file_content(self, tmp_path: Path) -> None:
        """node.instance in the file wins over the file's name."""
        write(tmp_path / "line7.toml", config_text(node='instance = "east"'))
        assert load_config(tmp_path / "line7.toml").config.node.instance == "east"

    def test_odd_file_name_is_default_instance(self, tmp_path: Path) -> None:
        """A file whose name is no instance name is the default instance."""
        write(tmp_path / "-my config.toml", config_text())
        assert load_config(tmp_path / "-my config.toml").config.node.instance == "default"
