"""Large files in little memory: the CSV converter streams its reports, the worker sends them
ahead of its answer in parts, and a large export converts under a small memory limit."""

from __future__ import annotations

import uuid

import msgspec
import pytest
import trio

from converters import (
    Converted,
    ConverterConfig,
    Crashed,
    CsvArguments,
    CsvConverter,
    FileRejected,
    Rejected,
    _csv_text,
    open_converter_pool,
    validate_arguments,
)
from pywats_actors.bench import bench_export
from pywats_actors.report import UUTReport, decode_report, encode_report

from .conftest import NAMESPACE, plugin, settings

NIL = uuid.UUID(int=0)
STREAM = plugin("Stream")
HEADER = b"SerialNumber,PartNumber,StepName,Value,Result\n"


def csv_args(**raw: object) -> CsvArguments:
    result: CsvArguments = validate_arguments("csv", CsvArguments, raw)
    return result


class TestCsvStreaming:
    def test_reports_come_before_the_file_is_read_to_its_end(self) -> None:
        """Each report is yielded as soon as its group ends: the reports before a group with a
        bad cell are out before that cell is met."""
        data = HEADER + b"A,P,V,1,PASS\nB,P,V,1,PASS\nC,P,V,1,MAYBE\n"
        stream = CsvConverter().convert_iter(data, "f.csv", csv_args(group_by=["sn"]))
        assert [report.sn for report in (next(stream), next(stream))] == ["A", "B"]
        with pytest.raises(FileRejected) as info:
            next(stream)
        assert info.value.where == "line 4"

    def test_interleaved_groups_still_make_one_report_each(self) -> None:
        """Rows of a group spread over the file still make one report, in order of the
        group's first row."""
        data = HEADER + b"A,P,V,1,PASS\nB,P,V,1,PASS\nA,P,W,2,FAIL\nC,P,V,1,PASS\nB,P,W,2,PASS\n"
        reports = list(CsvConverter().convert_iter(data, "f.csv", csv_args(group_by=["sn"])))
        assert [(r.sn, r.result) for r in reports] == [("A", "F"), ("B", "P"), ("C", "P")]
        assert all(isinstance(r, UUTReport) for r in reports)

    def test_convert_is_the_stream_in_a_list(self) -> None:
        """convert() returns exactly the reports convert_iter() yields (ids aside)."""
        data = bench_export(200_000)
        arguments = csv_args()
        listed = CsvConverter().convert(data, "f.csv", arguments)
        streamed = list(CsvConverter().convert_iter(data, "f.csv", arguments))
        assert len(listed) == len(streamed) > 1
        for a, b in zip(listed, streamed, strict=True):
            assert isinstance(a, UUTReport)
            assert isinstance(b, UUTReport)
            assert (a.sn, a.start, a.root) == (b.sn, b.start, b.root)

    def test_problems_in_the_table_come_before_any_report(self) -> None:
        """A row too wide at the end of the file rejects it before the first report is made."""
        data = HEADER + b"A,P,V,1,PASS\nB,P,V,1,PASS,extra\n"
        stream = CsvConverter().convert_iter(
            data, "f.csv", csv_args(group_by=["sn"], mismatched_rows="reject")
        )
        with pytest.raises(FileRejected) as info:
            next(stream)
        assert info.value.where == "line 3"


def outcome(data: bytes, arguments: CsvArguments) -> list[bytes] | tuple[str, str | None]:
    """The reports (ids aside) the converter makes of ``data``, or its rejection."""
    try:
        reports = CsvConverter().convert(data, "f.csv", arguments)
    except FileRejected as exc:
        return exc.reason, exc.where
    out = []
    for report in reports:
        assert isinstance(report, UUTReport)
        out.append(encode_report(msgspec.structs.replace(report, id=NIL)))
    return out


