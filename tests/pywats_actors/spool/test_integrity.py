"""Checks: rows quarantined when claimed, corrupt files, foreign files, newer schemas, one
writer."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
import trio

from pywats_actors.spool import (
    ReportState,
    SpoolCorrupt,
    SpoolError,
    SpoolIOError,
    SpoolLocked,
    SpoolSettings,
    SpoolVersionError,
    open_reader,
    open_spool,
    salvage_spool,
)
from pywats_actors.spool.__main__ import main

from .conftest import make_item


def raw(db: Path) -> sqlite3.Connection:
    """A plain connection for editing the file by hand, as an operator (or a bug) might."""
    return sqlite3.connect(db, isolation_level=None)


class TestQuarantine:
    async def test_rows_that_do_not_decode_are_quarantined_when_claimed_never_uploaded(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """A row with broken metadata and one whose body no longer matches its CRC move to
        quarantine with the reason when a claim reaches them; the claim hands out the others
        and the spool runs on."""
        items = [make_item(n) for n in range(4)]
        async with open_spool(db, settings) as spool:
            await spool.enqueue(items)
        conn = raw(db)
        conn.execute(
            "UPDATE reports SET source = '{\"path\": 1}' WHERE id = ?", (items[1].report_id,)
        )
        body = bytearray(items[2].body)
        body[10] ^= 0xFF
        conn.execute("UPDATE reports SET body = ? WHERE id = ?", (bytes(body), items[2].report_id))
        conn.close()

        with open_reader(db) as reader:
            found = dict(reader.verify_rows())
        async with open_spool(db, settings) as spool:
            claimed = await spool.claim(10)
            stats = spool.statistics()
            quarantined = listed = await spool.quarantined()
            again = await spool.enqueue([items[1]])  # the same file converted again
        assert set(found) == {items[1].report_id, items[2].report_id}
        reasons = {q.report_id: q.reason for q in quarantined}
        assert set(reasons) == {items[1].report_id, items[2].report_id}
        assert "source does not decode" in reasons[items[1].report_id]
        assert "CRC" in reasons[items[2].report_id]
        assert (stats.pending, stats.quarantined) == (2, 2)
        assert [q.report_id for q in listed] == [items[1].report_id, items[2].report_id]
        assert [c.report_id for c in claimed] == [items[0].report_id, items[3].report_id]
        assert again.inserted == (items[1].report_id,)

    async def test_the_quarantine_keeps_the_original_bytes(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """A quarantined row's body and metadata are kept for inspection."""
        item = make_item(1)
        async with open_spool(db, settings) as spool:
            await spool.enqueue([item])
        conn = raw(db)
        conn.execute("UPDATE reports SET id = 'not-a-guid'")
        conn.close()
        async with open_spool(db, settings) as spool:
            assert await spool.claim(1) == ()
            (row,) = await spool.quarantined()
            assert row.reason == "id 'not-a-guid' is not a GUID"
        conn = raw(db)
        body, record = conn.execute("SELECT body, record FROM quarantine").fetchone()
        conn.close()
        assert body == item.body
        assert "teststand-xml" in record
        with open_reader(db) as reader:
            assert [q.report_id for q in reader.quarantined()] == ["not-a-guid"]


