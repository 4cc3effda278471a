"""Loading a configuration file: read, parse, migrate, convert, resolve, check.

Each stage either passes its result on or stops with every problem it found. A file is only
ever used whole: there is no "partly valid" configuration.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

from ._checks import check_config, watch_folder_notes
from ._decode import ConfigDecoder
from ._errors import (
    ConfigError,
    ConfigInvalid,
    ConfigNotFound,
    ConfigSyntaxError,
    ConfigVersionUnsupported,
)
from ._migrate import drop_retired_sections, migrate, schema_version_of
from ._problems import ConfigProblem
from ._resolve import choose_instance, resolve
from ._schema import CURRENT_SCHEMA_VERSION, NodeConfig, ServerSection

__all__ = ["LoadedConfig", "load_config", "parse_config", "read_token"]

_DECODER = ConfigDecoder()


class LoadedConfig(msgspec.Struct, frozen=True, kw_only=True):
    """A configuration that passed every check, and where it came from.

    Attributes:
        path: the configuration file (absolute).
        config: the configuration, with every path absolute and every default filled in.
        runtime_dir: the instance's runtime folder (files that live only while it runs).
        source_version: the file's ``schema_version`` as written; older than
            :data:`CURRENT_SCHEMA_VERSION` means it was migrated in memory.
        notes: what an operator should know but need not fix, such as the migration steps.
    """

    path: str
    config: NodeConfig
    runtime_dir: str
    source_version: int = CURRENT_SCHEMA_VERSION
    notes: tuple[str, ...] = ()


def load_config(
    path: str | os.PathLike[str],
    *,
    instance: str | None = None,
    env: Mapping[str, str] | None = None,
) -> LoadedConfig:
    """Read and check the configuration file at *path*.

    Blocking (file-system calls); actors call it with ``trio.to_thread.run_sync``.

    Args:
        path: the file; ``~`` is expanded.
        instance: the instance it is loaded as (``--instance``); when given, a different
            ``node.instance`` in the file is a problem. ``None``: the file's ``node.instance``,
            else the file's name without ``.toml``.
        env: the environment for the XDG defaults (``os.environ`` by default).

    Raises:
        ConfigNotFound: there is no file at *path*.
        ConfigSyntaxError: it is not TOML.
        ConfigVersionUnsupported: it was written for a newer pywats-node.
        ConfigInvalid: anything else; ``.problems`` lists every problem with its path.
        ConfigError: it cannot be read (permissions, a folder...).
    """
    file = Path(os.path.abspath(Path(path).expanduser()))
    try:
        with open(file, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode & 0o777
            data = handle.read()
    except FileNotFoundError:
        raise ConfigNotFound(file) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror}", path=file) from exc
    return parse_config(data, path=file, instance=instance, env=env, file_mode=mode)


def parse_config(
    data: bytes | str,
    *,
    path: str | os.PathLike[str],
    instance: str | None = None,
    env: Mapping[str, str] | None = None,
    file_mode: int | None = None,
) -> LoadedConfig:
    """Check configuration text as if it were the file at *path*, without reading that file.

    This is how new text (from a tool that edits the file) is checked before
    :func:`write_config_atomically` puts it in place. Relative paths in it are taken relative
    to *path*'s folder; folders and the token file are checked on disk.

    Args:
        data: the TOML text.
        path: where the text lives, or will.
        instance: as for :func:`load_config`.
        env: as for :func:`load_config`.
        file_mode: the permission bits of the file the text comes from, to refuse an inline
            token in a file others can read; ``None`` for text about to be written with 0600.

    Raises:
        ConfigSyntaxError, ConfigVersionUnsupported, ConfigInvalid: as for :func:`load_config`.
    """
    file = Path(os.path.abspath(Path(path).expanduser()))
    raw = data.encode("utf-8") if isinstance(data, str) else data
    values, syntax = _DECODER.parse(raw)
    if values is None:
        assert syntax is not None
        raise ConfigSyntaxError(file, syntax)
    version = schema_version_of(values)
    if isinstance(version, ConfigProblem):
        raise ConfigInvalid(file, (version,))
    if version > CURRENT_SCHEMA_VERSION:
        problem = ConfigProblem(
            path="$.schema_version",
            message=(
                f"this file is schema version {version}, but this pywats-node reads versions "
                f"up to {CURRENT_SCHEMA_VERSION}; upgrade pywats-node, or write a version "
                f"{CURRENT_SCHEMA_VERSION} file (pywats-node config init)"
            ),
            value=version,
        )
        raise ConfigVersionUnsupported(file, problem, version, CURRENT_SCHEMA_VERSION)
    values, steps = migrate(values, version)
    notes: tuple[str, ...] = ()
    if version < CURRENT_SCHEMA_VERSION:
        notes = (
            f"{file} is schema version {version}; it was migrated to version "
            f"{CURRENT_SCHEMA_VERSION} in memory and the file is unchanged",
            *steps,
        )
    else:
        values = dict(values)  # the caller's values stay untouched
    notes += drop_retired_sections(values)
    converted = _DECODER.convert(values)
    if not isinstance(converted, NodeConfig):
        beside = _checks_beside_schema_problems(values, converted, file, instance, env, file_mode)
        raise ConfigInvalid(file, (*converted, *beside))
    config, runtime_dir, problems = _check(converted, file, instance, env, file_mode)
    if problems:
        raise ConfigInvalid(file, tuple(problems))
    notes += tuple(watch_folder_notes(config))
    return LoadedConfig(
        path=str(file),
        config=config,
        runtime_dir=str(runtime_dir),
        source_version=version,
        notes=notes,
    )


def _check(
    converted: NodeConfig,
    file: Path,
    instance: str | None,
    env: Mapping[str, str] | None,
    file_mode: int | None,
) -> tuple[NodeConfig, Path, list[ConfigProblem]]:
    """Resolve a converted configuration and find every problem the schema cannot see."""
    problems: list[ConfigProblem] = []
    written = converted.node.instance
    if instance is not None and written and written != instance:
        problems.append(
            ConfigProblem(
                path="$.node.instance",
                message=f"this file is for instance {written!r}, but it was loaded as {instance!r}",
                value=written,
            )
        )
    chosen = choose_instance(written, instance, file)
    config, runtime_dir = resolve(converted, instance=chosen, config_dir=file.parent, env=env)
    problems += check_config(config, config_file=str(file), config_mode=file_mode)
    return config, runtime_dir, problems


def _section(path: str) -> str:
    """The top-level key a problem's path is in (``$.watch[1].path`` -> ``watch``)."""
    return path.removeprefix("$").removeprefix(".").split(".", 1)[0].split("[", 1)[0]


