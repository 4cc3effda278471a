"""Spool start-up benchmark: how long ``open_spool`` takes to be ready, by the spool's size;
and, with ``--per-call N``, the CPU cost of the writer's bookkeeping per call.

Run it with::

    python -m pywats_actors.spool._bench_startup [--rows 1000 100000] [--repeat 3]
    python -m pywats_actors.spool._bench_startup --per-call 20000 [--repeat 5]

For each size a fresh spool is filled through the spool's own API (``enqueue`` in batches of
500, then ``mark_sent_many`` for ``--sent`` of them, 90 % by default: a station's spool is
mostly sent reports), closed, and then opened ``--repeat`` times. Each figure is the wall time
from entering ``open_spool`` until the block runs (the spool is ready), median of the runs.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import trio

from ._settings import SpoolSettings
from ._spool import open_spool
from ._types import SourceInfo, SpoolItem

__all__ = ["main", "measure_startup"]

_BATCH = 500
_SETTINGS = SpoolSettings(max_bytes=None, reserve_free_bytes=0)


def _items(count: int, body: bytes) -> list[SpoolItem]:
    items = []
    for _ in range(count):
        rid = str(uuid.uuid4())
        source = SourceInfo(
            path=f"/bench/in/{rid}.xml",
            content_hash="sha256:" + os.urandom(32).hex(),
            converter="bench",
            converter_version="1",
        )
        items.append(SpoolItem(report_id=rid, body=body, source=source))
    return items


async def _fill(path: Path, rows: int, sent: float, body: bytes) -> None:
    async with open_spool(path, _SETTINGS) as spool:
        to_send = int(rows * sent)
        done = 0
        while done < rows:
            batch = _items(min(_BATCH, rows - done), body)
            await spool.enqueue(batch)
            marks = [(item.report_id, "ok") for item in batch[: max(0, to_send - done)]]
            if marks:
                await spool.mark_sent_many(marks)
            done += len(batch)


async def _open_once(path: Path) -> float:
    started = time.perf_counter()
    async with open_spool(path, _SETTINGS):
        ready = time.perf_counter() - started
    return ready


def measure_startup(
    rows: int, *, sent: float = 0.9, repeat: int = 3, body_bytes: int = 2048, directory: Path | None
) -> tuple[list[float], int]:
    """Fill a fresh spool with *rows* reports and open it *repeat* times.

    Returns:
        The seconds to ready of each open, and the database file's size in bytes.
    """
    body = os.urandom(body_bytes)
    with tempfile.TemporaryDirectory(prefix="spool-startup-", dir=directory) as tmp:
        path = Path(tmp) / "spool.db"
        trio.run(_fill, path, rows, sent, body)
        size = path.stat().st_size
        times = [trio.run(_open_once, path) for _ in range(repeat)]
    return times, size


def measure_per_call(count: int, *, body_bytes: int = 2048) -> tuple[float, float, float]:
    """Seconds per enqueue, per claimed report and per mark_sent, calling the writer's
    :class:`Store` directly on one connection with ``synchronous=OFF`` (no fsync, no thread
    hop: the CPU cost of the bookkeeping alone), *count* reports in one transaction each."""
    from ._schema import connect_writer, migrate
    from ._store import Store

    body = os.urandom(body_bytes)
    items = _items(count, body)
    with tempfile.TemporaryDirectory(prefix="spool-per-call-") as tmp:
        path = Path(tmp) / "spool.db"
        conn = connect_writer(path, busy_timeout=5.0)
        try:
            migrate(conn, path, time.time())
            conn.execute("PRAGMA synchronous = OFF")
            store = Store(conn, path, _SETTINGS, time.time)
            conn.execute("BEGIN")
            started = time.perf_counter()
            for item in items:
                conn.execute("SAVEPOINT call")
                store.enqueue([item])
                conn.execute("RELEASE call")
            enqueue = (time.perf_counter() - started) / count
            conn.execute("COMMIT")
            started = time.perf_counter()
            for _ in range(count // 10):
                claimed = store.claim(10)
                store.release([report.report_id for report in claimed])
            claim = (time.perf_counter() - started) / (count // 10 * 10)
            conn.execute("BEGIN")
            started = time.perf_counter()
            for item in items:
                conn.execute("SAVEPOINT call")
                store.mark_sent(item.report_id, "ok")
                conn.execute("RELEASE call")
            mark = (time.perf_counter() - started) / count
            conn.execute("COMMIT")
        finally:
            conn.close()
    return enqueue, claim, mark


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, measure, print a Markdown table."""
    parser = argparse.ArgumentParser(prog="python -m pywats_actors.spool._bench_startup")
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--sent", type=float, default=0.9, help="fraction marked sent")
    parser.add_argument("--repeat", type=int, default=3, help="opens per size")
    parser.add_argument("--body-bytes", type=int, default=2048, help="report body size")
    parser.add_argument("--dir", type=Path, default=None, help="where the databases go")
    parser.add_argument("--per-call", type=int, default=0, metavar="N", help="per-call costs")
    args = parser.parse_args(argv)
    if args.per_call:
        repeat = max(1, args.repeat)
        runs = [measure_per_call(args.per_call, body_bytes=args.body_bytes) for _ in range(repeat)]
        print(f"spool per-call CPU cost: {args.per_call} reports, fastest of {len(runs)} runs")
        print()
        print("| call | µs |")
        print("|---|---|")
        for name, index in (("enqueue", 0), ("claim, per report", 1), ("mark_sent", 2)):
            print(f"| {name} | {min(run[index] for run in runs) * 1e6:.0f} |")
        return
    print(
        f"spool start-up: {args.body_bytes} B bodies, {args.sent:.0%} sent, median of "
        f"{args.repeat} opens, SQLite {sqlite3.sqlite_version}, Python {sys.version.split()[0]}"
    )
    print()
    print("| reports | file MiB | seconds to ready (median; min-max) |")
    print("|---|---|---|")
    for rows in args.rows:
        times, size = measure_startup(
            rows, sent=args.sent, repeat=args.repeat, body_bytes=args.body_bytes, directory=args.dir
        )
        print(
            f"| {rows:,} | {size / (1 << 20):,.1f} | {statistics.median(times):.3f} "
            f"({min(times):.3f}-{max(times):.3f}) |"
        )


if __name__ == "__main__":
    main()
