"""The implementations of ``pywats-node`` subcommands other than ``run``, ``demo`` and
``emulator``: ``config``, ``queue`` and ``convert``. Each returns the process exit code."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

import msgspec

from .config import (
    ConfigInvalid,
    ConfigNotFound,
    LoadedConfig,
    init_config_command,
    load_config,
    resolve_config_path,
    validate_config_command,
)
from .spool import ReportState, Spool, SpoolError, SpoolLocked, open_reader, open_spool

__all__ = [
    "config_init",
    "config_validate",
    "convert_command",
    "queue_ls",
    "queue_purge",
    "queue_retry",
    "queue_show",
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


def _load(config: str | None, instance: str | None, err: TextIO) -> LoadedConfig | int:
    try:
        location = resolve_config_path(config, instance)
        return load_config(location.path, instance=location.instance)
    except ConfigNotFound as exc:
        print(f"pywats-node: {exc}", file=err)
        return EXIT_NOT_FOUND
    except ConfigInvalid as exc:
        print(f"pywats-node: {exc}", file=err)
        return EXIT_INVALID


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return dt.datetime.fromtimestamp(epoch).isoformat(sep=" ", timespec="seconds")


def queue_ls(
    config: str | None,
    instance: str | None,
    *,
    state: str | None,
    limit: int,
    as_json: bool,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """``pywats-node queue ls``: the spool's reports, newest first (safe while a node runs)."""
    loaded = _load(config, instance, err)
    if isinstance(loaded, int):
        return loaded
    path = loaded.config.spool.path
    if not Path(path).exists():
        print(f"pywats-node: no spool yet at {path} (the node has not run)", file=err)
        return EXIT_NOT_FOUND
    try:
        with open_reader(path) as reader:
            stats = reader.statistics()
            page = reader.list_reports(
                state=ReportState(state) if state else None, limit=limit, newest_first=True
            )
    except SpoolError as exc:
        print(f"pywats-node: {exc}", file=err)
        return EXIT_ERROR
    if as_json:
        out.write(msgspec.json.encode({"statistics": stats, "reports": page.reports}).decode())
        out.write("\n")
        return EXIT_OK
    print(
        f"{stats.pending} pending, {stats.sent} sent, {stats.rejected} rejected"
        f" ({stats.bytes} bytes) in {path}",
        file=out,
    )
    for s in page.reports:
        source = s.source.path if s.source is not None else "-"
        error = f"  {s.last_error}" if s.last_error and s.state is not ReportState.SENT else ""
        print(
            f"{s.report_id}  {s.state.value:<8} attempts={s.attempts:<3} "
            f"created={_when(s.created_at)}  {source}{error}",
            file=out,
        )
    return EXIT_OK


def queue_show(
    config: str | None,
    instance: str | None,
    report_id: str,
    *,
    body: bool,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """``pywats-node queue show ID``: one report's record (and its WSJF with ``--body``)."""
    loaded = _load(config, instance, err)
    if isinstance(loaded, int):
        return loaded
    try:
        with open_reader(loaded.config.spool.path) as reader:
            record = reader.show(report_id)
    except (SpoolError, ValueError) as exc:
        print(f"pywats-node: {exc}", file=err)
        return EXIT_NOT_FOUND if isinstance(exc, KeyError) else EXIT_ERROR
    if body:
        out.write((record.body or b"").decode("utf-8", errors="replace"))
        out.write("\n")
        return EXIT_OK
    summary = msgspec.to_builtins(record.summary)
    out.write(msgspec.json.format(msgspec.json.encode(summary), indent=2).decode())
    out.write("\n")
    return EXIT_OK


def queue_retry(
    config: str | None, instance: str | None, report_ids: list[str], *, err: TextIO = sys.stderr
) -> int:
    """``pywats-node queue retry ID...``: make rejected reports pending again."""
    return _write(config, instance, err, lambda spool: _retry(spool, report_ids))


def queue_purge(
    config: str | None,
    instance: str | None,
    *,
    state: str | None,
    older_than_days: float | None,
    report_ids: list[str],
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """``pywats-node queue purge``: delete sent or rejected reports (never pending ones unless
    named by id)."""

    async def purge(spool: Spool) -> None:
        older = None if older_than_days is None else older_than_days * 86400.0
        count = await spool.purge(
            report_ids=report_ids or None,
            state=ReportState(state) if state else None,
            older_than=older,
        )
        print(f"purged {count} report(s)", file=out)

    return _write(config, instance, err, purge)


async def _retry(spool: Spool, report_ids: list[str]) -> None:
    for rid in report_ids:
        await spool.retry(rid)
        print(f"{rid}: pending again")


def _write(
    config: str | None,
    instance: str | None,
    err: TextIO,
    action: Callable[[Spool], Awaitable[None]],
) -> int:
    import trio

    loaded = _load(config, instance, err)
    if isinstance(loaded, int):
        return loaded

    async def main() -> None:
        async with open_spool(loaded.config.spool.path) as spool:
            await action(spool)

    try:
        trio.run(main)
    except SpoolLocked:
        print(
            "pywats-node: the node is running and owns the spool; stop it first",
            file=err,
        )
        return EXIT_ERROR
    except (SpoolError, ValueError) as exc:
        print(f"pywats-node: {exc}", file=err)
        return EXIT_ERROR
    return EXIT_OK


def convert_command(
    file: str,
    converter: str | None,
    config: str | None,
    instance: str | None,
    *,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """``pywats-node convert FILE``: a dry-run conversion in the sandbox; prints the WSJF."""
    import uuid

    from converters import Converted, convert_file_once

    from .node._pipeline import converter_for, converter_set, describe_failure

    converters = None
    namespace = None
    chosen = converter
    if config is not None or instance is not None:
        loaded = _load(config, instance, err)
        if isinstance(loaded, int):
            return loaded
        converters = converter_set(loaded.config)
        namespace = uuid.UUID(loaded.config.node.station_namespace)
        # A watch folder's id picks that folder's converter and arguments.
        for folder in loaded.config.watch:
            if converter == folder.id:
                chosen = converter_for(folder)
    if not Path(file).is_file():
        print(f"pywats-node: no such file: {file}", file=err)
        return EXIT_NOT_FOUND
    kwargs: dict[str, object] = {}
    if converters is not None:
        kwargs["converters"] = converters
    if namespace is not None:
        kwargs["station_namespace"] = namespace
    result = convert_file_once(file, chosen, **kwargs)  # type: ignore[arg-type]
    if isinstance(result, Converted):
        for report in result.reports:
            out.write(report.wsjf.decode())
            out.write("\n")
        print(
            f"converted by {result.converter} {result.converter_version}:"
            f" {len(result.reports)} report(s)",
            file=err,
        )
        return EXIT_OK
    kind, reason, details = describe_failure(result)
    print(f"pywats-node: {kind}: {reason}", file=err)
    if details:
        print(details, file=err)
    return EXIT_INVALID
