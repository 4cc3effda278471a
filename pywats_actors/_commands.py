"""The implementations of ``pywats-node config`` and ``convert`` (``queue`` is in ``_queue``).

Each returns the process exit code of docs/operators.md: 0 done, 1 a failure to read or write,
2 invalid input, 3 a file (or report) that does not exist.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .config import (
    ConfigError,
    ConfigInvalid,
    ConfigNotFound,
    LoadedConfig,
    init_config_command,
    load_config,
    resolve_config_path,
    validate_config_command,
)

if TYPE_CHECKING:
    from converters import ConverterConfig

__all__ = [
    "EXIT_ERROR",
    "EXIT_INVALID",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "config_init",
    "config_validate",
    "convert_command",
    "load_for_command",
]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INVALID = 2
EXIT_NOT_FOUND = 3


def config_init(config: str | None, instance: str | None, force: bool) -> int:
    """``pywats-node config init``: write a commented default configuration file."""
    location = resolve_config_path(config, instance)
    return init_config_command(location.path, force)


def config_validate(path: str | None, instance: str | None) -> int:
    """``pywats-node config validate [FILE]``: check a configuration file."""
    location = resolve_config_path(path, instance)
    return validate_config_command(location.path, instance=location.instance)


def load_for_command(config: str | None, instance: str | None, err: TextIO) -> LoadedConfig | int:
    """The configuration a command works on, or the exit code after printing why not."""
    try:
        location = resolve_config_path(config, instance)
        return load_config(location.path, instance=location.instance)
    except ConfigNotFound as exc:
        print(f"pywats-node: {exc}", file=err)
        return EXIT_NOT_FOUND
    except ConfigInvalid as exc:
        print(f"pywats-node: {exc}", file=err)
        return EXIT_INVALID
    except ConfigError as exc:
        print(f"pywats-node: {exc}", file=err)
        return EXIT_ERROR


def convert_command(
    file: str,
    converter: str | None,
    config: str | None,
    instance: str | None,
    *,
    explain: bool = False,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """``pywats-node convert FILE``: a dry-run conversion in the sandbox; prints the WSJF, or
    with ``explain`` every converter's detection score and the outcome instead.

    With a configuration, the node's converters, station namespace and ``[conversion]``
    settings apply (its worker runs as the node's would); without one, the built-ins, the dry
    run's namespace and the default settings. ``converter`` may also name a plug-in
    (``path.py:Class``, ``package.module:Class``), loaded for this run.
    """
    import uuid

    from converters import (
        DEFAULT_CONVERTERS,
        Converted,
        ConverterError,
        ConverterLoadError,
        UnknownConverter,
        convert_file_once,
        explain_file_once,
    )

    from .node._pipeline import converter_for, converter_set, describe_failure
    from .node._worker_settings import pool_settings

    converters: tuple[ConverterConfig, ...] | None = None
    settings = None
    namespace = None
    chosen = converter
    folder_ids: list[str] = []
    if config is not None or instance is not None:
        loaded = load_for_command(config, instance, err)
        if isinstance(loaded, int):
            return loaded
        converters = converter_set(loaded.config)
        settings = pool_settings(
            loaded.config, config_path=loaded.path, runtime_dir=loaded.runtime_dir
        )
        namespace = uuid.UUID(loaded.config.node.station_namespace)
        # A watch folder's id picks that folder's converter and arguments.
        folder_ids = [folder.id for folder in loaded.config.watch]
        for folder in loaded.config.watch:
            if converter == folder.id:
                chosen = converter_for(folder)
    if not Path(file).is_file():
        what = "not a file" if Path(file).exists() else "no such file"
        print(f"pywats-node: {what}: {file}", file=err)
        return EXIT_NOT_FOUND
    if chosen is not None:
        base = tuple(converters) if converters is not None else DEFAULT_CONVERTERS
        plugin = _plugin(chosen, base, err)
        if isinstance(plugin, int):
            return plugin
        if plugin is not None:
            converters = (*base, plugin)
            chosen = plugin.name
    kwargs: dict[str, object] = {}
    if converters is not None:
        kwargs["converters"] = converters
    if namespace is not None:
        kwargs["station_namespace"] = namespace
    if settings is not None:
        kwargs["settings"] = settings
    detection = None
    try:
        if explain:
            detection, result = explain_file_once(file, chosen, **kwargs)  # type: ignore[arg-type]
        else:
            result = convert_file_once(file, chosen, **kwargs)  # type: ignore[arg-type]
    except (UnknownConverter, ConverterLoadError) as exc:
        hint = f" (or a watch folder id: {', '.join(folder_ids)})" if folder_ids else ""
        print(f"pywats-node: {exc}{hint}", file=err)
        return EXIT_INVALID
    except ConverterError as exc:
        print(f"pywats-node: the conversion could not run: {exc}", file=err)
        return EXIT_ERROR
    except OSError as exc:
        print(f"pywats-node: cannot read {file}: {exc.strerror}", file=err)
        return EXIT_ERROR
    if detection is not None:
        from ._explain import print_explanation

        return print_explanation(file, detection, chosen, result, out)
    if isinstance(result, Converted):
        for report in result.reports:
            out.write(report.wsjf.decode())
            out.write("\n")
        alias = "" if result.converter == result.converter_name else f" ({result.converter})"
        print(
            f"converted by {result.converter_name} {result.converter_version}{alias}:"
            f" {len(result.reports)} report(s)",
            file=err,
        )
        return EXIT_OK
    kind, reason, details = describe_failure(result)
    print(f"pywats-node: {kind}: {reason}", file=err)
    if details:
        print(details, file=err)
    return EXIT_INVALID


_FILE_REF = re.compile(r"(?P<path>.+\.py):(?P<attr>[A-Za-z_]\w*)")


def _plugin(
    ref: str, configured: tuple[ConverterConfig, ...], err: TextIO
) -> ConverterConfig | int | None:
    """What ``--converter REF`` adds to the converters of a dry run.

    ``None``: *ref* names a converter the pool has already (a built-in, a folder's). Otherwise a
    configuration of the converter *ref* refers to (a plug-in file ``path.py:Class``, made
    absolute, since the worker does not share this directory; a dotted path
    ``package.module:Class``; an installed converter's name), named by *ref* as given; or the
    exit code after a one-line error: a plug-in file that does not exist (3), a reference
    that cannot name a converter (2).
    """
    from converters import ConverterConfig

    if ref in {config.name or config.ref for config in configured}:
        return None
    match = _FILE_REF.fullmatch(ref)
    if match is not None:
        path = Path(match["path"]).expanduser()
        if not path.is_file():
            what = "not a file" if path.exists() else "no such file"
            print(f"pywats-node: the converter's file: {what}: {path}", file=err)
            return EXIT_NOT_FOUND
        return ConverterConfig(f"{path.resolve()}:{match['attr']}", name=ref)
    if ref.endswith(".py"):
        print(
            f"pywats-node: --converter {ref!r} names a file but no class in it: give "
            f"{ref}:ClassName",
            file=err,
        )
        return EXIT_INVALID
    if not ref.strip() or any(c.isspace() for c in ref) or ref.endswith((":", ".")):
        print(
            f"pywats-node: --converter {ref!r} names no converter: give a name (wsjf, csv, an "
            "installed converter), package.module:Class or path/to/file.py:Class",
            file=err,
        )
        return EXIT_INVALID
    return ConverterConfig(ref, name=ref)
