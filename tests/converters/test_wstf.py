"""The WSTF converter: WATS Standard Text Format files (fixtures authored from the spec, see
fixtures/wstf/README.md; no public real WSTF file exists)."""

from __future__ import annotations

import datetime as dt
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from converters import (
    Converted,
    ConverterConfig,
    FileRejected,
    WstfArguments,
    WstfConverter,
    open_converter_pool,
)
from pywats_actors.report import Chart, Step, UUTReport, decode_report, parse_timestamp, validate

from .conftest import NAMESPACE, settings

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "wstf"
ALL_FIXTURES = sorted(FIXTURES.glob("*.txt"))


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def convert(data: bytes, **args: Any) -> list[UUTReport]:
    reports = []
    for report in WstfConverter().convert(data, "file.txt", WstfArguments(**args)):
        assert isinstance(report, UUTReport)
        assert validate(report) == []
        reports.append(report)
    return reports


def one(data: bytes, **args: Any) -> UUTReport:
    (report,) = convert(data, **args)
    return report


def text(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


def uut(*rows: str, header: tuple[str, ...] = ()) -> bytes:
    """A one-UUT file with the given step rows (cells separated by ``|``, written as TABs)."""
    return text(
        "--Header-Start--",
        "SerialNumber\tSN-1",
        "PartNumber\tPN-1",
        "UTCStartDateTime\t2026-01-01T12:00:00",
        *header,
        "--Step-Data-Start--",
        *(row.replace("|", "\t") for row in rows),
        "--Step-Data-End--",
        "--UUT-End--",
    )


def rejected(data: bytes, **args: Any) -> FileRejected:
    with pytest.raises(FileRejected) as caught:
        convert(data, **args)
    return caught.value


def walk(step: Step, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Step]]:
    for child in step.steps or ():
        yield (*path, child.name), child
        yield from walk(child, (*path, child.name))


def steps(report: UUTReport) -> dict[tuple[str, ...], Step]:
    return dict(walk(report.root))


def leaf(report: UUTReport, *path: str) -> Step:
    return steps(report)[path]


class TestSingleUut:
    def test_header_maps_to_the_report(self) -> None:
        """Identity, station, operator, process code, execution time and start are mapped."""
        report = one(fixture("single_uut.txt"))
        assert (report.sn, report.pn, report.rev) == ("PSU-0001", "PSU-100", "B")
        assert (report.process_code, report.machine_name) == (20, "ST-7")
        assert report.uut.user == "alice"
        assert report.uut.exec_time == 12.5
        assert report.start == "2026-06-15T10:30:00.000000+02:00"  # offset: local minus UTC
        assert report.start_utc == "2026-06-15T08:30:00.000000Z"

    def test_unknown_keys_are_misc_infos_and_subunit_lines_sub_units(self) -> None:
        """LineName and Shift become misc infos; the Subunit line a sub-unit."""
        report = one(fixture("single_uut.txt"))
        assert [(m.description, m.text) for m in report.misc_infos or ()] == [
            ("LineName", "Line 3"),
            ("Shift", "B"),
        ]
        (sub,) = report.sub_units or ()
        assert (sub.part_type, sub.pn, sub.sn, sub.rev) == ("PCBA", "PCB-200", "PCB-0001", "A")

    def test_status_less_rows_are_computed_from_value_limits_and_operator(self) -> None:
        """Active mode: statuses follow the limits; limits and operators follow WSJF rules."""
        report = one(fixture("single_uut.txt"))
        found = steps(report)
        volts = found[("Output voltage",)]
        (meas,) = volts.numeric_meas or ()
        assert (volts.step_type, volts.status, meas.comp_op) == ("ET_NLT", "P", "GELE")
        assert (meas.value, meas.low_limit, meas.high_limit, meas.unit) == (12.02, 11.5, 12.5, "V")
        (ripple,) = found[("Ripple",)].numeric_meas or ()
        assert (ripple.comp_op, ripple.low_limit, ripple.high_limit) == ("LE", 50.0, msgspec.UNSET)
        (idle,) = found[("Idle current",)].numeric_meas or ()
        assert idle.comp_op == "LOG"
        (load,) = found[("Load current",)].numeric_meas or ()
        assert (load.comp_op, load.low_limit) == ("GE", 1.0)
        assert found[("LED green",)].step_type == "ET_PFT"
        assert found[("LED green",)].status == "P"
        (firmware,) = found[("Firmware",)].string_meas or ()
        assert (firmware.comp_op, firmware.limit, firmware.status) == ("CASESENSIT", "1.4.2", "P")
        (echo,) = found[("Serial echo",)].string_meas or ()
        assert (echo.comp_op, echo.status) == ("IGNORECASE", "P")
        assert report.result == "P"

    def test_action_step_keeps_time_and_report_text(self) -> None:
        """An ActionStep is a done Action step with its execution time and report text."""
        action = leaf(one(fixture("single_uut.txt")), "Power on")
        assert (action.step_type, action.status) == ("Action", "D")
        assert (action.tot_time, action.report_text) == (0.25, "Relay K1 closed")

    def test_step_level_columns(self) -> None:
        """Execution time, report text, error code and message, caused sequence failure."""
        report = one(
            uut(
                "SequenceCall|Seq",
                "ActionStep|Act|||||||Error|2.5|said|-17|broke|True",
                "EndSequenceCall|Seq",
            )
        )
        act = leaf(report, "Seq", "Act")
        assert (act.status, act.tot_time, act.report_text) == ("E", 2.5, "said")
        assert (act.error_code, act.error_message, act.caused_seq_failure) == (-17, "broke", True)
        assert (leaf(report, "Seq").status, report.result) == ("E", "E")

    def test_a_failing_row_fails_the_report_and_is_the_cause(self) -> None:
        """A value outside its limits fails the step, the report, and is the UUT's cause."""
        report = one(uut("NumericLimitTest|Ok||1|0|2|GELE", "NumericLimitTest|Bad||3|0|2|GELE"))
        bad = leaf(report, "Bad")
        assert (bad.status, report.result) == ("F", "F")
        assert report.uut.step_id_caused_uut_failure == bad.id
        assert bad.caused_uut_failure is True


