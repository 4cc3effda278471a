"""``convert_file_once``: one file through one sandboxed worker (``pywats-node convert FILE``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import msgspec
import trio

from ._pool import open_converter_pool
from ._results import ConversionResult
from ._routing import Detection
from ._settings import ConverterConfig, PoolSettings

__all__ = ["DRY_RUN_NAMESPACE", "convert_file_once", "explain_file_once"]

DRY_RUN_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:pywats-actors:dry-run")
"""The namespace of report ids in a dry run that was given no station namespace."""


def convert_file_once(
    path: str | os.PathLike[str],
    converter: str | None = None,
    *,
    converters: Sequence[ConverterConfig | str] | None = None,
    settings: PoolSettings | None = None,
    station_namespace: uuid.UUID = DRY_RUN_NAMESPACE,
) -> ConversionResult:
    """Convert one file in a sandboxed worker and return the outcome (a dry run: nothing is
    spooled or moved).

    Blocking: it runs its own trio event loop, so call it from plain (non-async) code such as a
    CLI command.

    Args:
        path: the file.
        converter: the configured name of the converter; ``None`` auto-detects.
        converters: what to load (default: the built-ins).
        settings: pool settings; the pool always has a single worker per trust domain.
        station_namespace: the namespace for report ids; pass the station's to see the ids the
            node would give.

    Returns:
        ``Converted`` (``result.reports[i].wsjf`` is the WSJF) or a typed failure;
        ``Unavailable`` when a plug-in's worker cannot start (it died while importing it).

    Raises:
        OSError: the file cannot be read.
        ConverterLoadError, UnknownConverter, WorkerStartError: as for the pool.
    """
    _, result = _once(path, converter, converters, settings, station_namespace, explain=False)
    return result


def explain_file_once(
    path: str | os.PathLike[str],
    converter: str | None = None,
    *,
    converters: Sequence[ConverterConfig | str] | None = None,
    settings: PoolSettings | None = None,
    station_namespace: uuid.UUID = DRY_RUN_NAMESPACE,
) -> tuple[Detection, ConversionResult]:
    """:func:`convert_file_once`, with every converter's detection score first
    (``pywats-node convert --explain``): what auto-detection found, and the outcome of
    converting the file (with ``converter`` when given, else as auto-detection decides).

    Raises:
        OSError: the file cannot be read.
        ConverterLoadError, UnknownConverter, WorkerStartError: as for the pool.
    """
    found, result = _once(path, converter, converters, settings, station_namespace, explain=True)
    assert found is not None
    return found, result


def _once(
    path: str | os.PathLike[str],
    converter: str | None,
    converters: Sequence[ConverterConfig | str] | None,
    settings: PoolSettings | None,
    station_namespace: uuid.UUID,
    *,
    explain: bool,
) -> tuple[Detection | None, ConversionResult]:
    """One file through a pool of one worker per domain (detection scores first, with
    ``explain``)."""
    file = Path(path)
    data = file.read_bytes()
    base = settings if settings is not None else PoolSettings()
    one = msgspec.structs.replace(base, workers=1)

    async def run() -> tuple[Detection | None, ConversionResult]:
        async with open_converter_pool(
            one, converters=converters, station_namespace=station_namespace
        ) as pool:
            found = await pool.detect(data, file.name) if explain else None
            return found, await pool.convert(data, file.name, converter)

    return trio.run(run)