class TestCorruptFile:
    async def test_a_truncated_database_is_spool_corrupt_naming_the_file(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """A database cut short refuses to open with SpoolCorrupt that names the file and
        says how to recover."""
        async with open_spool(db, settings) as spool:
            await spool.enqueue([make_item(n, size=4096) for n in range(200)])
        assert not Path(f"{db}-wal").exists()  # checkpointed on close: the data is in the file
        size = db.stat().st_size
        os.truncate(db, size // 2)
        with pytest.raises(SpoolCorrupt) as info:
            async with open_spool(db, settings):
                pass
        message = str(info.value)
        assert str(db) in message
        assert "salvage" in message
        assert info.value.path == db

    async def test_salvage_copies_every_readable_report_of_a_truncated_file(
        self, db: Path, settings: SpoolSettings, tmp_path: Path
    ) -> None:
        """salvage_spool reads what a cut-short file still holds into a new, sound spool that
        opens cleanly; every report is either copied intact or counted as unreadable."""
        items = [make_item(n, size=4096) for n in range(200)]
        async with open_spool(db, settings) as spool:
            await spool.enqueue(items)
            for report in await spool.claim(50):
                await spool.mark_sent(report.report_id, answer="ok")
        os.truncate(db, db.stat().st_size // 2)
        new = tmp_path / "salvaged.db"

        result = await trio.to_thread.run_sync(salvage_spool, db, new)

        assert result.copied > 0
        assert result.copied + result.unreadable == len(items)
        assert result.invalid == 0
        with open_reader(new) as reader:
            assert reader.verify_rows() == []
        async with open_spool(new, settings) as spool:
            stats = spool.statistics()
            page = await spool.list_reports(limit=200)
        assert stats.pending + stats.sent == result.copied
        by_id = {item.report_id: item for item in items}
        for summary in page.reports:
            assert summary.source == by_id[summary.report_id].source
        assert main(["check", str(new)]) == 0
        assert main(["check", str(db)]) == 1

    async def test_salvage_keeps_the_acknowledged_ids(
        self, db: Path, settings: SpoolSettings, tmp_path: Path
    ) -> None:
        """A salvaged spool still knows every id the server acknowledged, from the old ledger
        (rows long gone) and from the sent rows it copied."""
        async with open_spool(db, settings) as spool:
            await spool.enqueue([make_item(n) for n in range(4)])
            (gone,) = await spool.claim(1)
            await spool.mark_sent(gone.report_id)
            await spool.purge(state=ReportState.SENT)
            (kept,) = await spool.claim(1)
            await spool.mark_sent(kept.report_id)
        new = tmp_path / "salvaged.db"
        await trio.to_thread.run_sync(salvage_spool, db, new)
        async with open_spool(new, settings) as spool:
            again = await spool.enqueue([make_item(n) for n in range(4)])
        assert again.already_sent == (make_item(0).report_id, make_item(1).report_id)
        assert again.inserted == ()

    def test_salvage_refuses_to_overwrite_and_to_invent(self, tmp_path: Path) -> None:
        """Salvage never writes over an existing file and fails clearly on garbage."""
        garbage = tmp_path / "garbage.db"
        garbage.write_bytes(os.urandom(8192))
        with pytest.raises(SpoolError, match="already exists"):
            salvage_spool(garbage, garbage)
        with pytest.raises(SpoolError, match="nothing could be salvaged"):
            salvage_spool(garbage, tmp_path / "new.db")
        assert not (tmp_path / "new.db").exists()

    async def test_a_file_of_garbage_is_spool_corrupt(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """Random bytes where the spool should be are not silently replaced."""
        garbage = os.urandom(8192)
        db.write_bytes(garbage)
        with pytest.raises(SpoolCorrupt, match=r"spool\.db"):
            async with open_spool(db, settings):
                pass
        assert db.read_bytes() == garbage

    async def test_another_applications_database_is_refused(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """An SQLite file that is not a spool is reported, never migrated into one."""
        conn = raw(db)
        conn.execute("CREATE TABLE customers (name TEXT)")
        conn.close()
        with pytest.raises(SpoolCorrupt, match="not a pywats spool"):
            async with open_spool(db, settings):
                pass

    async def test_a_newer_schema_is_refused(self, db: Path, settings: SpoolSettings) -> None:
        """A spool written by a newer version raises SpoolVersionError, for writer and reader."""
        async with open_spool(db, settings):
            pass
        conn = raw(db)
        conn.execute("INSERT INTO spool_schema VALUES (99, 0, 'from the future')")
        conn.close()
        with pytest.raises(SpoolVersionError) as info:
            async with open_spool(db, settings):
                pass
        assert (info.value.found, info.value.supported) == (99, 2)
        with pytest.raises(SpoolVersionError):
            open_reader(db)


class TestSingleWriter:
    async def test_a_second_writer_is_refused_while_the_first_runs(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """Only one spool may write a file; the second gets SpoolLocked, then may open once
        the first has closed."""
        async with open_spool(db, settings):
            with pytest.raises(SpoolLocked, match="already open"):
                async with open_spool(db, settings):
                    pass
            with open_reader(db) as reader:  # readers never need the lock
                assert reader.statistics().pending == 0
        async with open_spool(db, settings):
            pass


class TestOpening:
    async def test_a_spool_in_a_missing_directory_is_an_io_error(
        self, tmp_path: Path, settings: SpoolSettings
    ) -> None:
        """A path whose directory does not exist gives SpoolIOError naming the file."""
        db = tmp_path / "missing" / "spool.db"
        with pytest.raises(SpoolIOError, match="ENOENT") as info:
            async with open_spool(db, settings):
                pass
        assert info.value.path == db

    async def test_closing_during_the_background_check_still_checkpoints_the_wal(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """A spool closed while its background quick_check runs interrupts the check and
        closes that connection first, so the writer's close still removes the WAL; every
        reopening sees the same reports."""
        async with open_spool(db, settings) as spool:
            await spool.enqueue([make_item(n, size=4096) for n in range(500)])
        for _ in range(5):
            async with open_spool(db, settings) as spool:
                await trio.lowlevel.checkpoint()
                assert spool.statistics().pending == 500
            assert not Path(f"{db}-wal").exists()