class TestStatusesFromTheFile:
    def test_a_given_status_is_used_as_it_is(self) -> None:
        """Import mode: a Status cell wins over what the limits say."""
        report = one(
            uut(
                "NumericLimitTest|Out but passed||9|0|2|GELE||Passed",
                "NumericLimitTest|In but failed||1|0|2|GELE||Failed",
                "PassFailTest|Done step||True|||||Done",
            )
        )
        (passed,) = leaf(report, "Out but passed").numeric_meas or ()
        assert passed.status == "P"
        assert leaf(report, "In but failed").status == "F"
        assert leaf(report, "Done step").status == "D"
        assert report.result == "F"

    def test_uut_status_in_the_footer_is_the_result(self) -> None:
        """UUTStatus after --Step-Data-End-- sets the result, and a passed UUT has no cause."""
        data = uut("NumericLimitTest|Bad||3|0|2|GELE").replace(
            b"--Step-Data-End--\r\n", b"--Step-Data-End--\r\nUUTStatus\tPassed\r\n"
        )
        report = one(data)
        assert (report.result, report.root.status) == ("P", "P")
        assert report.uut.step_id_caused_uut_failure is msgspec.UNSET

    def test_sequence_status_from_its_end_row(self) -> None:
        """A Status on EndSequenceCall is the sequence's status."""
        report = one(uut("SequenceCall|Seq", "ActionStep|A", "EndSequenceCall|Seq|||||||Error"))
        assert leaf(report, "Seq").status == "E"
        assert report.result == "E"


