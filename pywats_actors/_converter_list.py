"""``pywats-node converters [NAME] [--json]``: the converters this node can use.

The built-ins are described from their classes (the node's own code). Plug-ins (installed entry
points and ``[conversion] plugins``) are third-party code, so this command never imports them:
each is loaded in a sandboxed worker of its own, which describes it, and what it says is shown
bounded and cleaned. A plug-in that does not load is listed with the reason.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

import msgspec

from ._commands import EXIT_ERROR, EXIT_NOT_FOUND, EXIT_OK, load_for_command

if TYPE_CHECKING:
    from converters import ConverterConfig, ConverterDescription

__all__ = ["ConverterListing", "converters_command", "list_converters"]


@dataclass(frozen=True, slots=True)
class ConverterListing:
    """One installed converter.

    Attributes:
        name: the name to configure it by (a built-in's or entry point's name, or the
            plug-in reference of ``[conversion] plugins``).
        version: its version (empty when it did not load).
        source: ``built-in``, ``entry point <distribution> <version>`` or ``plug-in``.
        detection: ``on`` (auto-detection asks it), ``disabled`` (a built-in disabled in
            ``[conversion] disabled``) or ``off`` (used only where a folder names it).
        patterns: its file patterns.
        description: its kind, summary and arguments (``None`` when it did not load).
        error: why it did not load.
    """

    name: str
    version: str
    source: str
    detection: str
    patterns: tuple[str, ...]
    description: ConverterDescription | None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The listing as JSON-ready data (the argument schema decoded)."""
        described = self.description
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "detection": self.detection,
            "kind": described.kind if described else None,
            "patterns": list(self.patterns),
            "summary": described.summary if described else None,
            "arguments": msgspec.to_builtins(described.arguments) if described else [],
            "schema": msgspec.json.decode(described.schema) if described else None,
            "error": self.error,
        }


def list_converters(configs: tuple[ConverterConfig, ...] | None = None) -> list[ConverterListing]:
    """Every converter of ``configs`` (default: the built-ins) and every installed entry
    point, described; plug-ins in sandboxed workers (blocking: runs its own trio loop per
    plug-in)."""
    from converters import (
        BUILTIN_CONVERTERS,
        DEFAULT_CONVERTERS,
        ConverterConfig,
        load_converter,
    )
    from converters._catalog import describe_class
    from converters._discovery import _entry_points

    chosen = DEFAULT_CONVERTERS if configs is None else configs
    chosen = tuple(c for c in chosen if not (c.name or "").startswith("watch:"))
    listings: list[ConverterListing] = []
    plugins: list[tuple[ConverterConfig, str, str | None]] = []  # config, source, its home
    for config in chosen:
        if config.ref in BUILTIN_CONVERTERS:
            cls = load_converter(config.ref)
            listings.append(
                ConverterListing(
                    config.ref,
                    cls.version,
                    "built-in",
                    _detection(config.detection),
                    tuple(cls.patterns),
                    describe_class(config.ref, cls),
                )
            )
        else:
            plugins.append((config, "plug-in", None))
    for name in sorted(set(BUILTIN_CONVERTERS) - {c.ref for c in chosen}):
        cls = load_converter(name)  # a built-in of another kind (a folder converter...)
        listings.append(
            ConverterListing(
                name, cls.version, "built-in", "off", tuple(cls.patterns), describe_class(name, cls)
            )
        )
    known = {c.ref for c in chosen}
    for entry in _entry_points():
        if entry.name in BUILTIN_CONVERTERS:
            continue
        dist = entry.dist
        source = f"entry point {dist.name} {dist.version}" if dist else "entry point"
        # where its distribution is installed: the worker imports it from there
        home = str(dist.locate_file("")) if dist else None
        if entry.name in known:
            plugins = [
                (c, source, home) if c.ref == entry.name else (c, s, h) for c, s, h in plugins
            ]
        else:
            plugins.append((ConverterConfig(entry.name, detection="off"), source, home))
    listings += [_described_plugin(config, source, home) for config, source, home in plugins]
    return listings


