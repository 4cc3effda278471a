"""Report stores: upsert by id, duplicate counting, and SQLite persistence."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from pywats_actors.emulator._store import MemoryStore, ReportStore, SqliteStore

A = "5f0c6a2e-8d1b-4c7a-9e3f-2b6d4a1c9e70"
B = "00000000-0000-0000-0000-000000000002"


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReportStore]:
    """Each kind of store, empty."""
    kept: ReportStore = (
        MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "reports.db")
    )
    yield kept
    kept.close()


class TestStores:
    def test_first_report_gets_number_one(self, store: ReportStore) -> None:
        """The first stored report is number 1, received once."""
        stored = store.put(A, b"{1}")
        assert (stored.number, stored.receive_count, stored.body) == (1, 1, b"{1}")

    def test_repeated_id_replaces_and_counts(self, store: ReportStore) -> None:
        """A repeated id replaces the body, keeps its number and counts the receipt."""
        store.put(A, b"{old}")
        store.put(B, b"{b}")
        stored = store.put(A, b"{new}")
        assert (stored.number, stored.receive_count) == (1, 2)
        got = store.get(A)
        assert got is not None
        assert got.body == b"{new}"

    def test_ids_in_first_arrival_order(self, store: ReportStore) -> None:
        """ids() lists each id once, in the order it first arrived."""
        store.put(B, b"b")
        store.put(A, b"a")
        store.put(B, b"b2")
        assert store.ids() == [B, A]

    def test_count_is_distinct_ids(self, store: ReportStore) -> None:
        """count() is the number of distinct ids, as ids() lists them."""
        assert store.count() == 0
        store.put(B, b"b")
        store.put(A, b"a")
        store.put(B, b"b2")
        assert store.count() == len(store.ids()) == 2

    def test_unknown_id(self, store: ReportStore) -> None:
        """get() of an id never stored is None."""
        assert store.get(A) is None


class TestSqliteStore:
    def test_reports_survive_reopening(self, tmp_path: Path) -> None:
        """Reports written before a close are there after reopening the file."""
        path = tmp_path / "reports.db"
        first = SqliteStore(path)
        first.put(A, b"{a}")
        first.close()
        second = SqliteStore(path)
        try:
            stored = second.get(A)
            assert stored is not None
            assert stored.body == b"{a}"
            assert second.put(A, b"{a}").receive_count == 2
        finally:
            second.close()


class TestDeliveryRecord:
    def test_every_delivery_is_recorded_with_its_body_hash(self, store: ReportStore) -> None:
        """Each recorded delivery keeps its number, id, SHA-256, size and status, so a second
        body under the same id stays visible after the upsert replaced the first."""
        store.record(A, b"{old}", 200)
        store.record(A, b"{new!}", 0)
        first, second = store.deliveries(0, 10)
        assert (first.seq, first.report_id, first.size, first.status) == (1, A, 5, 200)
        assert first.sha256 == hashlib.sha256(b"{old}").hexdigest()
        assert (second.seq, second.size, second.status) == (2, 6, 0)
        assert second.sha256 != first.sha256
        assert store.delivery_count() == 2

    def test_deliveries_page_after_a_cursor(self, store: ReportStore) -> None:
        """deliveries(after, limit) returns the next *limit* deliveries after number *after*."""
        for n in range(5):
            store.record(A if n % 2 else B, b"{%d}" % n, 200)
        assert [d.seq for d in store.deliveries(0, 2)] == [1, 2]
        assert [d.seq for d in store.deliveries(2, 2)] == [3, 4]
        assert [d.seq for d in store.deliveries(4, 10)] == [5]
        assert store.deliveries(5, 10) == []

    def test_sqlite_record_survives_a_restart(self, tmp_path: Path) -> None:
        """The SQLite store's record goes on numbering after it is reopened."""
        first = SqliteStore(tmp_path / "r.db")
        first.record(A, b"{a}", 200)
        first.close()
        again = SqliteStore(tmp_path / "r.db")
        try:
            assert again.record(B, b"{b}", 200).seq == 2
            assert [d.report_id for d in again.deliveries(0, 10)] == [A, B]
        finally:
            again.close()