class TestMultipleUuts:
    def test_one_report_per_uut_with_the_spaced_end_marker(self) -> None:
        """Three UUTs (one ending '-- UUT-End--') give three reports in file order."""
        reports = convert(fixture("multi_uut.txt"))
        assert [r.sn for r in reports] == ["SN-A1", "SN-A2", "SN-A3"]
        assert [r.result for r in reports] == ["P", "F", "P"]
        assert [r.uut.exec_time for r in reports] == [3.5, 3.5, 3.5]
        assert [r.start_utc for r in reports] == [
            "2026-03-02T07:00:00.000000Z",
            "2026-03-02T08:00:00.000000Z",
            "2026-03-02T09:00:00.000000Z",
        ]

    def test_reports_are_yielded_before_the_rest_is_read(self) -> None:
        """convert_iter hands on the first UUT before it reaches a broken second one."""
        data = fixture("multi_uut.txt").replace(b"SN-A2\r\n", b"SN-A2\r\n--Header-Start--\r\n")
        reports = WstfConverter().convert_iter(data, "f.txt", WstfArguments())
        assert next(reports).sn == "SN-A1"
        with pytest.raises(FileRejected, match=r"before the --UUT-End--"):
            next(reports)

    def test_memory_does_not_grow_with_the_number_of_uuts(self) -> None:
        """Peak memory converting 100 UUTs stays within that of 10 (plus slack)."""
        block = fixture("multi_uut.txt").split(b"\r\n\r\n")[0] + b"\r\n"

        def peak(count: int) -> int:
            data = block * count
            tracemalloc.start()
            try:
                for report in WstfConverter().convert_iter(data, "f.txt", WstfArguments()):
                    assert report.sn == "SN-A1"
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

        peak(2)  # warm up: one-time caches (regular expressions, time zones) are not growth
        small, large = peak(10), peak(100)
        assert large < small * 1.5 + 64 * 1024, (small, large)


class TestNestedSequences:
    def test_sequences_nest_and_failures_ripple_up(self) -> None:
        """SequenceCall/EndSequenceCall nest; a failed measurement fails every enclosing one."""
        report = one(fixture("nested_sequences.txt"))
        found = steps(report)
        assert found[("Setup",)].status == "P"
        assert found[("Setup", "Load fixture")].status == "D"
        assert found[("Audio",)].status == "F"
        assert found[("Audio", "Left channel")].status == "F"
        assert found[("Audio", "Right channel")].status == "P"
        assert (report.root.status, report.result) == ("F", "F")
        assert report.root.seq_call.name == "Amplifier test"  # type: ignore[union-attr]
        assert report.root.seq_call.version == "2.1"  # type: ignore[union-attr]

    def test_multiple_numeric_block_is_one_step(self) -> None:
        """MultipleNumericLimitTest ... EndMultipleNumericLimitTest is one ET_MNLT step."""
        report = one(fixture("nested_sequences.txt"))
        gain = leaf(report, "Audio", "Left channel", "Gain")
        assert (gain.step_type, gain.status) == ("ET_MNLT", "F")
        assert [(m.name, m.status) for m in gain.numeric_meas or ()] == [
            ("1 kHz", "P"),
            ("10 kHz", "F"),
        ]
        assert report.uut.step_id_caused_uut_failure == gain.id

    def test_multiple_string_and_pass_fail_rows_merge(self) -> None:
        """Consecutive same-name rows with a MeasureName make ET_MSVT and ET_MPFT steps."""
        found = steps(one(fixture("nested_sequences.txt")))
        identity = found[("Audio", "Right channel", "Identity")]
        assert identity.step_type == "ET_MSVT"
        assert [(m.name, m.value, m.limit, m.comp_op) for m in identity.string_meas or ()] == [
            ("Codec", "TAS5805", "TAS5805", "CASESENSIT"),
            ("Board", "rev-b", "REV-B", "IGNORECASE"),
        ]
        checks = found[("Audio", "Right channel", "Checks")]
        assert checks.step_type == "ET_MPFT"
        assert [m.name for m in checks.boolean_meas or ()] == ["Mute", "Polarity"]

    def test_chart_and_series_attach_to_the_step_before(self) -> None:
        """Chart and Series rows make the numeric step before them a WATS_XYGMNLT chart."""
        thd = leaf(one(fixture("nested_sequences.txt")), "Audio", "Left channel", "THD")
        assert thd.step_type == "WATS_XYGMNLT"
        chart = thd.chart
        assert isinstance(chart, Chart)
        assert (chart.chart_type, chart.label) == ("LineLogX", "THD vs frequency")
        assert (chart.y_unit, chart.y_label, chart.x_unit, chart.x_label) == (
            "%",
            "THD",
            "Hz",
            "Frequency",
        )
        (series,) = chart.series or ()
        assert series.name == "THD"
        assert [float(v) for v in (series.ydata or "").split(";")] == [0.01, 0.02, 0.05]
        assert [float(v) for v in (series.xdata or "").split(";")] == [100, 1000, 10000]


