"""The spool's public surface is exactly its ``__all__``, and errors form one tree."""

from __future__ import annotations

import inspect
import sqlite3
from pathlib import Path

import pytest
import trio

import pywats_actors.spool as spool_pkg
from pywats_actors import PywatsError
from pywats_actors.spool import SpoolCorrupt, SpoolError, SpoolSettings, open_spool

from .conftest import make_item


class TestExports:
    def test_all_is_sorted_complete_and_public(self) -> None:
        """__all__ names existing attributes once, in sorted order, and every public class
        and function the private modules define is exported."""
        exported = list(spool_pkg.__all__)
        assert exported == sorted(exported, key=lambda n: (not n.isupper(), n))
        assert len(exported) == len(set(exported))
        for name in exported:
            assert hasattr(spool_pkg, name)
        defined = {
            name
            for name, value in vars(spool_pkg).items()
            if not name.startswith("_")
            and (inspect.isclass(value) or inspect.isfunction(value))
            and getattr(value, "__module__", "").startswith("pywats_actors.spool._")
        }
        assert defined <= set(exported)

    def test_every_spool_error_is_a_pywats_error(self) -> None:
        """Catching PywatsError (or SpoolError) catches every error the spool raises."""
        errors = [
            value
            for value in vars(spool_pkg).values()
            if inspect.isclass(value) and issubclass(value, Exception)
        ]
        assert len(errors) >= 10
        assert all(issubclass(error, SpoolError) for error in errors)
        assert issubclass(SpoolError, PywatsError)


class TestWriterFailure:
    async def test_corruption_found_at_run_time_ends_the_block_with_spool_corrupt(
        self, db: Path
    ) -> None:
        """If SQLite reports corruption while the node runs, the writer stops, the calls in
        its batch fail with SpoolCorrupt, and the block is cancelled with that error."""
        failed: list[BaseException] = []
        with pytest.RaisesGroup(SpoolCorrupt):
            async with open_spool(db, SpoolSettings(reserve_free_bytes=0)) as spool:
                await spool.enqueue([make_item(1)])

                def corrupt() -> None:
                    error = sqlite3.DatabaseError("database disk image is malformed")
                    error.sqlite_errorcode = 11  # SQLITE_CORRUPT, as SQLite would set it
                    raise error

                try:
                    await spool._writer.call(corrupt)  # white-box: a failure SQLite would raise
                except SpoolCorrupt as exc:
                    failed.append(exc)
                await trio.sleep_forever()
        assert len(failed) == 1