def _checks_beside_schema_problems(
    values: dict[str, object],
    schema_problems: tuple[ConfigProblem, ...],
    file: Path,
    instance: str | None,
    env: Mapping[str, str] | None,
    file_mode: int | None,
) -> list[ConfigProblem]:
    """The other checks' problems in the sections the schema found nothing wrong with.

    So that one pass reports every problem: the sections with schema problems are left out
    (their defaults stand in), the rest is checked as usual, and only problems in sections
    that were not left out are kept. Nothing is added when the whole file or ``[node]`` (which
    the other checks need) has a schema problem.
    """
    broken = {_section(problem.path) for problem in schema_problems}
    if "" in broken or "node" in broken or "schema_version" in broken:
        return []
    rest = _DECODER.convert({key: v for key, v in values.items() if key not in broken})
    if not isinstance(rest, NodeConfig):
        return []
    _, _, problems = _check(rest, file, instance, env, file_mode)
    return [problem for problem in problems if _section(problem.path) not in broken]


def read_token(server: ServerSection) -> str:
    """The API token: ``server.token``, else the stripped content of ``server.token_file``.

    Blocking. Returns ``""`` when neither is set (no server configured).

    Raises:
        ConfigError: the token file cannot be read.
    """
    if server.token or not server.token_file:
        return server.token
    path = Path(server.token_file)
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the token file {path}: {exc}", path=path) from exc