class TestLocaleAndEncoding:
    def test_decimal_commas_with_a_culture_code(self) -> None:
        """de-DE numbers, cp1252 units and a local time in the timezone argument."""
        data = fixture("decimal_comma_de.txt")
        report = one(data, culture_code="de-DE", timezone="Europe/Berlin")
        found = steps(report)
        (temp,) = found[("Temperatur",)].numeric_meas or ()
        assert (temp.value, temp.low_limit, temp.high_limit, temp.unit) == (21.5, 20, 25, "°C")
        assert found[("Temperatur",)].tot_time == 1.5
        (leak,) = found[("Leckstrom",)].numeric_meas or ()
        assert (leak.value, leak.comp_op, leak.low_limit, leak.unit) == (12.75, "LE", 15, "µA")
        (drift,) = found[("Drift",)].numeric_meas or ()
        assert drift.value == -0.0005
        assert report.uut.exec_time == 7.25
        assert report.start == "2026-02-10T09:15:00.000000+01:00"
        assert [(m.description, m.text) for m in report.misc_infos or ()] == [
            ("Prüfplatz", "Halle 2")
        ]
        assert found[("Drift",)].chart.series[0].ydata == "20.5;21.0;21.5"  # type: ignore[union-attr,index]

    def test_decimal_comma_without_the_culture_is_rejected(self) -> None:
        """Read as en-US, '1,5' is not a number, and the error names the line."""
        error = rejected(fixture("decimal_comma_de.txt"))
        assert error.where == "line 8"
        assert "'1,5' is not a number" in error.reason
        assert "decimal point" in error.reason

    def test_utf8_with_a_byte_order_mark(self) -> None:
        """A UTF-8 file with a BOM is read as UTF-8 whatever file_encoding says."""
        report = one(fixture("utf8_bom.txt"))
        assert report.sn == "R-Ω-01"
        (meas,) = leaf(report, "Resistance").numeric_meas or ()
        assert meas.unit == "Ω"

    def test_utf16_with_a_byte_order_mark(self) -> None:
        """A UTF-16 file with a BOM is detected and read."""
        data = fixture("single_uut.txt").decode("cp1252").encode("utf-16")
        assert WstfConverter().detect(data, "u.txt") >= 0.9
        assert one(data).sn == "PSU-0001"

    def test_code_page_number_as_encoding(self) -> None:
        """file_encoding accepts a Windows code page number such as 1252."""
        report = one(fixture("decimal_comma_de.txt"), culture_code="de-DE", file_encoding="1252")
        assert report.misc_infos[0].description == "Prüfplatz"  # type: ignore[index]

    def test_bytes_that_do_not_decode_name_the_line(self) -> None:
        """A byte undefined in cp1252 (0x81) is rejected with its line."""
        error = rejected(uut("ActionStep|AXB").replace(b"AXB", b"A\x81B"))
        assert error.where == "line 6"


class TestTimes:
    def test_local_time_in_the_timezone_argument(self) -> None:
        """StartDateTime alone is a local time in the timezone argument's zone."""
        data = text(
            "--Header-Start--",
            "SerialNumber\tS",
            "PartNumber\tP",
            "StartDateTime\t2026-07-01T08:00:00",
            "--UUT-End--",
        )
        report = one(data, timezone="America/New_York")
        assert report.start == "2026-07-01T08:00:00.000000-04:00"

    def test_utc_time_alone_is_the_instant(self) -> None:
        """UTCStartDateTime alone gives the instant, shown in the timezone argument's zone."""
        report = one(uut(), timezone="Asia/Tokyo")
        assert parse_timestamp(report.start) == dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
        assert report.start.endswith("+09:00")


