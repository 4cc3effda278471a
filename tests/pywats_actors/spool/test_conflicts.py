"""Report ids kept from their source must identify one report: other content under such an id
refuses the whole enqueue, naming both files; the same content again stays a duplicate."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import trio

from pywats_actors.spool import (
    ReportIdConflict,
    SourceInfo,
    Spool,
    SpoolError,
    SpoolItem,
    SpoolSettings,
    open_spool,
)

from .conftest import WallClock, make_item

KEPT_ID = "6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b"


def kept(n: int, *, report_id: str = KEPT_ID, index: int = 0) -> SpoolItem:
    """Report *n* from its own file (``/station/in/result-n.xml``), keeping *report_id*."""
    item = make_item(n, report_id=report_id)
    return msgspec.structs.replace(
        item, source=msgspec.structs.replace(item.source, kept_id=True, index=index)
    )


async def _rows(spool: Spool) -> list[str]:
    page = await spool.list_reports(limit=100)
    return [summary.report_id for summary in page.reports]


class TestKeptIdConflicts:
    @pytest.mark.parametrize("state", ["pending", "sent", "rejected"])
    async def test_kept_id_held_for_other_content_refuses_the_call_naming_both_files(
        self, db: Path, settings: SpoolSettings, state: str
    ) -> None:
        """A kept id that a row in any state holds for other content raises ReportIdConflict
        with the holder's file, content hash and state; nothing of the call is stored, not
        even its other, new reports."""
        first = kept(1)
        async with open_spool(db, settings) as spool:
            await spool.enqueue([first])
            if state != "pending":
                (claimed,) = await spool.claim()
                if state == "sent":
                    await spool.mark_sent(claimed.report_id)
                else:
                    await spool.mark_rejected(claimed.report_id, error="no")
            before = spool.statistics()
            with pytest.raises(ReportIdConflict) as caught:
                await spool.enqueue([make_item(7), kept(2)])
            after = spool.statistics()
            rows = await _rows(spool)
        error = caught.value
        assert isinstance(error, SpoolError)
        assert (error.report_id, error.holder_path, error.holder_state) == (
            KEPT_ID,
            first.source.path,
            state,
        )
        assert error.holder_content_hash == first.source.content_hash
        assert error.source == kept(2).source
        assert str(error) == (
            f"report id {KEPT_ID} is already in the spool from /station/in/result-1.xml "
            f"(content hash {first.source.content_hash}, state {state}); a report id must "
            f"identify one report"
        )
        assert rows == [KEPT_ID]  # make_item(7) was not stored either
        assert (after.enqueued, after.reports) == (before.enqueued, before.reports)

    async def test_same_content_again_is_a_quiet_duplicate(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """The same file converted again (same content hash and position, another path even)
        is a duplicate, in every state, as for derived ids."""
        first = kept(1)
        again = msgspec.structs.replace(
            first, source=msgspec.structs.replace(first.source, path="/station/in/copy.xml")
        )
        async with open_spool(db, settings) as spool:
            await spool.enqueue([first])
            pending = await spool.enqueue([again])
            (claimed,) = await spool.claim()
            await spool.mark_sent(claimed.report_id)
            sent = await spool.enqueue([again])
        assert pending.duplicates == (KEPT_ID,)
        assert pending.inserted == ()
        assert sent.already_sent == (KEPT_ID,)
        assert sent.content_changed == ()

    async def test_kept_id_only_the_ledger_remembers_is_a_conflict_with_the_ledgers_facts(
        self, db: Path, wall: WallClock
    ) -> None:
        """After the sent row is gone, the ledger of acknowledged ids still refuses other
        content under a kept id, saying the server acknowledged it and when; the same content
        is still a quiet duplicate."""
        settings = SpoolSettings(reserve_free_bytes=0, sent_metadata_days=1, sent_body_days=1)
        first = kept(1)
        async with open_spool(db, settings, clock=wall) as spool:
            await spool.enqueue([first])
            (claimed,) = await spool.claim()
            await spool.mark_sent(claimed.report_id)
            wall.advance(2 * 86_400)
            await spool.run_retention()
            assert await _rows(spool) == []
            with pytest.raises(ReportIdConflict) as caught:
                await spool.enqueue([kept(2)])
            same = await spool.enqueue([first])
        error = caught.value
        assert (error.holder_state, error.holder_path) == ("acknowledged", None)
        assert "already acknowledged by the server for other content" in str(error)
        assert "2025-06-15T15:06:40Z" in str(error)  # T0, when it was marked sent
        assert same.already_sent == (KEPT_ID,)
        assert same.content_changed == ()

    async def test_kept_id_twice_in_one_call_is_a_conflict(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """One call (one file) giving the same kept id to two reports stores nothing."""
        async with open_spool(db, settings) as spool:
            with pytest.raises(ReportIdConflict) as caught:
                await spool.enqueue([kept(1, index=0), kept(1, index=1)])
            rows = await _rows(spool)
        assert caught.value.holder_state == "enqueued"
        assert "is given twice in one enqueue" in str(caught.value)
        assert rows == []

    async def test_derived_id_held_by_a_kept_id_from_other_content_is_a_conflict(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """A file that carried the id another file's report derives suppresses nothing: the
        derived report is refused loudly, naming the file that took its id."""
        taken = kept(1, report_id=make_item(2).report_id)
        async with open_spool(db, settings) as spool:
            await spool.enqueue([taken])
            with pytest.raises(ReportIdConflict) as caught:
                await spool.enqueue([make_item(2)])
        assert caught.value.holder_path == taken.source.path

    async def test_derived_ids_keep_todays_duplicate_rules(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """Ids the node derived are duplicates whatever the content hash says (unchanged)."""
        item = make_item(1)
        other = msgspec.structs.replace(
            item, source=msgspec.structs.replace(item.source, content_hash="sha256:other")
        )
        async with open_spool(db, settings) as spool:
            await spool.enqueue([item])
            again = await spool.enqueue([other])
        assert again.duplicates == (item.report_id,)

    async def test_a_concurrent_enqueue_cannot_slip_between_check_and_insert(
        self, db: Path, settings: SpoolSettings
    ) -> None:
        """Many files carrying one kept id enqueued at once (one group commit): exactly one is
        stored, every other is refused."""
        outcomes: list[str] = []

        async def one(n: int) -> None:
            try:
                await spool.enqueue([kept(n)])
            except ReportIdConflict:
                outcomes.append("conflict")
            else:
                outcomes.append("stored")

        async with open_spool(db, settings) as spool:
            async with trio.open_nursery() as nursery:
                for n in range(20):
                    nursery.start_soon(one, n)
            rows = await _rows(spool)
        assert sorted(outcomes) == ["conflict"] * 19 + ["stored"]
        assert rows == [KEPT_ID]


def test_source_info_without_kept_id_decodes_as_derived() -> None:
    """Rows written before ``kept_id`` existed decode with ``kept_id=False``."""
    old = b'{"path":"/a","content_hash":"h","converter":"c","converter_version":"1","index":0}'
    assert msgspec.json.decode(old, type=SourceInfo).kept_id is False