def _detection(detection: str) -> str:
    return "disabled" if detection == "hint" else detection


def _described_plugin(config: ConverterConfig, source: str, home: str | None) -> ConverterListing:
    """A plug-in described by a sandboxed worker of its own (``home``: a folder the worker
    needs on its import path, read-only)."""
    import trio

    from converters import ConverterError, PoolSettings, open_converter_pool
    from converters._once import DRY_RUN_NAMESPACE

    async def describe() -> ConverterListing:
        single = msgspec.structs.replace(config, name=config.ref)
        async with open_converter_pool(
            PoolSettings(workers=1, python_path=(home,) if home else ()),
            converters=[single],
            station_namespace=DRY_RUN_NAMESPACE,
        ) as pool:
            entries = pool.catalog()
        if not entries:
            reason = "its worker did not start (see the node's log for why)"
            return ConverterListing(config.ref, "", source, "off", (), None, reason)
        entry = entries[0]
        return ConverterListing(
            config.ref,
            entry.info.version,
            source,
            _detection(config.detection),
            tuple(entry.info.patterns),
            entry.description,
        )

    try:
        return trio.run(describe)
    except (ConverterError, OSError) as exc:
        return ConverterListing(
            config.ref, "", source, _detection(config.detection), (), None, str(exc)
        )


def converters_command(
    name: str | None,
    config: str | None,
    instance: str | None,
    *,
    as_json: bool = False,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """``pywats-node converters``: list (or, with ``name``, show) the installed converters."""
    configs = None
    if config is not None or instance is not None:
        loaded = load_for_command(config, instance, err)
        if isinstance(loaded, int):
            return loaded
        from .node._pipeline import converter_set

        configs = converter_set(loaded.config)
    listings = list_converters(configs)
    if name is not None:
        listings = [item for item in listings if item.name == name]
        if not listings:
            print(f"pywats-node: no installed converter is named {name!r}", file=err)
            return EXIT_NOT_FOUND
    if as_json:
        out.write(msgspec.json.encode([item.as_json() for item in listings]).decode() + "\n")
    elif name is not None:
        _print_one(listings[0], out)
    else:
        _print_table(listings, out)
    return EXIT_ERROR if any(item.error for item in listings) else EXIT_OK


def _print_table(listings: list[ConverterListing], out: TextIO) -> None:
    header = ("NAME", "VERSION", "KIND", "AUTO", "PATTERNS", "FROM")
    rows = [
        (
            item.name,
            item.version or "-",
            item.description.kind if item.description else "-",
            item.detection,
            " ".join(item.patterns) or "-",
            item.source,
        )
        for item in listings
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header) - 1)]
    for row in (header, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.write("  ".join([*cells, row[-1]]).rstrip() + "\n")
    for item in listings:
        if item.error:
            out.write(f"{item.name}: did not load: {item.error}\n")
    out.write("`pywats-node converters NAME` shows one converter's arguments.\n")


def _print_one(item: ConverterListing, out: TextIO) -> None:
    described = item.description
    out.write(f"{item.name} {item.version} ({item.source})\n")
    if described is None:
        out.write(f"did not load: {item.error}\n")
        return
    if described.summary:
        out.write(f"{described.summary}\n")
    out.write(f"kind: {described.kind}; auto-detection: {item.detection}\n")
    out.write(f"patterns: {' '.join(item.patterns) or '-'}\n")
    if not described.arguments:
        out.write("arguments: none\n")
        return
    out.write("arguments (converter_args):\n")
    for argument in described.arguments:
        default = "required" if argument.default is None else f"default {argument.default}"
        out.write(f"  {argument.name}: {argument.type}; {default}\n")
        if argument.doc:
            out.write(f"      {argument.doc}\n")