class TestArguments:
    def test_defaults(self) -> None:
        """Defaults: process code 10, revision 1, cp1252, en-US, no part number."""
        args = WstfArguments()
        assert (args.operation_type_code, args.revision, args.part_number) == (10, "1", None)
        assert (args.file_encoding, args.culture_code, args.timezone) == ("cp1252", "en-US", None)
        report = one(uut())
        assert (report.process_code, report.rev) == (10, "1")

    def test_arguments_fill_what_the_header_lacks(self) -> None:
        """part_number, operator, station_name and the sequence come from arguments."""
        data = uut().replace(b"PartNumber\tPN-1\r\n", b"")
        report = one(
            data,
            part_number="ARG-PN",
            operator="bob",
            station_name="ST-9",
            sequence_name="Main",
            sequence_version="3",
            operation_type_code=50,
        )
        assert (report.pn, report.uut.user, report.machine_name) == ("ARG-PN", "bob", "ST-9")
        assert report.process_code == 50
        assert report.root.seq_call.name == "Main"  # type: ignore[union-attr]
        assert report.root.seq_call.version == "3"  # type: ignore[union-attr]

    @pytest.mark.parametrize(
        "bad",
        [
            {"cultureCode": "en-US"},
            {"culture_code": "not a culture"},
            {"file_encoding": "no-such-codec"},
            {"timezone": "Mars/Olympus"},
        ],
    )
    def test_bad_arguments_are_refused(self, bad: dict[str, str]) -> None:
        """Unknown fields, cultures, encodings and time zones are configuration errors."""
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(bad, WstfArguments)


class TestRejected:
    @pytest.mark.parametrize(
        ("rows", "where", "says"),
        [
            (["Bogus|X"], "line 6", "unknown step type 'Bogus'"),
            (["ActionStep|A", "EndSequenceCall|S"], "line 7", "EndSequenceCall without"),
            (["NumericLimitTest|V||abc|0|1|GELE"], "line 6", "'abc' is not a number"),
            (["SequenceCall|S", "EndSequenceCall|T"], "line 7", "does not close sequence"),
            (["EndMultipleNumericLimitTest|M"], "line 6", "without an open multiple step"),
            (["NumericLimitTest|V||5|0||GELE"], "line 6", "GELE needs low= and high="),
            (["NumericLimitTest|V||5|0|1|ZZ"], "line 6", "unknown comparison operator"),
            (["NumericLimitTest|V||5|||||Maybe"], "line 6", "unknown status 'Maybe'"),
            (["Series|S|XYG|1;2"], "line 6", "must follow a Chart row"),
            (["Chart|Line|Title"], "line 6", "must follow the step it belongs to"),
            (["NumericLimitTest|V||1", "Chart|Pie"], "line 7", "unknown chart type 'Pie'"),
            (["NumericLimitTest|V||1", "Chart|Line", "Chart|Line"], "line 8", "already has"),
            (["NumericLimitTest|V||1", "Chart", "Series|S|XYG|1;2|1"], "line 8", "1 X values"),
            (["PassFailTest|P||Maybe"], "line 6", "'Maybe' is not True or False"),
            (["SequenceCall"], "line 6", "needs a StepName"),
            (
                [
                    "MultipleNumericLimitTest|M",
                    "NumericLimitTest||a|5|0|1|GELE",
                    "EndMultipleNumericLimitTest|M|||||||Passed",
                ],
                "line 6",
                "has Status Passed but a measurement failed",
            ),
        ],
    )
    def test_bad_rows_name_their_line(self, rows: list[str], where: str, says: str) -> None:
        """Each bad step row is rejected with its line number and the reason."""
        error = rejected(uut(*rows))
        assert error.where == where
        assert says in error.reason

    @pytest.mark.parametrize(
        ("line", "where", "says"),
        [
            ("StartDateTime\t2026-01-03T12:00:00", "line 4", "apart (at most 14 hours)"),
            ("StartDateTime\tyesterday", "line 5", "is not a time written"),
            ("TestSocketIndex\tone", "line 5", "'one' is not a whole number"),
            ("ExecutionTime\tlong", "line 5", "'long' is not a number"),
            ("UUTStatus\tDone", "line 5", "UUTStatus 'Done' is not Passed"),
            ("Subunit\tPCBA\tPN-9", "line 5", "a Subunit line needs"),
        ],
    )
    def test_bad_header_values_name_their_line(self, line: str, where: str, says: str) -> None:
        """A header value that does not parse is rejected with its line."""
        error = rejected(uut(header=(line,)))
        assert error.where == where
        assert says in error.reason

    def test_missing_end_sequence_call(self) -> None:
        """A sequence still open at --Step-Data-End-- is rejected, naming its SequenceCall."""
        error = rejected(uut("SequenceCall|Outer", "ActionStep|A"))
        assert "'Outer' (SequenceCall at line 6) has no EndSequenceCall" in error.reason

    def test_truncated_file(self) -> None:
        """A file cut before --UUT-End-- is rejected naming its last line."""
        data = fixture("single_uut.txt")
        cut = data[: data.index(b"--Step-Data-End--")]
        error = rejected(cut)
        assert "no --UUT-End-- (truncated file?)" in error.reason
        lines = cut.count(b"\n")
        assert error.where == f"line {lines}"

    @pytest.mark.parametrize(
        ("data", "says"),
        [
            (b"", "no --Header-Start--"),
            (b"hello world\r\n", "expected --Header-Start--"),
            (b"--Header-Start--\r\nSerial\x00Number\r\n", "binary data"),
            (bytes(range(256)) * 4, "binary data"),
            (bytes(range(1, 256)) * 4, "expected --Header-Start--"),
            (b"--Header-Start--\r\nPartNumber\tP\r\n--UUT-End--\r\n", "no SerialNumber"),
            (b"--Header-Start--\r\nSerialNumber\tS\r\n--UUT-End--\r\n", "no PartNumber"),
            (b"--Header-Start--\r\nSerialNumber S\r\n--UUT-End--\r\n", "expected Key<TAB>Value"),
            (b"--Header-Start--\r\n--Step-Data-End--\r\n", "is out of place"),
        ],
    )
    def test_not_wstf(self, data: bytes, says: str) -> None:
        """Empty, foreign, binary and header-less files are rejected with a reason."""
        assert says in rejected(data).reason

    def test_a_line_too_long(self) -> None:
        """A 5 MiB line without a line break is rejected, not read whole."""
        error = rejected(b"--Header-Start--\r\n" + b"x" * (5 << 20))
        assert error.where == "line 2"
        assert "longer than" in error.reason


