"""The history checker on crafted histories: a clean run passes, and each breach is caught."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import pytest

from converters import report_id
from pywats_actors.chaos import (
    DroppedFile,
    ErrorCopy,
    ExpectedReport,
    FileCopy,
    FolderState,
    History,
    HistoryVerdict,
    HistoryViolations,
    ServerRecord,
    SpoolRow,
    ViolationKind,
    check_history,
    read_emulator,
    read_folder,
    read_spool,
)
from pywats_actors.emulator import Delivery, open_emulator
from pywats_actors.spool import SourceInfo, SpoolItem, SpoolSettings, open_spool

from ._units import csv_unit

NAMESPACE = uuid.UUID("0b6a3c1e-2f4d-4e5a-8b7c-9d0e1f2a3b4c")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def rid_of(content: bytes, index: int = 0) -> str:
    return str(report_id(NAMESPACE, "csv", sha(content), index))


def wsjf(rid: str, report: ExpectedReport) -> bytes:
    """A WSJF-shaped body carrying *report* (as much of WSJF as the checker reads)."""
    steps = [{"name": s.name, "numericMeas": [{"value": s.value}]} for s in report.steps]
    return json.dumps({"id": rid, "sn": report.serial_number, "root": {"steps": steps}}).encode()


class Run:
    """A crafted history of CSV files, built up by a test one event at a time."""

    def __init__(self) -> None:
        self.dropped: list[DroppedFile] = []
        self.rows: list[SpoolRow] = []
        self.done: list[FileCopy] = []
        self.error: list[ErrorCopy] = []
        self.inbox: list[FileCopy] = []
        self.deliveries: list[Delivery] = []
        self.bodies: dict[str, bytes] = {}

    def drop(self, n: int, *, must_refuse: bool = False) -> DroppedFile:
        text, report = csv_unit(n)
        dropped = DroppedFile(
            path=f"/in/unit-{n}.csv",
            content=text.encode(),
            expected=() if must_refuse else (report,),
        )
        self.dropped.append(dropped)
        return dropped

    def spool(
        self,
        dropped: DroppedFile,
        state: str = "sent",
        *,
        error: str | None = None,
        rid: str | None = None,
        index: int = 0,
    ) -> str:
        rid = rid or rid_of(dropped.content, index)
        self.rows.append(
            SpoolRow(
                report_id=rid,
                state=state,
                last_error=error,
                content_sha256=dropped.sha256,
                index=index,
                source_path=dropped.path,
            )
        )
        return rid

    def deliver(self, rid: str, body: bytes) -> None:
        self.deliveries.append(
            Delivery(
                seq=len(self.deliveries) + 1,
                report_id=rid,
                sha256=sha(body),
                size=len(body),
                at=0.0,
                status=200,
            )
        )
        self.bodies[rid] = body

    def to_done(self, dropped: DroppedFile) -> None:
        self.done.append(FileCopy(path="/in/done/x", sha256=dropped.sha256))

    def to_error(self, dropped: DroppedFile, reason: str | None) -> None:
        self.error.append(ErrorCopy(path="/in/error/x", sha256=dropped.sha256, reason=reason))

    def good(self, n: int) -> tuple[DroppedFile, str]:
        """A file that went all the way: spooled, sent, delivered whole, moved to done/."""
        dropped = self.drop(n)
        assert dropped.expected is not None
        rid = self.spool(dropped)
        self.deliver(rid, wsjf(rid, dropped.expected[0]))
        self.to_done(dropped)
        return dropped, rid

    def check(self) -> HistoryVerdict:
        history = History(
            dropped=tuple(self.dropped),
            spool=tuple(self.rows),
            folders=(
                FolderState(
                    done=tuple(self.done), error=tuple(self.error), inbox=tuple(self.inbox)
                ),
            ),
            server=ServerRecord(deliveries=tuple(self.deliveries), bodies=self.bodies),
        )
        return check_history(history, namespace=NAMESPACE, converter="csv")


def kinds(verdict: HistoryVerdict) -> list[ViolationKind]:
    return sorted({v.kind for v in verdict.violations}, key=lambda k: k.value)


class TestCleanRuns:
    def test_every_file_delivered_whole_is_ok(self) -> None:
        """Files spooled, delivered whole once and moved to done/ give no violation."""
        run = Run()
        for n in range(3):
            run.good(n)
        verdict = run.check()
        verdict.assert_ok()
        assert (verdict.files, verdict.delivered, verdict.reports, verdict.resends) == (3, 3, 3, 0)

    def test_resends_of_the_same_body_are_counted_not_flagged(self) -> None:
        """Deliveries beyond the first of an id, with the same body, count as resends."""
        run = Run()
        _, rid = run.good(0)
        run.deliver(rid, run.bodies[rid])
        run.deliver(rid, run.bodies[rid])
        verdict = run.check()
        assert verdict.ok
        assert (verdict.deliveries, verdict.resends, verdict.reports) == (3, 2, 1)

    def test_rejected_with_reason_and_error_with_reason_are_accounted(self) -> None:
        """A report rejected with the server's reason, and a bad file in error/ with its
        reason, are accounted for."""
        run = Run()
        rejected = run.drop(0)
        run.spool(rejected, "rejected", error="400: the server's rules refused it")
        run.to_done(rejected)
        broken = DroppedFile(path="/in/broken.csv", content=b"\x00garbage", expected=())
        run.dropped.append(broken)
        run.to_error(broken, "rejected: not a CSV export (at line 1)")
        verdict = run.check()
        verdict.assert_ok()
        assert (verdict.rejected, verdict.in_error, verdict.delivered) == (1, 1, 0)

    def test_rows_gone_from_the_spool_are_traced_by_derived_ids(self) -> None:
        """With the namespace, a file whose spool row was evicted is still matched to its
        delivery by the deterministic id."""
        run = Run()
        _, _ = run.good(0)
        run.rows.clear()
        run.check().assert_ok()


class TestViolations:
    def test_pending_report_never_delivered_is_lost(self) -> None:
        """A file whose report is still pending and not on the server is lost."""
        run = Run()
        dropped = run.drop(0)
        run.spool(dropped, "pending")
        run.to_done(dropped)
        verdict = run.check()
        assert kinds(verdict) == [ViolationKind.LOST]
        assert verdict.lost == 1
        assert verdict.violations[0].file == dropped.path

    def test_file_with_no_trace_is_lost(self) -> None:
        """A dropped file with no row, no delivery and no copy anywhere is lost."""
        run = Run()
        run.good(0)
        run.drop(1)
        verdict = run.check()
        assert kinds(verdict) == [ViolationKind.LOST]
        assert (verdict.lost, verdict.delivered) == (1, 1)

    def test_one_id_with_two_bodies_is_duplicated(self) -> None:
        """An id delivered once with one body and again with another is flagged."""
        run = Run()
        dropped, rid = run.good(0)
        run.deliver(rid, wsjf(rid, csv_unit(99)[1]))
        run.bodies[rid] = wsjf(rid, dropped.expected[0])  # type: ignore[index]
        verdict = run.check()
        assert ViolationKind.DUPLICATED in kinds(verdict)
        assert verdict.duplicated == 1
        assert any(v.report_id == rid for v in verdict.violations)

    def test_report_with_fewer_steps_is_truncated(self) -> None:
        """A delivered report missing the file's last rows is truncated."""
        run = Run()
        dropped = run.drop(0)
        report = dropped.expected[0]  # type: ignore[index]
        rid = run.spool(dropped)
        cut = ExpectedReport(serial_number=report.serial_number, steps=report.steps[:1])
        run.deliver(rid, wsjf(rid, cut))
        run.to_done(dropped)
        verdict = run.check()
        assert kinds(verdict) == [ViolationKind.TRUNCATED]
        assert verdict.truncated == 1
        assert "1 step(s) delivered, the file holds 5" in str(verdict.violations[0])

    def test_report_with_a_changed_value_does_not_match(self) -> None:
        """A delivered report whose value differs from the file's is flagged as not whole."""
        run = Run()
        dropped = run.drop(0)
        report = dropped.expected[0]  # type: ignore[index]
        rid = run.spool(dropped)
        other = csv_unit(0, seed=5)[1]
        run.deliver(
            rid, wsjf(rid, ExpectedReport(serial_number=report.serial_number, steps=other.steps))
        )
        run.to_done(dropped)
        assert kinds(run.check()) == [ViolationKind.TRUNCATED]

    def test_report_from_a_file_taken_before_its_writer_finished_is_truncated(self) -> None:
        """A delivery converted from a dropped file's path but from an earlier, shorter
        content is truncated (and the whole content, never converted, is lost)."""
        run = Run()
        dropped = run.drop(0)
        partial = dropped.content.splitlines(keepends=True)[:2]
        early = DroppedFile(path=dropped.path, content=b"".join(partial))
        rid = rid_of(early.content)
        run.rows.append(
            SpoolRow(
                report_id=rid,
                state="sent",
                last_error=None,
                content_sha256=early.sha256,
                index=0,
                source_path=dropped.path,
            )
        )
        run.deliver(rid, b"{}")
        run.to_done(dropped)
        verdict = run.check()
        assert kinds(verdict) == [ViolationKind.LOST, ViolationKind.TRUNCATED]
        assert verdict.truncated == 1
        truncated = [v for v in verdict.violations if v.kind is ViolationKind.TRUNCATED]
        assert truncated[0].file == dropped.path

    def test_one_content_with_two_ids_is_flagged(self) -> None:
        """Two spool rows for one content and position, with different ids, are flagged."""
        run = Run()
        dropped, _ = run.good(0)
        run.spool(dropped, rid=str(uuid.uuid4()))
        assert ViolationKind.TWO_IDS in kinds(run.check())

    def test_spooled_id_other_than_the_derived_one_is_flagged(self) -> None:
        """A content spooled under an id that its bytes do not derive is a second id."""
        run = Run()
        dropped = run.drop(0)
        rid = run.spool(dropped, rid=str(uuid.uuid4()))
        run.deliver(rid, wsjf(rid, dropped.expected[0]))  # type: ignore[index]
        run.to_done(dropped)
        assert ViolationKind.TWO_IDS in kinds(run.check())

    def test_error_without_reason_is_unexplained(self) -> None:
        """A file in error/ with no sidecar reason is flagged."""
        run = Run()
        broken = DroppedFile(path="/in/b.csv", content=b"\x00", expected=())
        run.dropped.append(broken)
        run.to_error(broken, None)
        verdict = run.check()
        assert kinds(verdict) == [ViolationKind.UNEXPLAINED]
        assert verdict.in_error == 1

    def test_rejection_without_reason_is_unexplained(self) -> None:
        """A rejected report with no reason kept is flagged."""
        run = Run()
        dropped = run.drop(0)
        run.spool(dropped, "rejected", error="")
        run.to_done(dropped)
        assert kinds(run.check()) == [ViolationKind.UNEXPLAINED]

    def test_good_file_in_error_is_misfiled(self) -> None:
        """A file the driver knows converts, found in error/, is flagged even with a reason."""
        run = Run()
        dropped = run.drop(0)
        run.to_error(dropped, "crashed: no fresh worker could be started")
        verdict = run.check()
        assert kinds(verdict) == [ViolationKind.MISFILED]

    def test_bad_file_on_the_server_is_misfiled(self) -> None:
        """A file the driver knows must be refused, found on the server, is flagged."""
        run = Run()
        dropped = run.drop(0, must_refuse=True)
        rid = run.spool(dropped)
        run.deliver(rid, b"{}")
        run.to_done(dropped)
        assert ViolationKind.MISFILED in kinds(run.check())

    def test_delivered_file_left_in_the_folder_is_not_disposed(self) -> None:
        """A file delivered but in neither done/ nor error/ is flagged."""
        run = Run()
        dropped, _ = run.good(0)
        run.done.clear()
        run.inbox.append(FileCopy(path=dropped.path, sha256=dropped.sha256))
        assert kinds(run.check()) == [ViolationKind.NOT_DISPOSED]

    def test_same_content_dropped_twice_is_accounted_twice(self) -> None:
        """A content dropped a second time (after the first was done) is delivered under the
        same id (a resend) and is expected twice in done/."""
        run = Run()
        dropped, rid = run.good(0)
        again = DroppedFile(
            path="/in/again.csv", content=dropped.content, expected=dropped.expected
        )
        run.dropped.append(again)
        run.deliver(rid, run.bodies[rid])
        run.to_done(again)
        verdict = run.check()
        verdict.assert_ok()
        assert (verdict.files, verdict.delivered, verdict.reports, verdict.resends) == (2, 2, 1, 1)

    def test_file_disposed_twice_is_flagged(self) -> None:
        """A content found twice in done/ is flagged."""
        run = Run()
        dropped, _ = run.good(0)
        run.to_done(dropped)
        assert kinds(run.check()) == [ViolationKind.NOT_DISPOSED]

    def test_delivery_no_file_explains_is_stray(self) -> None:
        """A delivered id that no dropped file produced is flagged."""
        run = Run()
        run.good(0)
        stray = str(uuid.uuid4())
        run.deliver(stray, b"{}")
        verdict = run.check()
        assert kinds(verdict) == [ViolationKind.STRAY]
        assert verdict.violations[0].report_id == stray

    def test_assert_ok_lists_every_violation(self) -> None:
        """assert_ok raises one error whose message names each violation."""
        run = Run()
        run.drop(0)
        run.drop(1)
        with pytest.raises(HistoryViolations) as raised:
            run.check().assert_ok()
        message = str(raised.value)
        assert message.startswith("2 violation(s)")
        assert "/in/unit-0.csv" in message
        assert "/in/unit-1.csv" in message


