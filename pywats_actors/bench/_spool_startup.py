"""``pywats-node bench spool --startup``: how long ``open_spool`` takes to be ready, by the
spool's size; and, with ``--per-call N``, the CPU cost of the writer's bookkeeping per call.

For each size a fresh spool is filled through the spool's own API (``enqueue`` in batches of
500, then ``mark_sent_many`` for ``--sent`` of them, 90 % by default: a station's spool is
mostly sent reports), closed, and then opened ``--repeat`` times. Each figure is the wall time
from entering ``open_spool`` until the block runs (the spool is ready), median of the runs.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trio

from ..spool import SpoolSettings, open_spool
from ._spool import spool_items

__all__ = ["measure_per_call", "measure_startup", "run_per_call", "run_startup"]

_BATCH = 500
_SETTINGS = SpoolSettings(max_bytes=None, reserve_free_bytes=0)


async def _fill(path: Path, rows: int, sent: float, body: bytes) -> None:
    async with open_spool(path, _SETTINGS) as spool:
        to_send = int(rows * sent)
        done = 0
        while done < rows:
            batch = spool_items(min(_BATCH, rows - done), body, distinct_sources=True)
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
    from ..spool._schema import connect_writer, migrate
    from ..spool._store import Store

    body = os.urandom(body_bytes)
    items = spool_items(count, body, distinct_sources=True)
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


def run_per_call(count: int, *, repeat: int = 3, body_bytes: int = 2048) -> dict[str, float]:
    """Measure the per-call costs *repeat* times and print a Markdown table; returns the
    fastest seconds per call of each."""
    runs = [measure_per_call(count, body_bytes=body_bytes) for _ in range(max(1, repeat))]
    fastest = {
        name: min(run[index] for run in runs)
        for name, index in (("enqueue", 0), ("claim, per report", 1), ("mark_sent", 2))
    }
    print(f"spool per-call CPU cost: {count} reports, fastest of {len(runs)} runs")
    print()
    print("| call | µs |")
    print("|---|---|")
    for name, seconds in fastest.items():
        print(f"| {name} | {seconds * 1e6:.0f} |")
    return fastest


def run_startup(
    rows: list[int],
    *,
    sent: float = 0.9,
    repeat: int = 3,
    body_bytes: int = 2048,
    directory: Path | None = None,
) -> dict[int, list[float]]:
    """Measure the start-up for each size of *rows* and print a Markdown table; returns the
    seconds to ready of each open, by size."""
    print(
        f"spool start-up: {body_bytes} B bodies, {sent:.0%} sent, median of "
        f"{repeat} opens, SQLite {sqlite3.sqlite_version}, Python {sys.version.split()[0]}"
    )
    print()
    print("| reports | file MiB | seconds to ready (median; min-max) |")
    print("|---|---|---|")
    found = {}
    for count in rows:
        times, size = measure_startup(
            count, sent=sent, repeat=repeat, body_bytes=body_bytes, directory=directory
        )
        found[count] = times
        print(
            f"| {count:,} | {size / (1 << 20):,.1f} | {statistics.median(times):.3f} "
            f"({min(times):.3f}-{max(times):.3f}) |"
        )
    return found
