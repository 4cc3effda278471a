"""WAL checkpoints on their own thread (``pywats_actors.spool._checkpoint``)."""

from __future__ import annotations

import os
from pathlib import Path

import trio

from pywats_actors.spool import SpoolSettings, open_reader, open_spool

from .conftest import make_item

_MiB = 1 << 20


async def test_checkpoints_run_in_the_background(db: Path, settings: SpoolSettings) -> None:
    """12 MiB of reports committed one batch after another: while the spool is still open, the
    background checkpoints copy them into the database file (nothing in a commit did: the
    writer's own checkpoint waits for 32 MiB of WAL). After the spool closes the WAL is gone and
    every report is in the database file."""
    wal = Path(f"{db}-wal")
    async with open_spool(db, settings) as spool:
        for start in range(0, 3000, 20):
            await spool.enqueue([make_item(n, size=4096) for n in range(start, start + 20)])
        with trio.fail_after(10):  # copied, and the copying over (the file stops growing)
            size = 0
            while size < 12 * _MiB or os.path.getsize(db) != size:
                size = os.path.getsize(db)
                await trio.sleep(0.3)
        # with everything copied, the next commit starts the WAL over: the file stops growing
        size = wal.stat().st_size
        for n in range(3000, 3100):
            await spool.enqueue([make_item(n, size=4096)])
        assert wal.stat().st_size == size
        assert spool.statistics().pending == 3100
    assert not wal.exists()
    with open_reader(db) as reader:
        assert reader.statistics().pending == 3100
