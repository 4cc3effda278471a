"""The ATML (IEEE 1636.1) converter: TestStand's 2.02, 5.00 and 6.01 test results."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import msgspec
import pytest
import trio

from converters import (
    AtmlArguments,
    AtmlConverter,
    Converted,
    ConverterConfig,
    FileRejected,
    Rejected,
    _atml_xml,
    open_converter_pool,
)
from pywats_actors.report import (
    LoopInfo,
    MessagePopupInfo,
    SequenceCallInfo,
    Step,
    UUTReport,
    validate,
)

from .conftest import NAMESPACE, settings

SAMPLES = [
    "atml202_demo_123456789.xml",
    "atml500_LS2621-1002_passed.xml",
    "atml500_TS2021_FATv1.xml",
    "atml500_demo.xml",
    "atml500_parallel_batch_report.xml",
    "atml601_demo.xml",
]
DEMOS = ["atml202_demo_123456789.xml", "atml500_demo.xml", "atml601_demo.xml"]
ARGS = AtmlArguments()
TR_500 = "urn:IEEE-1636.1:2011:01:TestResults"


def convert(data: bytes, args: AtmlArguments = ARGS) -> list[UUTReport]:
    reports = list(AtmlConverter().convert_iter(data, "r.xml", args))
    assert all(isinstance(report, UUTReport) for report in reports)
    return reports


def one(data: bytes, args: AtmlArguments = ARGS) -> UUTReport:
    (report,) = convert(data, args)
    return report


def sample(samples_dir: Path, name: str) -> bytes:
    return (samples_dir / "atml" / name).read_bytes()


def steps(report: UUTReport) -> list[Step]:
    return list(report.root.walk())[1:]


def by_name(report: UUTReport, name: str) -> Step:
    (step,) = [s for s in steps(report) if s.name == name]
    return step


def numeric(step: Step) -> tuple[str, float | None, float | None, float | None]:
    assert isinstance(step.numeric_meas, tuple)
    (m,) = step.numeric_meas
    low = m.low_limit if isinstance(m.low_limit, float) else None
    high = m.high_limit if isinstance(m.high_limit, float) else None
    return m.comp_op, m.value, low, high  # type: ignore[return-value]


def counts(data: bytes) -> dict[str, int]:
    text = data.decode("latin-1")
    return {tag: len(re.findall(rf"<tr:{tag}[\s>]", text)) for tag in ("Test", "SessionAction")}


def document(body: str, start: str = "2024-03-01T10:00:00.5", serial: str = "SN1") -> bytes:
    """A 5.00 collection with one TestResults whose ResultSet holds ``body``."""
    return (
        "<?xml version='1.0' encoding='utf-8'?>\n"
        "<trc:TestResultsCollection xmlns:trc='urn:IEEE-1636.1:2011:01:TestResultsCollection'"
        f" xmlns:tr='{TR_500}' xmlns:c='urn:IEEE-1671:2010:Common'"
        " xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance'"
        " xmlns:ts='www.ni.com/TestStand/ATMLTestResults/2.0'>\n"
        "<trc:TestResults uuid='u-1'>\n"
        f"<tr:ResultSet ID='1' name='C:\\a.seq#MainSequence' startDateTime='{start}'"
        " endDateTime='2024-03-01T10:00:02.5'>\n"
        f"<tr:Outcome value='Passed'/>\n{body}\n</tr:ResultSet>\n"
        "<tr:TestStation><c:SerialNumber>ST1</c:SerialNumber></tr:TestStation>\n"
        f"<tr:UUT><c:SerialNumber>{serial}</c:SerialNumber></tr:UUT>\n"
        "</trc:TestResults>\n</trc:TestResultsCollection>\n"
    ).encode()


def nlt(name: str, value: str, limits: str, outcome: str = "Passed") -> str:
    """A NumericLimitTest ``Test`` element with ``limits`` inside its ``tr:Limits``."""
    return (
        f"<tr:Test ID='2' name='{name}'><tr:Extension><ts:TSStepProperties>"
        "<ts:StepType>NumericLimitTest</ts:StepType></ts:TSStepProperties></tr:Extension>"
        f"<tr:Outcome value='{outcome}'/><tr:TestResult ID='Numeric' name='Numeric'>"
        f"<tr:TestData><c:Datum value='{value}' xsi:type='c:double' nonStandardUnit='V'/>"
        f"</tr:TestData><tr:TestLimits><tr:Limits>{limits}</tr:Limits></tr:TestLimits>"
        "</tr:TestResult></tr:Test>"
    )


def limit(comparator: str, value: str) -> str:
    datum = f"<c:Datum value='{value}' xsi:type='c:double'/>"
    return f"<c:Limit comparator='{comparator}'>{datum}</c:Limit>"


class TestSamples:
    @pytest.mark.parametrize("name", SAMPLES)
    def test_every_sample_converts_to_valid_reports(self, samples_dir: Path, name: str) -> None:
        """Every ATML sample converts, and every report validates."""
        reports = convert(sample(samples_dir, name))
        assert reports
        for report in reports:
            assert validate(report) == []

    @pytest.mark.parametrize(
        ("name", "sn", "pn", "result", "station"),
        [
            ("atml202_demo_123456789.xml", "123456789", "Ragnar123", "F", "TS-2016-BETA"),
            ("atml500_demo.xml", "123456789", "Ragnar123", "F", "TS-2016-BETA"),
            ("atml601_demo.xml", "123456789", "Ragnar123", "F", "TS-2016-BETA"),
            ("atml500_LS2621-1002_passed.xml", "9190300075", "LS2621-1002", "P", "MEMK1263"),
            ("atml500_TS2021_FATv1.xml", "1498.2141822", "atml", "F", "DESKTOP-N9BCJU1"),
        ],
    )
    def test_readme_header_facts(
        self, samples_dir: Path, name: str, sn: str, pn: str, result: str, station: str
    ) -> None:
        """Serial, part number (the argument's default when the UUT has none), result, station."""
        report = one(sample(samples_dir, name))
        assert (report.sn, report.pn, report.result, report.machine_name) == (
            sn,
            pn,
            result,
            station,
        )
        assert report.uut.user == "administrator"

    @pytest.mark.parametrize(
        ("name", "tests"),
        [
            ("atml202_demo_123456789.xml", 14),
            ("atml500_LS2621-1002_passed.xml", 116),
            ("atml500_TS2021_FATv1.xml", 165),
        ],
    )
    def test_every_test_and_action_is_one_step(
        self, samples_dir: Path, name: str, tests: int
    ) -> None:
        """Each Test and SessionAction element is one leaf step (the README's Test counts)."""
        data = sample(samples_dir, name)
        found = counts(data)
        assert found["Test"] == tests
        report = one(data)
        groups = len(re.findall(r"<tr:TestGroup[\s>]", data.decode("latin-1")))
        unwrapped = 1 if name.startswith("atml202") else 0  # 2.02's MainSequence group is root
        assert len(steps(report)) == found["Test"] + found["SessionAction"] + groups - unwrapped

    def test_batch_collection_gives_one_report_per_uut(self, samples_dir: Path) -> None:
        """The parallel batch file holds 4 TestResults: 4 reports, serial NONE replaced."""
        reports = convert(sample(samples_dir, "atml500_parallel_batch_report.xml"))
        assert len(reports) == 4
        assert [r.uut.test_socket_index for r in reports] == [0, 1, 2, 3]
        assert len({r.sn for r in reports}) == 4
        assert reports[0].sn == "baaa055f-332f-11ed-8520-6045bd92de90"  # TestResults@uuid
        assert all(r.result == "P" for r in reports)
        named = convert(
            sample(samples_dir, "atml500_parallel_batch_report.xml"),
            AtmlArguments(serial_number="LOT-7"),
        )
        assert {r.sn for r in named} == {"LOT-7"}

    def test_three_versions_of_one_run_give_the_same_steps(self, samples_dir: Path) -> None:
        """The 2.02, 5.00 and 6.01 demos (one UUT) map to the same steps, values and limits."""

        def shape(report: UUTReport) -> list[tuple[object, ...]]:
            return [
                (s.name, s.step_type, s.status, s.group, s.numeric_meas, s.boolean_meas)
                for s in report.root.walk()
            ]

        shapes = [shape(one(sample(samples_dir, name))) for name in DEMOS]
        assert shapes[0] == shapes[1] == shapes[2]
        assert len(shapes[0]) == 24

    def test_limit_pair_and_single_limit_values(self, samples_dir: Path) -> None:
        """GT+LT is GTLT 0..10 in microseconds; a single GT 5 keeps its limit in lowLimit."""
        report = one(sample(samples_dir, "atml500_demo.xml"))
        video = by_name(report, "Video Test")
        assert numeric(video) == ("GTLT", 5.0, 0.0, 10.0)
        assert isinstance(video.numeric_meas, tuple)
        assert video.numeric_meas[0].unit == "microseconds"
        keyboard = by_name(report, "Keyboard Test")
        assert numeric(keyboard) == ("GT", 4.0, 5.0, None)
        assert keyboard.status == "F"
        assert report.uut.step_id_caused_uut_failure == keyboard.id

    def test_threshold_limits_by_value(self, samples_dir: Path) -> None:
        """EQT limits: percentage and delta of -100 by 9/11 give -109..-89; ppm -100.0009.."""
        report = one(sample(samples_dir, "atml500_TS2021_FATv1.xml"))
        for kind, low, high in (
            ("PERCENTAGE", -109.0, -89.0),
            ("PPM", -100.0009, -99.9989),
            ("DELTA", -109.0, -89.0),
        ):
            found = [s for s in steps(report) if s.name == f"NLT with negative EQT limits {kind}"]
            assert found
            for step in found:
                op, value, got_low, got_high = numeric(step)
                assert (op, value, step.status) == ("GELE", 5.0, "F")
                assert got_low == pytest.approx(low)
                assert got_high == pytest.approx(high)

    def test_multiple_numeric_and_string_steps(self, samples_dir: Path) -> None:
        """NI_MultipleNumericLimitTest is one ET_MNLT step; a CIEQ string limit is IGNORECASE."""
        report = one(sample(samples_dir, "atml500_TS2021_FATv1.xml"))
        multi = next(s for s in steps(report) if s.name == "Multiple Numeric Limit Test")
        assert multi.step_type == "ET_MNLT"
        assert isinstance(multi.numeric_meas, tuple)
        assert [(m.name, m.value, m.unit) for m in multi.numeric_meas] == [
            ("Measurement 0", 1.0, "v"),
            ("Measurement 1", 2.0, "v"),
            ("Measurement 2", 3.0, "v"),
        ]
        string = next(s for s in steps(report) if s.name == "String Value Test")
        assert string.step_type == "ET_SVT"
        assert string.status == "F"
        assert isinstance(string.string_meas, tuple)
        (m,) = string.string_meas
        assert (m.comp_op, m.value, m.limit, m.status) == (
            "IGNORECASE",
            "this is a string result",
            "this is a string limit",
            "F",
        )

    def test_skipped_steps_misc_infos_and_batch_serial(self, samples_dir: Path) -> None:
        """Skipped outcomes, AdditionalData as misc infos, the batch serial and loops are kept."""
        six = one(sample(samples_dir, "atml601_demo.xml"))
        assert by_name(six, "ROM Diagnostics").status == "S"
        fat = one(sample(samples_dir, "atml500_TS2021_FATv1.xml"))
        assert by_name(fat, "Property Loader").status == "S"
        assert isinstance(fat.misc_infos, tuple)
        assert {(m.description, m.text) for m in fat.misc_infos} == {
            ("Manufacturer.Name", "Virinco"),
            ("Location", "Norway"),
            ("ProductionLine.LineID", "LineA"),
        }
        assert fat.uut.batch_sn == "BatchSerialNumber"
        summary = by_name(fat, "NLT loop with one result")
        assert summary.loop == LoopInfo(num=8, ending_index=8, passed=5, failed=3)
        assert by_name(fat, "NLT loop with all results (Loop Index:1)").loop == LoopInfo(idx=1)

    def test_step_group_time_text_and_actions(self, samples_dir: Path) -> None:
        """StepGroup, TotalTime, ReportText, step type and start of SessionActions are kept."""
        report = one(sample(samples_dir, "atml500_demo.xml"), AtmlArguments(timezone="UTC"))
        first = steps(report)[0]
        assert (first.name, first.step_type, first.group, first.status) == (
            "Add Partnumber",
            "Statement",
            "S",
            "D",
        )
        assert first.tot_time == pytest.approx(0.0001209)
        assert first.start == "2019-05-15T14:31:11.489000+00:00"
        assert first.ts_guid == "ID#:QdJzwgx36RGCbgAVXQFyUA"
        flow = [s for s in steps(report) if s.step_type == "NI_Flow_If"]
        assert [s.report_text for s in flow] == ["{True}", "{True}"]
        assert steps(report)[-1].group == "C"
        call = report.root.seq_call
        assert isinstance(call, SequenceCallInfo)
        assert call.name == "MainSequence"
        assert isinstance(call.path, str)
        assert call.path.endswith("Computer Motherboard Test Sequence VIC.seq")
        popup = [
            s
            for s in steps(one(sample(samples_dir, "atml500_LS2621-1002_passed.xml")))
            if s.step_type == "MessagePopup"
        ]
        assert len(popup) == 7  # as SessionActions and as Tests; the 2 skipped have no answer
        ran = [s for s in popup if s.status != "S"]
        assert len(ran) == 5
        assert all(isinstance(s.message_popup, MessagePopupInfo) for s in ran)

    async def test_sample_converts_in_the_sandbox_by_name(self, samples_dir: Path) -> None:
        """Registered as the built-in "atml": a pool converts the batch file into 4 reports."""
        data = sample(samples_dir, "atml500_parallel_batch_report.xml")
        async with open_converter_pool(
            settings(), converters=[ConverterConfig("atml")], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(60):
                result = await pool.convert(data, "batch.xml", "atml")
                bomb = await pool.convert(
                    document("").replace(b"<trc:", b"<!DOCTYPE x><trc:", 1), "b.xml", "atml"
                )
        assert isinstance(result, Converted)
        assert len(result.reports) == 4
        assert isinstance(bomb, Rejected)
        assert "DOCTYPE" in bomb.reason


class TestSynthetic:
    def test_or_pair_in_either_order_passes_outside(self) -> None:
        """An OR of LT 1 and GT 5 is LTGT 1..5, whichever comparator comes first."""
        for pair in (limit("LT", "1") + limit("GT", "5"), limit("GT", "5") + limit("LT", "1")):
            body = nlt("n", "7", f"<c:LimitPair operator='OR'>{pair}</c:LimitPair>")
            assert numeric(steps(one(document(body)))[0]) == ("LTGT", 7.0, 1.0, 5.0)

    def test_and_pair_comparators_map_faithfully(self) -> None:
        """GE+LT is GELT, LE+GT (listed high first) is GTLE: limits by their comparators."""
        body = nlt(
            "a",
            "2",
            f"<c:LimitPair operator='AND'>{limit('GE', '1')}{limit('LT', '3')}</c:LimitPair>",
        )
        body += nlt("b", "2", f"<c:LimitPair>{limit('LE', '3')}{limit('GT', '1')}</c:LimitPair>")
        a, b = steps(one(document(body)))
        assert numeric(a) == ("GELT", 2.0, 1.0, 3.0)
        assert numeric(b) == ("GTLE", 2.0, 1.0, 3.0)

    def test_limits_wsjf_cannot_hold_are_logged_with_a_note(self) -> None:
        """Crossed limits and two lower bounds become LOG, the limits in the report text."""
        crossed = f"<c:LimitPair operator='AND'>{limit('GE', '5')}{limit('LE', '1')}</c:LimitPair>"
        lower = f"<c:LimitPair operator='AND'>{limit('GE', '1')}{limit('GT', '2')}</c:LimitPair>"
        body = nlt("crossed", "3", crossed, "Failed") + nlt("lower", "3", lower)
        first, second = steps(one(document(body)))
        assert numeric(first) == ("LOG", 3.0, None, None)
        assert first.status == "F"
        assert isinstance(first.report_text, str)
        assert "low above high" in first.report_text
        assert numeric(second)[0] == "LOG"
        assert isinstance(second.report_text, str)
        assert "GE 1 AND GT 2" in second.report_text

    def test_threshold_computed_from_raw_limits(self) -> None:
        """Without ThresholdLow/High, a percentage EQT is nominal -/+ |nominal| x low/high %."""
        limits = (
            "<c:Expected comparator='EQ'><c:Datum value='200' xsi:type='c:double'>"
            "<c:ErrorLimits><c:LimitPair operator='AND'>"
            f"{limit('GE', '5')}{limit('LE', '10')}</c:LimitPair></c:ErrorLimits></c:Datum>"
            "</c:Expected><c:Extension><ts:TSLimitProperties>"
            "<ts:ThresholdType>PERCENTAGE</ts:ThresholdType><ts:RawLimits>"
            "<ts:Nominal value='200'/><ts:Low value='5'/><ts:High value='10'/></ts:RawLimits>"
            "</ts:TSLimitProperties></c:Extension>"
        )
        assert numeric(steps(one(document(nlt("t", "205", limits))))[0]) == (
            "GELE",
            205.0,
            190.0,
            220.0,
        )

    def test_hex_integer_value_and_non_finite_value(self) -> None:
        """A hex integer Datum is a number; a NaN value keeps the step's outcome, noted."""
        body = nlt(
            "hex", "0x1F", "<c:SingleLimit comparator='EQ'><c:Datum value='31'/></c:SingleLimit>"
        )
        body = body.replace("c:double' nonStandardUnit='V'", "c:integer'")
        body += nlt(
            "nan",
            "NaN",
            "<c:SingleLimit comparator='GE'><c:Datum value='1'/></c:SingleLimit>",
            "Failed",
        )
        hexed, nan = steps(one(document(body)))
        assert numeric(hexed) == ("EQ", 31.0, 31.0, None)
        assert nan.status == "F"
        assert nan.numeric_meas in (None, msgspec.UNSET)
        assert isinstance(nan.report_text, str)
        assert "NaN" in nan.report_text

    def test_untyped_tests_of_another_writer(self) -> None:
        """Without TestStand extensions: an Errored group, a bare Test as pass/fail by outcome."""
        body = (
            "<tr:TestGroup ID='g' name='f.seq#Sub'><tr:Outcome value='Errored'/>"
            "<tr:Test ID='t' name='bare'><tr:Outcome value='Failed'/></tr:Test>"
            "</tr:TestGroup>"
        )
        group, bare = steps(one(document(body)))
        assert (group.step_type, group.name, group.status) == ("SequenceCall", "Sub", "E")
        assert (bare.step_type, bare.status) == ("ET_PFT", "F")
        assert isinstance(bare.boolean_meas, tuple)
        assert bare.boolean_meas[0].status == "F"

    def test_failure_flag_inside_a_passed_group_is_dropped(self) -> None:
        """A step flagged as causing a failure of a group the file says passed stays valid."""
        single = "<c:SingleLimit comparator='LE'><c:Datum value='1'/></c:SingleLimit>"
        flagged = nlt("n", "9", single, "Failed")
        flagged = flagged.replace(
            "</ts:StepType>", "</ts:StepType><ts:StepCausedSequenceFailure value='true'/>"
        )
        body = f"<tr:TestGroup ID='g' name='f.seq#Sub'><tr:Outcome value='Passed'/>{flagged}"
        body += "</tr:TestGroup>"
        report = one(document(body))
        group, step = steps(report)
        assert (group.status, step.status) == ("P", "F")
        assert step.caused_seq_failure in (None, msgspec.UNSET)
        assert validate(report) == []

    def test_local_time_takes_the_timezone_argument_and_offsets_are_kept(self) -> None:
        """A time without offset is in ``timezone``; a time with an offset keeps its offset."""
        oslo = one(document(""), AtmlArguments(timezone="Europe/Oslo"))
        assert oslo.start == "2024-03-01T10:00:00.5+01:00" or oslo.start.endswith("+01:00")
        assert oslo.uut.exec_time == pytest.approx(2.0)
        kept = one(
            document("", start="2024-03-01T10:00:00.5-05:00"), AtmlArguments(timezone="Europe/Oslo")
        )
        assert kept.start.endswith("-05:00")
        local = one(document(""))
        expected = dt.datetime(2024, 3, 1, 10, 0, 0, 500000).astimezone().utcoffset()
        assert dt.datetime.fromisoformat(local.start).utcoffset() == expected

    def test_bad_arguments_are_refused(self) -> None:
        """Unknown argument names and an unknown time zone are argument errors."""
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert({"serial": "x"}, AtmlArguments)
        with pytest.raises(msgspec.ValidationError, match="not an IANA time zone"):
            msgspec.convert({"timezone": "Mars/Olympus"}, AtmlArguments)


class TestMalformed:
    @pytest.mark.parametrize(
        ("data", "said"),
        [
            (b"\x00\xff\xfe garbage \x01" * 50, "not well-formed"),
            (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x/>", "DOCTYPE"),
            (b"<Reports><Report Type='UUT'/></Reports>", "root element is <Reports>"),
            (
                b"<tr:TestResults xmlns:tr='urn:example:TestResults'>"
                b"<tr:ResultSet/></tr:TestResults>",
                "not an IEEE 1636.1",
            ),
            (b"", "empty"),
        ],
    )
    def test_rejected_with_a_clear_message(self, data: bytes, said: str) -> None:
        """Garbage, a DOCTYPE, another root, a wrong namespace, an empty file: clear rejections."""
        with pytest.raises(FileRejected, match=said) as caught:
            convert(data)
        assert caught.value.where is not None
        assert caught.value.where.startswith("line")

    def test_truncated_file_is_rejected(self, samples_dir: Path) -> None:
        """A file cut in the middle is not well-formed, and the message names the line."""
        data = sample(samples_dir, "atml500_TS2021_FATv1.xml")
        with pytest.raises(FileRejected, match="not well-formed") as caught:
            convert(data[: len(data) // 2])
        assert caught.value.where is not None
        assert caught.value.where.startswith("line ")

    def test_oversized_test_results_is_rejected(
        self, samples_dir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A TestResults over the element bound is rejected by name, not built."""
        monkeypatch.setattr(_atml_xml, "_MAX_NODES", 1000)
        data = sample(samples_dir, "atml500_demo.xml")
        assert len(convert(data)) == 1  # its TestResults keeps under 1000 elements
        with pytest.raises(FileRejected, match="more than 1000 elements"):
            convert(sample(samples_dir, "atml500_TS2021_FATv1.xml"))

    def test_test_results_without_result_set(self) -> None:
        """A TestResults with no ResultSet is rejected naming it."""
        data = (
            document("")
            .replace(b"<tr:ResultSet", b"<tr:Other")
            .replace(b"</tr:ResultSet>", b"</tr:Other>")
        )
        with pytest.raises(FileRejected, match="ResultSet"):
            convert(data)


class TestDetect:
    @pytest.mark.parametrize("name", SAMPLES)
    def test_own_samples_score_high(self, samples_dir: Path, name: str) -> None:
        """Every ATML sample scores at least 0.9."""
        assert AtmlConverter().detect(sample(samples_dir, name)[:65536], name) >= 0.9

    def test_other_sample_files_score_low(self, samples_dir: Path) -> None:
        """Every file under the samples folder that is not an ATML sample scores < 0.5."""
        own = {samples_dir / "atml" / name for name in SAMPLES}
        others = [p for p in sorted(samples_dir.rglob("*")) if p.is_file() and p not in own]
        assert others
        high = {
            str(p): score
            for p in others
            if (score := AtmlConverter().detect(p.read_bytes()[:65536], p.name)) >= 0.5
        }
        assert high == {}

    def test_utf16_file_is_detected_and_converted(self, samples_dir: Path) -> None:
        """A UTF-16 copy (with its byte order mark) scores high and converts the same."""
        text = sample(samples_dir, "atml202_demo_123456789.xml").decode("latin-1")
        data = text.replace('encoding="iso-8859-1"', 'encoding="utf-16"').encode("utf-16")
        assert AtmlConverter().detect(data[:65536], "x.xml") >= 0.9
        assert one(data).sn == "123456789"

    def test_wrong_namespace_scores_low(self) -> None:
        """A TestResults root outside the 1636.1 namespaces is below the threshold."""
        data = b"<?xml version='1.0'?><TestResults xmlns='urn:example'><x/></TestResults>"
        assert AtmlConverter().detect(data, "x.xml") < 0.5
        assert AtmlConverter().detect(document(""), "x.xml") >= 0.9
