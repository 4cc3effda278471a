"""Finding converters and validating their arguments.

A converter reference is one of:

* a plain name: a built-in converter (``wsjf``, ``csv``) or an entry point of the group
  ``pywats_actors.converters`` (built-ins win a name clash);
* a dotted path: ``package.module:Class`` or ``package.module.Class``;
* a file: ``path/to/file.py:Class`` (relative paths are relative to the current directory).

Loading imports code, so it happens only inside a sandboxed worker process in production; the
node's own process never imports a plug-in.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from ._errors import (
    ConverterApiMismatch,
    ConverterArgumentsError,
    ConverterInvalid,
    ConverterLoadError,
    ConverterNotFound,
)
from ._sdk import SUPPORTED_API_VERSIONS

if TYPE_CHECKING:
    from importlib.metadata import EntryPoints

__all__ = [
    "AUTO_DETECTED",
    "BUILTIN_CONVERTERS",
    "ENTRY_POINT_GROUP",
    "absolute_ref",
    "available_converters",
    "load_converter",
    "ref_home",
    "validate_arguments",
]


def _entry_points() -> EntryPoints:
    """Converters advertised by installed distributions (imported on first use: reading the
    installed metadata costs tens of milliseconds, which every worker start would pay)."""
    import importlib.metadata

    return importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)


ENTRY_POINT_GROUP = "pywats_actors.converters"

BUILTIN_CONVERTERS: Mapping[str, str] = {
    "atml": "converters._atml:AtmlConverter",
    "csv": "converters._csv:CsvConverter",
    "folder-poll": "converters._folder_poll:FolderPollConverter",
    "junit": "converters._junit:JunitConverter",
    "klippel": "converters._klippel:KlippelConverter",
    "openhtf": "converters._openhtf:OpenHtfConverter",
    "stdf": "converters._stdf:StdfConverter",
    "teradyne-gr228x": "converters._teradyne_gr228x:Gr228xConverter",
    "teradyne-spectrum": "converters._teradyne_spectrum:SpectrumConverter",
    "teststand": "converters._teststand:TestStandConverter",
    "wsjf": "converters._wsjf:WsjfConverter",
    "wstf": "converters._wstf:WstfConverter",
    "wsxf": "converters._wsxf:WsxfConverter",
    "xjtag": "converters._xjtag:XjtagConverter",
}
"""Built-in converter names and the dotted paths they stand for."""

AUTO_DETECTED: tuple[str, ...] = (
    "wsjf",
    "wsxf",
    "wstf",
    "teststand",
    "atml",
    "junit",
    "openhtf",
    "xjtag",
    "teradyne-gr228x",
    "teradyne-spectrum",
    "stdf",
    "csv",
)
"""The built-in file converters that auto-detection asks, unless the configuration disables
them (``[conversion] disabled``): every built-in that reads one file. Their order is the order
scores are listed in."""

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_FILE_REF_RE = re.compile(r"^(?P<path>.+\.py):(?P<attr>[A-Za-z_][A-Za-z0-9_.]*)$")


def available_converters() -> dict[str, str]:
    """Every converter that can be named by a plain name: built-ins and entry points.

    Returns:
        name -> dotted path (``module:attribute``), built-ins first.
    """
    found = dict(BUILTIN_CONVERTERS)
    for entry in _entry_points():
        found.setdefault(entry.name, entry.value)
    return found


def absolute_ref(ref: str) -> str:
    """``ref`` with a relative file path made absolute (from the current directory); other
    references unchanged. Workers run in their own directory, so the pool resolves paths first."""
    match = _FILE_REF_RE.match(ref.strip())
    if match is None or os.path.isabs(os.path.expanduser(match["path"])):
        return ref
    return f"{os.path.abspath(match['path'])}:{match['attr']}"


def ref_home(ref: str) -> tuple[str, str]:
    """Where the code of ``ref`` lives, found without importing it: ``(kind, key)``.

    ``kind`` is ``builtin`` (it resolves into the ``converters`` package: a built-in name, a
    dotted path into ``converters``, an entry point whose target is there; ``key`` is the
    dotted ``module:attribute``), ``file`` (``key``: the resolved path of the ``.py`` file),
    ``module`` (a dotted path elsewhere; ``key``: the module) or ``entry`` (an entry point;
    ``key``: its target's module). A plain name that is neither a built-in nor an entry point
    is ``unknown`` (``key``: the name); loading it fails with :class:`ConverterNotFound`.
    References with the same ``kind`` and ``key`` (but for ``builtin``) are the same plug-in
    module.
    """
    ref = ref.strip()
    match = _FILE_REF_RE.match(ref)
    if match is not None:
        return "file", str(Path(match["path"]).expanduser().resolve())
    if ":" in ref or "." in ref:
        dotted, kind = ref, "module"
    elif ref in BUILTIN_CONVERTERS:
        dotted, kind = BUILTIN_CONVERTERS[ref], "module"
    else:
        entries = [entry.value for entry in _entry_points() if entry.name == ref]
        if not entries:
            return "unknown", ref
        dotted, kind = entries[0], "entry"
    module = dotted.partition(":")[0] if ":" in dotted else dotted.rpartition(".")[0]
    if module == "converters" or module.startswith("converters."):
        attr = dotted.partition(":")[2] if ":" in dotted else dotted.rpartition(".")[2]
        return "builtin", f"{module}:{attr}"
    return kind, module


def load_converter(ref: str) -> type[Any]:
    """Import the converter class that ``ref`` names and check that it implements the protocol.

    Raises:
        ConverterNotFound: no such built-in, entry point, module, file or attribute.
        ConverterApiMismatch: its ``api_version`` is not supported.
        ConverterInvalid: it lacks a method or attribute, declares one badly, or its module
            raised while being imported.
    """
    ref = ref.strip()
    match = _FILE_REF_RE.match(ref)
    try:
        if match is not None:
            obj = _load_from_file(ref, Path(match["path"]), match["attr"])
        elif ":" in ref or "." in ref:
            obj = _load_dotted(ref, ref)
        else:
            obj = _load_by_name(ref)
    except ConverterLoadError:
        raise
    except Exception as exc:  # the plug-in's own module code failed while importing
        raise ConverterInvalid(ref, f"importing it raised {type(exc).__name__}: {exc}") from exc
    check_converter_class(ref, obj)
    assert isinstance(obj, type)
    return obj


def check_converter_class(ref: str, obj: object) -> None:
    """Check that ``obj`` is a class implementing the converter protocol.

    Raises:
        ConverterApiMismatch, ConverterInvalid: as for :func:`load_converter`.
    """
    if not isinstance(obj, type):
        raise ConverterInvalid(ref, f"{obj!r} is not a class")
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConverterInvalid(
            ref, f"its name {name!r} must match {_NAME_RE.pattern} (it is part of report ids)"
        )
    api_version = getattr(obj, "api_version", None)
    if isinstance(api_version, bool) or api_version not in SUPPORTED_API_VERSIONS:
        raise ConverterApiMismatch(ref, api_version, SUPPORTED_API_VERSIONS)
    if not isinstance(getattr(obj, "version", None), str):
        raise ConverterInvalid(ref, "its version must be a string")
    patterns = getattr(obj, "patterns", ())
    if isinstance(patterns, str) or not all(isinstance(p, str) for p in patterns):
        raise ConverterInvalid(ref, "its patterns must be a sequence of glob strings")
    arguments = getattr(obj, "Arguments", None)
    if not (isinstance(arguments, type) and issubclass(arguments, msgspec.Struct)):
        raise ConverterInvalid(ref, "its Arguments must be a msgspec.Struct subclass")
    scheduled = getattr(obj, "kind", "file") == "scheduled"  # a scheduled converter polls
    for method in ("detect", "convert", *(("poll",) if scheduled else ())):
        if not callable(getattr(obj, method, None)):
            raise ConverterInvalid(ref, f"it has no {method}() method")


def validate_arguments(ref: str, schema: type[msgspec.Struct], raw: Mapping[str, Any]) -> Any:
    """Turn configured arguments (plain TOML/JSON values) into an instance of ``schema``.

    Unknown top-level keys are refused even when the schema does not forbid them, so a typo in a
    configuration file never passes silently. A schema with a classmethod
    ``expand_arguments(raw) -> dict`` has it applied to the raw values first (a ``ValueError``
    it raises is an argument error).

    Raises:
        ConverterArgumentsError: a value of the wrong type or range, a missing required field, or
            an unknown field; ``.path`` names it (``$.columns.unit``).
    """
    if not isinstance(raw, Mapping):
        raise ConverterArgumentsError(ref, "$", f"expected a table of arguments, got {raw!r}")
    known = {field.encode_name for field in msgspec.structs.fields(schema)}
    for key in raw:
        if key not in known:
            hint = f"; known: {', '.join(sorted(known))}" if known else "; it takes none"
            raise ConverterArgumentsError(ref, f"$.{key}", f"unknown field {key!r}{hint}")
    expand = getattr(schema, "expand_arguments", None)
    if callable(expand):  # a schema may fill in values first (the csv converter's presets)
        try:
            raw = expand(raw)
        except ValueError as exc:
            raise ConverterArgumentsError(ref, "$", str(exc)) from None
    try:
        return msgspec.convert(dict(raw), schema)
    except msgspec.ValidationError as exc:
        message, separator, path = str(exc).rpartition(" - at `")
        if not separator:
            raise ConverterArgumentsError(ref, "$", str(exc)) from None
        raise ConverterArgumentsError(ref, path.removesuffix("`"), message) from None


# -- the three routes -----------------------------------------------------------------------------


def _load_by_name(name: str) -> object:
    dotted = BUILTIN_CONVERTERS.get(name)
    if dotted is not None:
        return _load_dotted(name, dotted)
    entries = [entry for entry in _entry_points() if entry.name == name]
    if not entries:
        known = ", ".join(sorted(available_converters()))
        raise ConverterNotFound(
            name, f"no built-in converter or entry point by that name ({known})"
        )
    try:
        return entries[0].load()
    except ImportError as exc:
        raise ConverterNotFound(name, f"entry point {entries[0].value!r}: {exc}") from exc


def _load_dotted(ref: str, dotted: str) -> object:
    if ":" in dotted:
        module_name, _, attr = dotted.partition(":")
    else:
        module_name, _, attr = dotted.rpartition(".")
    if not module_name or not attr:
        raise ConverterNotFound(ref, "expected package.module:Class or package.module.Class")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConverterNotFound(ref, f"cannot import {module_name!r}: {exc}") from exc
    return _get_attr(ref, module, attr)


def _load_from_file(ref: str, path: Path, attr: str) -> object:
    path = path.expanduser().resolve()
    if not path.is_file():
        raise ConverterNotFound(ref, f"no file {str(path)!r}")
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    module_name = f"_pywats_converter_{re.sub(r'[^A-Za-z0-9_]', '_', path.stem)}_{digest}"
    module = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ConverterNotFound(ref, f"cannot load {str(path)!r} as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
    return _get_attr(ref, module, attr)


def _get_attr(ref: str, module: object, attr: str) -> object:
    obj: object = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            name = getattr(module, "__name__", "?")
            raise ConverterNotFound(ref, f"module {name!r} has no attribute {attr!r}") from None
    return obj
