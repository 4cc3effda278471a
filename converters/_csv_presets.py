"""The shipped mappings of the CSV/TSV converter: presets stored as TOML in ``csv_mappings/``.

A preset is a table of ``CsvArguments`` values, kept as a data file (not code) so that it can be
read as an example of a mapping. ``mapping = "NAME"`` starts from the preset; the arguments given
with it override its values, a table (``columns``, ``defaults``, ``curves``, ``status``) key by
key. Files are read once per process, on first use.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Any

__all__ = ["expand_preset", "load_preset", "preset_names", "recognise_preset"]

_FOLDER = "csv_mappings"
_SUFFIX = ".toml"


@functools.cache
def preset_names() -> tuple[str, ...]:
    """The names of the shipped presets, sorted."""
    folder = resources.files(__package__ or "converters") / _FOLDER
    return tuple(
        sorted(
            entry.name.removesuffix(_SUFFIX)
            for entry in folder.iterdir()
            if entry.name.endswith(_SUFFIX)
        )
    )


@functools.cache
def _read(name: str) -> dict[str, Any]:
    folder = resources.files(__package__ or "converters") / _FOLDER
    text = (folder / f"{name}{_SUFFIX}").read_text(encoding="utf-8")
    values = tomllib.loads(text)
    values.pop("detect", None)  # how auto-detection recognises such files: see _signature
    if "mapping" in values:
        raise ValueError(f"preset {name!r} names another preset; presets do not chain")
    return values


def load_preset(name: str) -> dict[str, Any]:
    """The raw values of preset ``name`` (a fresh copy: the caller may change it).

    Raises:
        ValueError: no preset has that name.
    """
    names = preset_names()
    if name not in names:
        raise ValueError(f"unknown mapping {name!r}; the shipped mappings are {', '.join(names)}")
    return _merge({}, _read(name))


def expand_preset(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` over the preset its ``mapping`` names (``raw`` itself when it names none).

    Raises:
        ValueError: ``mapping`` is not a shipped preset's name.
    """
    name = raw.get("mapping")
    if name is None:
        return dict(raw)
    if not isinstance(name, str):
        raise ValueError(f"mapping must be a preset's name, not {name!r}")
    return _merge(load_preset(name), raw)


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` merged into ``base`` (changed in place and returned); tables merge key by key,
    any other value replaces the base's."""
    for key, value in over.items():
        current = base.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            _merge(current, value)
        elif isinstance(value, Mapping):
            base[key] = _merge({}, value)
        elif isinstance(value, list):
            base[key] = list(value)
        else:
            base[key] = value
    return base


@functools.cache
def _signature(name: str) -> tuple[str, ...]:
    """The header cells a file of preset ``name`` has (casefolded; empty: none)."""
    folder = resources.files(__package__ or "converters") / _FOLDER
    detect = tomllib.loads((folder / f"{name}{_SUFFIX}").read_text(encoding="utf-8")).get(
        "detect", {}
    )
    return tuple(str(cell).strip().casefold() for cell in detect.get("header_has", ()))


_COMMA_NUMBER = re.compile(r"^-?\d+,\d+$")
_POINT_NUMBER = re.compile(r"^-?\d+\.\d+$")


def recognise_preset(lines: list[str], delimiter: str) -> str | None:
    """The shipped mapping whose layout ``lines`` (a file's first non-empty lines, the header
    first) has, or ``None``.

    A preset says which cells its header has; among the presets that match, the one
    whose date formats read the first data row's start cell wins, then the one whose decimal
    separator the data's numbers use; when that leaves several, the first by name.
    """
    header = [cell.strip().strip('"').casefold() for cell in lines[0].split(delimiter)]
    matching = [
        name for name in preset_names() if (cells := _signature(name)) and set(cells) <= set(header)
    ]
    if len(matching) <= 1:
        return matching[0] if matching else None
    rows = [line.split(delimiter) for line in lines[1:]]
    commas = sum(1 for row in rows for cell in row if _COMMA_NUMBER.match(cell.strip()))
    points = sum(1 for row in rows for cell in row if _POINT_NUMBER.match(cell.strip()))

    def fit(name: str) -> tuple[bool, bool]:
        preset = _read(name)
        column = preset.get("columns", {}).get("start")
        dates = preset.get("date_format") or []
        formats = [dates] if isinstance(dates, str) else list(dates)
        reads = False
        if isinstance(column, str) and column.strip().casefold() in header and rows:
            index = header.index(column.strip().casefold())
            cell = rows[0][index].strip() if index < len(rows[0]) else ""
            reads = any(_parses(cell, f) for f in formats)
        separator = preset.get("decimal_separator", ".")
        return reads, (commas > points) == (separator == ",")

    return max(matching, key=fit)  # max keeps the first of equals


def _parses(text: str, date_format: str) -> bool:
    try:
        dt.datetime.strptime(text, date_format)
    except ValueError:
        return False
    return True
