"""Where an instance's files live by default (the XDG base directories), and ``--config`` /
``--instance`` resolution.

=================  ====================================================  ===========================
what               where                                                 if the variable is unset
=================  ====================================================  ===========================
configuration      ``$XDG_CONFIG_HOME/pywats-node/<instance>.toml``      ``~/.config``
data (spool...)    ``$XDG_STATE_HOME/pywats-node/<instance>/``           ``~/.local/state``
runtime (socket)   ``$XDG_RUNTIME_DIR/pywats-node/<instance>/``          ``<data folder>/run``
=================  ====================================================  ===========================

State, not data: the spool is this machine's work in progress, not documents a user would copy
to another machine, which is what the XDG spec means by ``$XDG_STATE_HOME``; a service run by
systemd gets it from ``StateDirectory=``. As the spec says, a variable holding a relative path
is ignored.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from ._errors import ConfigError
from ._schema import _NAME_PATTERN

__all__ = [
    "APP_DIR",
    "DEFAULT_INSTANCE",
    "ConfigLocation",
    "check_instance_name",
    "default_config_path",
    "default_data_dir",
    "default_runtime_dir",
    "resolve_config_path",
]

APP_DIR = "pywats-node"
"""The folder name used under each XDG base directory."""

DEFAULT_INSTANCE = "default"
"""The instance used when neither ``--instance`` nor ``--config`` is given."""

_NAME = re.compile(_NAME_PATTERN)


class ConfigLocation(NamedTuple):
    """Which file to load, and as which instance.

    Attributes:
        path: the configuration file.
        instance: the instance asked for with ``--instance`` (or the default one), which the
            file's ``node.instance`` must agree with; ``None`` when only ``--config`` was given,
            so the file (or its name) says which instance it is.
    """

    path: Path
    instance: str | None


def check_instance_name(instance: str) -> str:
    """Return *instance* if it is a valid instance name.

    Raises:
        ValueError: it is not 1 to 64 letters, digits, ``.``, ``_`` or ``-`` starting with a
            letter or digit (so it is always safe as a file name).
    """
    if not _NAME.match(instance):
        raise ValueError(
            f"invalid instance name {instance!r}: use 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return instance


def _base(env: Mapping[str, str] | None, variable: str, fallback: tuple[str, ...]) -> Path:
    environ = os.environ if env is None else env
    value = environ.get(variable, "")
    if value and os.path.isabs(value):
        return Path(value)
    home = environ.get("HOME") or str(Path.home())
    return Path(home, *fallback)


def default_config_path(
    instance: str = DEFAULT_INSTANCE, *, env: Mapping[str, str] | None = None
) -> Path:
    """``$XDG_CONFIG_HOME/pywats-node/<instance>.toml`` (``~/.config`` when unset)."""
    check_instance_name(instance)
    return _base(env, "XDG_CONFIG_HOME", (".config",)) / APP_DIR / f"{instance}.toml"


def default_data_dir(instance: str, *, env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/pywats-node/<instance>`` (``~/.local/state`` when unset)."""
    check_instance_name(instance)
    return _base(env, "XDG_STATE_HOME", (".local", "state")) / APP_DIR / instance


def default_runtime_dir(
    instance: str, *, data_dir: str | Path | None = None, env: Mapping[str, str] | None = None
) -> Path:
    """``$XDG_RUNTIME_DIR/pywats-node/<instance>``, else ``run`` in the data folder.

    Args:
        instance: the instance name.
        data_dir: the instance's data folder, for the fallback; by default
            :func:`default_data_dir`.
        env: the environment to read (``os.environ`` by default).
    """
    check_instance_name(instance)
    environ = os.environ if env is None else env
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime):
        return Path(runtime) / APP_DIR / instance
    base = Path(data_dir) if data_dir is not None else default_data_dir(instance, env=env)
    return base / "run"


def resolve_config_path(
    config: str | os.PathLike[str] | None = None,
    instance: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> ConfigLocation:
    """Turn the ``--config`` and ``--instance`` options into the file to load.

    * ``--config FILE``: that file; the instance is what the file says (or its name).
    * ``--instance NAME``: ``$XDG_CONFIG_HOME/pywats-node/NAME.toml``.
    * both: that file, which must be the configuration of instance NAME.
    * neither: the ``default`` instance's file.

    Raises:
        ConfigError: the instance name is invalid.
    """
    if instance is not None:
        try:
            check_instance_name(instance)
        except ValueError as exc:
            raise ConfigError(str(exc), path=Path(config or ".")) from None
    if config is not None:
        return ConfigLocation(Path(config).expanduser(), instance)
    name = DEFAULT_INSTANCE if instance is None else instance
    return ConfigLocation(default_config_path(name, env=env), name)