class TestDetect:
    def test_fixtures_score_high(self) -> None:
        """Every fixture (a --Header-Start-- first line) scores at least 0.9."""
        for path in ALL_FIXTURES:
            assert WstfConverter().detect(path.read_bytes()[:65536], path.name) >= 0.9, path

    def test_marker_far_from_the_start_scores_low(self) -> None:
        """A --Header-Start-- buried in other text stays below the acceptance threshold."""
        head = b"log line\n" * 10 + fixture("single_uut.txt")
        assert WstfConverter().detect(head, "x.txt") < 0.5

    def test_every_sample_scores_below_threshold(self, samples_dir: Path) -> None:
        """No file in the shared samples is claimed (they hold no WSTF)."""
        for path in sorted(p for p in samples_dir.rglob("*") if p.is_file()):
            head = path.read_bytes()[:65536]
            assert WstfConverter().detect(head, path.name) < 0.5, path


class TestFatTranscription:
    """fat_transcription.txt transcribes part of wsjf/uut-wsjf-export.json by hand."""

    @pytest.fixture
    def pair(self, samples_dir: Path) -> tuple[UUTReport, dict[str, Any]]:
        report = one(fixture("fat_transcription.txt"))
        sample = json.loads((samples_dir / "wsjf" / "uut-wsjf-export.json").read_bytes())
        return report, sample

    def test_header_matches_the_sample(self, pair: tuple[UUTReport, dict[str, Any]]) -> None:
        """Identity, process, station, times, uut block, misc infos and sub-units match."""
        report, sample = pair
        assert (report.sn, report.pn, report.rev) == (sample["sn"], sample["pn"], sample["rev"])
        assert report.process_code == sample["processCode"]
        assert report.process_name == sample["processName"]
        assert report.machine_name == sample["machineName"]
        assert report.result == sample["result"] == "F"
        assert isinstance(report.start, str)
        assert isinstance(report.start_utc, str)
        assert report.start[:19] == sample["start"][:19]
        assert report.start[-6:] == sample["start"][-6:] == "+01:00"
        assert report.start_utc[:19] == sample["startUTC"][:19]
        block = sample["uut"]
        for key, value in [
            ("user", report.uut.user),
            ("execTime", report.uut.exec_time),
            ("testSocketIndex", report.uut.test_socket_index),
            ("batchSN", report.uut.batch_sn),
            ("comment", report.uut.comment),
            ("errorCode", report.uut.error_code),
            ("errorMessage", report.uut.error_message),
            ("fixtureId", report.uut.fixture_id),
            ("stepIdCausedUUTFailure", report.uut.step_id_caused_uut_failure),
        ]:
            assert value == block[key], key
        texts = {m["description"]: m["text"] for m in sample["miscInfos"] if m["text"]}
        assert {m.description: m.text for m in report.misc_infos or ()} == texts
        assert [(s.part_type, s.pn, s.sn, s.rev) for s in report.sub_units or ()] == [
            (s["partType"], s["pn"], s["sn"], s["rev"]) for s in sample["subUnits"]
        ]

    def test_steps_match_the_sample(self, pair: tuple[UUTReport, dict[str, Any]]) -> None:
        """Every transcribed step has the sample's type, status and measurements."""
        report, sample = pair
        ours = steps(report)
        theirs = dict(_sample_steps(sample["root"]))
        assert len(ours) == 45
        for path, step in ours.items():
            their = theirs[path]
            assert (step.step_type, step.status) == (their["stepType"], their["status"]), path
            if step.steps is not msgspec.UNSET:
                continue
            assert _measurements(step) == _their_measurements(their), path
            if step.chart is not msgspec.UNSET:
                assert _chart(msgspec.to_builtins(step.chart)) == _chart(their["chart"]), path