class TestWitnesses:
    def test_read_folder_sorts_done_error_and_the_rest(self, tmp_path: Path) -> None:
        """read_folder finds done/, error/ with the sidecar's reason, and files left over,
        skipping hidden files and sidecars."""
        (tmp_path / "done").mkdir()
        (tmp_path / "error").mkdir()
        (tmp_path / "done" / "a.csv").write_bytes(b"a")
        (tmp_path / "error" / "b.csv").write_bytes(b"b")
        (tmp_path / "error" / "b.csv.error.json").write_text(
            json.dumps({"kind": "rejected", "reason": "no header"})
        )
        (tmp_path / "error" / "c.csv").write_bytes(b"c")
        (tmp_path / "d.csv").write_bytes(b"d")
        (tmp_path / ".e.csv.tmp").write_bytes(b"e")
        state = read_folder(tmp_path)
        assert [c.sha256 for c in state.done] == [sha(b"a")]
        assert [(c.sha256, c.reason) for c in state.error] == [
            (sha(b"b"), "rejected: no header"),
            (sha(b"c"), None),
        ]
        assert [c.sha256 for c in state.inbox] == [sha(b"d")]

    @pytest.mark.parametrize("prefix", ["", "sha256:"])
    async def test_read_spool_returns_every_row_with_its_source(
        self, tmp_path: Path, prefix: str
    ) -> None:
        """read_spool lists each row with its state, content hash (bare hex, as the node
        stores it, or prefixed) and position."""
        rid = str(uuid.uuid4())
        async with open_spool(tmp_path / "spool.db", SpoolSettings()) as spool:
            await spool.enqueue(
                [
                    SpoolItem(
                        report_id=rid,
                        body=b"{}",
                        source=SourceInfo(
                            path="/in/x.csv",
                            content_hash=prefix + sha(b"x"),
                            converter="csv",
                            converter_version="1",
                            index=2,
                        ),
                    )
                ]
            )
        (row,) = read_spool(tmp_path / "spool.db")
        assert (row.report_id, row.state, row.content_sha256, row.index, row.source_path) == (
            rid,
            "pending",
            sha(b"x"),
            2,
            "/in/x.csv",
        )

    async def test_read_emulator_takes_every_delivery_and_body(self) -> None:
        """read_emulator returns the delivery record and the body stored under each id."""
        import httpx

        from tests._reports import MINIMAL_REPORT

        body = json.dumps(MINIMAL_REPORT).encode()
        async with open_emulator(token="t") as emu:
            async with httpx.AsyncClient(base_url=emu.url, timeout=5) as client:
                for _ in range(2):
                    answer = await client.post(
                        "/api/Report/WSJF",
                        content=body,
                        headers={"Authorization": "Basic t", "Content-Type": "application/json"},
                    )
                    assert answer.status_code == 200
            record = read_emulator(emu)
        rid = str(uuid.UUID(str(MINIMAL_REPORT["id"])))
        assert [d.report_id for d in record.deliveries] == [rid, rid]
        assert record.bodies == {rid: body}
