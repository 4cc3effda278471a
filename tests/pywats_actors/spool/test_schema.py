"""The file format: durability settings, the schema version table and migrations."""

from __future__ import annotations

import sqlite3
import zlib
from pathlib import Path

import msgspec
import pytest

from pywats_actors.spool import SCHEMA_VERSION, ReportState, SpoolSettings, _schema, open_spool

from .conftest import WallClock, make_item


class TestDurabilitySettings:
    async def test_the_writer_uses_wal_with_synchronous_full(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """The writer connection runs in WAL mode with synchronous=FULL (2), set explicitly."""
        async with open_spool(db, settings) as spool:
            store = spool._writer.store
            assert store is not None

            def pragmas() -> tuple[str, int]:
                mode = store.conn.execute("PRAGMA journal_mode").fetchone()[0]
                sync = store.conn.execute("PRAGMA synchronous").fetchone()[0]
                return mode, sync

            assert await spool._writer.call(pragmas, write=False) == ("wal", 2)

    async def test_a_new_spool_records_its_schema_version(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """spool_schema holds one row per applied version; the file is tagged as a spool."""
        async with open_spool(db, settings) as spool:
            assert spool.startup.created
            assert spool.startup.schema_version == SCHEMA_VERSION == 2
        conn = sqlite3.connect(db)
        versions = conn.execute("SELECT version FROM spool_schema").fetchall()
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        conn.close()
        assert versions == [(1,), (2,)]
        assert app_id == _schema.APPLICATION_ID


class TestMigrations:
    async def test_a_registered_migration_runs_once_on_an_older_file(
        self, db: Path, settings: SpoolSettings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Opening a version-2 file with a version-3 migration registered applies it, records
        it, keeps the data, and does not run it again."""
        async with open_spool(db, settings) as spool:
            await spool.enqueue([make_item(1)])
        runs: list[int] = []

        def add_notes(conn: sqlite3.Connection) -> None:
            runs.append(1)
            conn.execute("CREATE TABLE notes (report_id TEXT, note TEXT)")

        monkeypatch.setitem(_schema.MIGRATIONS, 3, ("add notes", add_notes))
        monkeypatch.setattr(_schema, "SCHEMA_VERSION", 3)
        async with open_spool(db, settings) as spool:
            assert (spool.startup.migrated_from, spool.startup.schema_version) == (2, 3)
            assert spool.statistics().pending == 1
        async with open_spool(db, settings) as spool:
            assert spool.startup.migrated_from is None
        assert runs == [1]
        conn = sqlite3.connect(db)
        assert conn.execute("SELECT version FROM spool_schema ORDER BY version").fetchall() == [
            (1,),
            (2,),
            (3,),
        ]
        conn.close()

    async def test_a_version_1_spool_upgrades_in_place_and_remembers_its_sent_ids(
        self,
        db: Path,
        settings: SpoolSettings,
        monkeypatch: pytest.MonkeyPatch,
        wall: WallClock,
    ) -> None:
        """A spool written by version 1 gains the usage totals and the ledger on open: its
        counts are right, and its sent reports are remembered as acknowledged after their
        rows are gone."""
        with monkeypatch.context() as patch:
            patch.setattr(_schema, "SCHEMA_VERSION", 1)
            conn = _schema.connect_writer(db, busy_timeout=5)
            _schema.migrate(conn, db, wall())
        for n, state in enumerate(("sent", "sent", "pending")):
            item = make_item(n, size=300)
            conn.execute(
                "INSERT INTO reports (id, state, next_attempt_at, created_at, updated_at, "
                "sent_at, source, body_size, body_crc, body) VALUES (?, ?, 0, 0, 0, ?, ?, ?, ?, ?)",
                (
                    item.report_id,
                    state,
                    wall() if state == "sent" else None,
                    msgspec.json.encode(item.source).decode(),
                    len(item.body),
                    zlib.crc32(item.body),
                    item.body,
                ),
            )
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_schema")}
        conn.close()
        assert "acknowledged" not in tables  # really a version-1 file

        async with open_spool(db, settings, clock=wall) as spool:
            assert (spool.startup.migrated_from, spool.startup.schema_version) == (1, 2)
            stats = spool.statistics()
            assert (stats.pending, stats.sent, stats.bytes) == (1, 2, 900)
            assert await spool.purge(state=ReportState.SENT) == 2
            again = await spool.enqueue([make_item(0, size=300), make_item(1, size=300)])
        assert again.inserted == ()
        assert again.already_sent == (make_item(0).report_id, make_item(1).report_id)