def _sample_steps(
    step: dict[str, Any], path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    for child in step.get("steps") or ():
        yield (*path, child["name"]), child
        yield from _sample_steps(child, (*path, child["name"]))


_MEAS_KEYS = ("name", "status", "compOp", "unit", "value", "lowLimit", "highLimit", "limit")


def _measurements(step: Step) -> list[dict[str, Any]]:
    found = []
    for key in ("numeric_meas", "string_meas", "boolean_meas"):
        for meas in getattr(step, key) or ():
            found.append(msgspec.to_builtins(meas))
    return [{k: m.get(k) for k in _MEAS_KEYS} for m in found]


def _their_measurements(step: dict[str, Any]) -> list[dict[str, Any]]:
    found = [*(step.get("numericMeas") or ()), *(step.get("stringMeas") or ())]
    found += step.get("booleanMeas") or ()
    return [{k: m.get(k) for k in _MEAS_KEYS} for m in found]


def _chart(chart: dict[str, Any]) -> dict[str, Any]:
    keys = ("chartType", "label", "xLabel", "xUnit", "yLabel", "yUnit")
    series = [
        (
            s["name"],
            s["dataType"],
            [float(v) for v in s["ydata"].split(";")],
            [float(v) for v in s["xdata"].split(";")],
        )
        for s in chart["series"]
    ]
    return {**{k: chart.get(k) for k in keys}, "series": series}


class TestInTheSandbox:
    async def test_multi_uut_file_through_the_pool(self) -> None:
        """Through a sandboxed worker, by name and with arguments, three valid reports."""
        config = ConverterConfig("wstf", args={"culture_code": "en-US", "operator": "op9"})
        async with open_converter_pool(
            settings(), converters=[config], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                result = await pool.convert(fixture("multi_uut.txt"), "multi_uut.txt", "wstf")
        assert isinstance(result, Converted), result
        reports = [decode_report(converted.wsjf) for converted in result.reports]
        assert [r.sn for r in reports] == ["SN-A1", "SN-A2", "SN-A3"]
        assert all(isinstance(r, UUTReport) and r.uut.user == "op9" for r in reports)
        assert all(validate(r) == [] for r in reports)
