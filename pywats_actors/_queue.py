"""``pywats-node queue``: list, show, retry and purge the spool's reports from a shell.

``ls`` and ``show`` only read (safe while a node runs); ``retry`` and ``purge`` open the spool as
its writer and therefore need the node stopped. Each command returns the process exit code
(docs/operators.md): 0 done, 1 the spool could not be read or written, 2 invalid input (a report
id that is not a GUID, a report in the wrong state, pending reports to purge without
``--force``), 3 no such configuration file, spool or report. Times are shown in ISO 8601 UTC,
like the node's log and the ``.error.json`` sidecars; ``--json`` gives the raw values.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TextIO

import msgspec

from ._commands import EXIT_ERROR, EXIT_INVALID, EXIT_NOT_FOUND, EXIT_OK, load_for_command
from .spool import (
    InvalidTransition,
    ReportState,
    ReportSummary,
    Spool,
    SpoolError,
    SpoolLocked,
    UnknownReport,
    canonical_report_id,
    open_reader,
    open_spool,
)

__all__ = ["queue_ls", "queue_purge", "queue_retry", "queue_show", "utc_text"]

LIST_LIMIT = 10_000
"""The most reports ``queue ls`` lists at once (the reader's page limit)."""


def utc_text(epoch: float | None) -> str:
    """*epoch* as ISO 8601 UTC to the second (``2026-12-02T08:03:53Z``), ``-`` for None."""
    if epoch is None:
        return "-"
    moment = dt.datetime.fromtimestamp(epoch, dt.UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds") + "Z"


def _spool_path(config: str | None, instance: str | None, err: TextIO) -> str | int:
    loaded = load_for_command(config, instance, err)
    if isinstance(loaded, int):
        return loaded
    path = loaded.config.spool.path
    if not Path(path).exists():
        print(f"pywats-node: no spool yet at {path} (the node has not run)", file=err)
        return EXIT_NOT_FOUND
    return path


def _canonical(report_ids: Iterable[str], err: TextIO) -> list[str] | None:
    ids = []
    for rid in report_ids:
        try:
            ids.append(canonical_report_id(rid))
        except ValueError:
            print(f"pywats-node: {rid!r} is not a report id (a GUID)", file=err)
            return None
    return ids


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
    if not 1 <= limit <= LIST_LIMIT:
        print(f"pywats-node: --limit must be from 1 to {LIST_LIMIT}, got {limit}", file=err)
        return EXIT_INVALID
    path = _spool_path(config, instance, err)
    if isinstance(path, int):
        return path
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
        print(_line(s), file=out)
    return EXIT_OK


def _line(s: ReportSummary) -> str:
    source = s.source.path if s.source is not None else "-"
    when = f"created {utc_text(s.created_at)}"
    if s.state is ReportState.SENT:
        when += f"  sent {utc_text(s.sent_at)}"
    elif s.state is ReportState.PENDING and s.attempts:
        when += f"  next attempt {utc_text(s.next_attempt_at)}"
    error = f"  {s.last_error}" if s.last_error and s.state is not ReportState.SENT else ""
    return f"{s.report_id}  {s.state.value:<8} attempts={s.attempts:<3} {when}  {source}{error}"


def queue_show(
    config: str | None,
    instance: str | None,
    report_id: str,
    *,
    body: bool,
    as_json: bool = False,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """``pywats-node queue show ID``: one report's record (its WSJF with ``--body``)."""
    ids = _canonical([report_id], err)
    if ids is None:
        return EXIT_INVALID
    path = _spool_path(config, instance, err)
    if isinstance(path, int):
        return path
    try:
        with open_reader(path) as reader:
            record = reader.show(ids[0])
    except UnknownReport as exc:
        print(f"pywats-node: {exc}", file=err)
        return EXIT_NOT_FOUND
    except SpoolError as exc:
        print(f"pywats-node: {exc}", file=err)
        return EXIT_ERROR
    if body:
        if record.body is None:
            print(f"pywats-node: the body of {ids[0]} was dropped by retention", file=err)
            return EXIT_NOT_FOUND
        out.write(record.body.decode("utf-8", errors="replace"))
        out.write("\n")
        return EXIT_OK
    s = record.summary
    if as_json:
        out.write(msgspec.json.encode(s).decode())
        out.write("\n")
        return EXIT_OK
    source = s.source
    rows = [
        ("report", s.report_id),
        ("state", s.state.value),
        ("attempts", str(s.attempts)),
        ("created", utc_text(s.created_at)),
        ("updated", utc_text(s.updated_at)),
        ("sent", utc_text(s.sent_at)),
        ("next attempt", utc_text(s.next_attempt_at) if s.state is ReportState.PENDING else "-"),
        ("last error", s.last_error or "-"),
        ("server answer", s.server_answer or "-"),
        ("body", f"{s.body_size} bytes" + ("" if s.has_body else " (dropped by retention)")),
        ("source", source.path if source is not None else "- (the row's metadata is damaged)"),
    ]
    if source is not None:
        rows += [
            ("converter", f"{source.converter} {source.converter_version}"),
            ("content hash", source.content_hash),
        ]
    for name, value in rows:
        print(f"{name + ':':<14} {value}", file=out)
    return EXIT_OK


def queue_retry(
    config: str | None,
    instance: str | None,
    report_ids: list[str],
    *,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """``pywats-node queue retry ID...``: make rejected reports pending again.

    Every id is tried; the exit code is the worst outcome (an unknown id 3, a report that is not
    rejected 2).
    """
    ids = _canonical(report_ids, err)
    if ids is None:
        return EXIT_INVALID

    async def retry(spool: Spool) -> int:
        code = EXIT_OK
        for rid in ids:
            try:
                await spool.retry(rid)
            except UnknownReport as exc:
                print(f"pywats-node: {exc}", file=err)
                code = max(code, EXIT_NOT_FOUND)
            except InvalidTransition as exc:
                print(f"pywats-node: {exc}", file=err)
                code = max(code, EXIT_INVALID)
            else:
                print(f"{rid}: pending again", file=out)
        return code

    return _write(config, instance, err, retry)


def queue_purge(
    config: str | None,
    instance: str | None,
    *,
    state: str | None,
    older_than_days: float | None,
    report_ids: list[str],
    force: bool = False,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """``pywats-node queue purge``: delete the reports that match every filter given.

    Pending reports were never uploaded: purging them loses them for good. Unless *force* is
    set, a purge that would delete any is refused, saying how many, and nothing is deleted.
    """
    if state is None and older_than_days is None and not report_ids:
        print("pywats-node: queue purge needs --state, --older-than or --id", file=err)
        return EXIT_INVALID
    if older_than_days is not None and not 0 <= older_than_days < float("inf"):
        print(f"pywats-node: --older-than must be >= 0 days, got {older_than_days}", file=err)
        return EXIT_INVALID
    ids = _canonical(report_ids, err) if report_ids else []
    if ids is None:
        return EXIT_INVALID
    older = None if older_than_days is None else older_than_days * 86400.0
    states = [ReportState(state)] if state else list(ReportState)

    async def purge(spool: Spool) -> int:
        if ReportState.PENDING in states and not force:
            pending = await _matching_pending(spool, ids, older)
            if pending:
                print(
                    f"pywats-node: {pending} of the matching reports are pending: never "
                    "uploaded, so purging loses them for good. Nothing was purged; add --force "
                    "to purge them too, or --state sent / --state rejected to leave them.",
                    file=err,
                )
                return EXIT_INVALID
        count = 0
        for each in states:
            count += await spool.purge(report_ids=ids or None, state=each, older_than=older)
        print(f"purged {count} report(s)", file=out)
        return EXIT_OK

    return _write(config, instance, err, purge)


async def _matching_pending(spool: Spool, ids: list[str], older: float | None) -> int:
    """How many pending reports a purge with these filters would delete."""
    wanted = set(ids)
    cutoff = None if older is None else time.time() - older
    count = 0
    cursor: int | None = None
    while True:
        page = await spool.list_reports(state=ReportState.PENDING, after=cursor, limit=LIST_LIMIT)
        for s in page.reports:
            if wanted and s.report_id not in wanted:
                continue
            if cutoff is not None and s.updated_at > cutoff:
                continue
            count += 1
        if page.next_cursor is None:
            return count
        cursor = page.next_cursor


def _write(
    config: str | None,
    instance: str | None,
    err: TextIO,
    action: Callable[[Spool], Awaitable[int]],
) -> int:
    import trio

    path = _spool_path(config, instance, err)
    if isinstance(path, int):
        return path

    async def main() -> int:
        async with open_spool(path) as spool:
            return await action(spool)

    try:
        return trio.run(main)
    except BaseExceptionGroup as group:
        leaf = _only_leaf(group)
        if not isinstance(leaf, SpoolError):
            raise
        return _spool_failure(leaf, err)
    except SpoolError as exc:
        return _spool_failure(exc, err)


def _only_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        exc = stack.pop()
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(exc.exceptions)
        else:
            leaves.append(exc)
    return leaves[0] if len(leaves) == 1 else None


def _spool_failure(exc: SpoolError, err: TextIO) -> int:
    if isinstance(exc, SpoolLocked):
        print("pywats-node: the node is running and owns the spool; stop it first", file=err)
    else:
        print(f"pywats-node: {exc}", file=err)
    return EXIT_ERROR