TIMED = HEADER.replace(b"Result", b"TestDate,Result")
TWO_WAYS = [
    (bench_export(100_000), {}),
    (bench_export(100_000).replace(b"\n", b"\r\n"), {}),
    (bench_export(100_000).replace(b"\n", b"\r"), {}),
    (TIMED + b'"A\n1",P,"V\r\nx",1,2024-05-01T10:00:00Z,PASS\n', {}),
    (
        b"junk\n#c\n" + TIMED + b"#x\nA,P,V,1,2024-05-01T10:00:00Z,PASS\n",
        {"skip_lines": 1, "comment_prefix": "#"},
    ),
    (TIMED + b"A,P,V,1,2024-05-01T10:00:00Z,PASS\n" * 3 + b"A,P,\xff\n", {}),
    (
        TIMED + b"A,P,V,1,2024-05-01T10:00:00Z,PASS\nB,P,V,1,2024-05-01T10:00:00Z,PASS,x\n",
        {"mismatched_rows": "reject"},
    ),
    (b"Serial,Part\nA,P\n", {}),
    (TIMED, {}),
    (b"", {}),
    (
        "SerialNumber;PartNumber;StepName;Value;TestDate\nA;P;V\u00e9;3,31;2024-05-01T10:00:00Z\n".encode(
            "cp1252"
        ),
        {"encoding": "cp1252", "decimal_separator": ","},
    ),
]


class TestTwoWaysOfReading:
    @pytest.mark.parametrize(("data", "raw"), TWO_WAYS)
    def test_a_large_file_reads_as_a_small_one(
        self, data: bytes, raw: dict[str, object], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A file decoded a line at a time on each pass (as large files are) gives the same
        reports, or the same rejection at the same place, as when decoded whole and parsed
        once (as small files are)."""
        arguments = csv_args(**raw)
        whole = outcome(data, arguments)
        monkeypatch.setattr(_csv_text, "_SMALL_FILE", 0)
        assert outcome(data, arguments) == whole


class TestReportsInParts:
    async def test_many_reports_arrive_whole_and_in_order(self) -> None:
        """Reports sent ahead of the answer (several parts of about 1 MiB) all arrive, in
        order, each a valid report with its own id."""
        async with open_converter_pool(
            settings(), converters=[STREAM], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(60):
                result = await pool.convert(b"3000 1000", "f", "stream")
        assert isinstance(result, Converted)
        assert len(result.reports) == 3000
        assert [decode_report(r.wsjf).sn for r in result.reports[::1000]] == [
            "SN-000000",
            "SN-001000",
            "SN-002000",
        ]
        assert len({r.id for r in result.reports}) == 3000

    @pytest.mark.parametrize(
        ("then", "cause", "reason"),
        [
            ("fail", "converter", "failed after 3000 reports"),
            ("invalid", "invalid_output", "report 3000 is not valid WSJF"),
            ("other", "invalid_output", "report 3000 is a object"),
        ],
    )
    async def test_a_refusal_after_parts_voids_them(
        self, then: str, cause: str, reason: str
    ) -> None:
        """A converter that fails after reports were sent ahead gets the file rejected, and
        those reports do not leak into the worker's next answer."""
        async with open_converter_pool(
            settings(), converters=[STREAM], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(60):
                refused = await pool.convert(f"3000 1000 then {then}".encode(), "f", "stream")
                after = await pool.convert(b"2 10", "g", "stream")
        assert isinstance(refused, Rejected)
        assert (refused.cause, reason in refused.reason) == (cause, True)
        assert isinstance(after, Converted)
        assert len(after.reports) == 2
        assert pool.statistics().worker_crashes == 0

    async def test_parts_together_may_not_exceed_the_output_limit(self) -> None:
        """max_output_mb bounds all of a file's reports, not each part: more is a crash."""
        async with open_converter_pool(
            settings(max_output_mb=2), converters=[STREAM], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(60):
                result = await pool.convert(b"6000 1000", "f", "stream")
        assert isinstance(result, Crashed)
        assert "max_output_mb" in result.description


class TestLargeExport:
    async def test_a_large_export_converts_under_a_small_memory_limit(self) -> None:
        """A 20 MB CSV export converts in a worker allowed 128 MiB of resident memory (the
        converter used to need about 25 times the file's size)."""
        data = bench_export(20_000_000)
        async with open_converter_pool(
            settings(memory_mb=128, timeout=120, max_output_mb=256),
            converters=[ConverterConfig("csv")],
            station_namespace=NAMESPACE,
        ) as pool:
            with trio.fail_after(180):
                result = await pool.convert(data, "export.csv", "csv")
        assert isinstance(result, Converted), result
        assert len(result.reports) == (data.count(b"\n") - 1) // 50
