"""The Teradyne ICT converters: GR228x line logs and Spectrum nested-node logs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from converters import (
    Converted,
    FileRejected,
    Gr228xArguments,
    Gr228xConverter,
    SpectrumArguments,
    SpectrumConverter,
    open_converter_pool,
)
from pywats_actors.report import Step, UUTReport, decode_report, validate

from .conftest import NAMESPACE, settings

GR_SAMPLES = ["43420_BIO2.LOG", "43420_BIO2_Extended.LOG"]
SPECTRUM = "sample_ict_data.txt"
SERIALS = ["65428553938829725787", "24422984989544535753", "42842937739687688567"]


def gr_sample(samples_dir: Path, name: str) -> bytes:
    return (samples_dir / "ict_teradyne_gr228x" / name).read_bytes()


def gr(data: bytes, name: str = "43420_BIO2.LOG", **args: object) -> list[UUTReport]:
    reports = Gr228xConverter().convert(data, name, Gr228xArguments(**args))  # type: ignore[arg-type]
    assert all(isinstance(report, UUTReport) for report in reports)
    return reports  # type: ignore[return-value]


def spectrum(data: bytes, name: str = "board.txt", **args: object) -> UUTReport:
    (report,) = SpectrumConverter().convert(data, name, SpectrumArguments(**args))  # type: ignore[arg-type]
    assert isinstance(report, UUTReport)
    return report


def leaves(step: Step) -> Iterator[Step]:
    for child in step.steps or ():
        if child.steps:
            yield from leaves(child)
        else:
            yield child


def by_name(report: UUTReport) -> dict[str, list[Step]]:
    found: dict[str, list[Step]] = {}
    for step in leaves(report.root):
        found.setdefault(step.name, []).append(step)
    return found


def every_sample(samples_dir: Path) -> list[Path]:
    return sorted(p for p in samples_dir.rglob("*") if p.is_file())


GR_TEXT = (
    "C:\\P\\X_PROGRAM\\X.obc[01-FEB-24  08:00:00\n"
    "@01-FEB-24  08:00:10 SN ABC1\n"
    "R1=1.5K(1K,2K)R \n"
    '"01-FEB-24  08:00:20\n'
)


class TestGr228xSamples:
    @pytest.mark.parametrize("name", GR_SAMPLES)
    def test_three_units_with_serials_results_and_part_number(
        self, samples_dir: Path, name: str
    ) -> None:
        """Three valid reports: aborted, failed, passed, with the README's serials."""
        reports = gr(gr_sample(samples_dir, name), name)
        assert [r.sn for r in reports] == SERIALS
        assert [r.result for r in reports] == ["T", "F", "P"]
        assert all(validate(report) == [] for report in reports)
        if name == "43420_BIO2.LOG":
            assert {(r.pn, r.rev, r.machine_name) for r in reports} == {
                ("43420", "1", "43420_BIO2")
            }
        assert reports[0].start.startswith("2012-07-31T14:18:51")
        assert [r.uut.exec_time for r in reports] == [2.0, 17.0, 16.0]

    def test_measurements_limits_and_operators(self, samples_dir: Path) -> None:
        """SI suffixes scale; two limits GELE, a low limit alone GE, ``#`` logs; empty values
        are done actions; the opens and failing-pins lists are failed steps."""
        aborted, failed, passed = gr(gr_sample(samples_dir, GR_SAMPLES[0]))
        steps = by_name(failed)
        (r508,) = steps["R508"]
        (meas,) = r508.numeric_meas or ()
        assert (meas.comp_op, meas.unit, meas.status) == ("GELE", "Ohm", "P")
        assert meas.value == pytest.approx(100200.07)
        assert (meas.low_limit, meas.high_limit) == (pytest.approx(92919), pytest.approx(105131))
        (r402,) = steps["R402"]
        (meas,) = r402.numeric_meas or ()
        assert (meas.comp_op, meas.value, meas.low_limit) == (
            "GE",
            pytest.approx(45.131532e6),
            500e3,
        )
        logged, checked = steps["R211"]
        assert (logged.numeric_meas or ())[0].comp_op == "LOG"
        assert (checked.numeric_meas or ())[0].comp_op == "GELE"
        (c206,) = steps["C206"]
        assert (c206.numeric_meas or ())[0].value == pytest.approx(10.212763e-9)
        (d103,) = steps["D103_B1"]
        assert (d103.step_type, d103.status) == ("Action", "D")
        (opens,) = steps["Opens"]
        assert (opens.status, opens.report_text) == ("F", "397,398,")
        pins = by_name(aborted)["Failing pins"]
        assert [p.report_text for p in pins] == [
            "300,301,303",
            "90,156,172,176,186,187,189,200,201,202,204,237,238,239,248,254,255,256 +",
        ]
        assert all(s.status in "PD" for s in leaves(passed.root))
        assert len(list(leaves(passed.root))) == 48

    def test_wats_header_lines(self, samples_dir: Path) -> None:
        """The Extended sample's ``WATS_*`` lines set part number, revision, operator,
        station and the sequence name."""
        _, failed, passed = gr(gr_sample(samples_dir, GR_SAMPLES[1]), GR_SAMPLES[1])
        assert (failed.pn, failed.rev, failed.uut.user) == ("123456", "C", "KB")
        assert failed.machine_name == "AREL1001"
        assert passed.machine_name == "AREL1002"
        assert [s.name for s in failed.root.steps or ()] == ["CPU02"]

    def test_detect(self, samples_dir: Path) -> None:
        """>= 0.9 on its own samples, < 0.5 on every other shared sample."""
        for path in every_sample(samples_dir):
            score = Gr228xConverter().detect(path.read_bytes()[:65536], path.name)
            if path.parent.name == "ict_teradyne_gr228x" and path.suffix == ".LOG":
                assert score >= 0.9, path
            else:
                assert score < 0.5, path

    async def test_samples_in_the_sandbox(self, samples_dir: Path) -> None:
        """Through the pool, by name, each sample gives three valid reports."""
        async with open_converter_pool(
            settings(), converters=["teradyne-gr228x"], station_namespace=NAMESPACE
        ) as pool:
            for name in GR_SAMPLES:
                with trio.fail_after(30):
                    result = await pool.convert(
                        gr_sample(samples_dir, name), name, "teradyne-gr228x"
                    )
                assert isinstance(result, Converted), result
                assert len(result.reports) == 3
                for converted in result.reports:
                    assert validate(decode_report(converted.wsjf)) == []


class TestGr228xFormat:
    def test_events_and_limits_beyond_the_samples(self) -> None:
        """Every end character maps to a result; a high limit alone is LE; lower-case months
        and units outside a file's program header still parse."""
        results = {'"': "P", "/": "F", "]": "F", "?": "T", "!": "T", "*": "E", "&": "E"}
        for char, result in results.items():
            data = GR_TEXT.replace('"01-FEB', f"{char}01-feb")
            (report,) = gr(data.encode())
            assert (report.result, report.root.status) == (result, result)
        (report,) = gr(GR_TEXT.replace("(1K,2K)", "(,2K)").encode())
        (meas,) = next(leaves(report.root)).numeric_meas or ()
        assert (meas.comp_op, meas.low_limit) == ("LE", 2000)

    def test_tester_verdict_wins_over_a_failed_step(self) -> None:
        """A unit the tester passed stays passed (and valid) with a value beyond its limits;
        that step alone is failed."""
        (report,) = gr(GR_TEXT.replace("1.5K", "5K").encode())
        assert (report.result, report.root.status) == ("P", "P")
        assert next(leaves(report.root)).status == "F"
        assert validate(report) == []

    def test_part_number_pattern(self) -> None:
        """The pattern's ``pn`` group at the start of the file name; the argument otherwise."""
        (report,) = gr(GR_TEXT.encode(), "/logs/9876_A.LOG")
        assert report.pn == "9876"
        (report,) = gr(GR_TEXT.encode(), "x.LOG", part_number_pattern=r"\d+", part_number="PN")
        assert report.pn == "PN"

    @pytest.mark.parametrize(
        ("data", "message", "where"),
        [
            (b"", "no unit start line", "line 1"),
            (b"\x00\x01binary\xff", "binary data", "line 1"),
            (b"hello world\n", "not a GR228x log line", "line 1"),
            (GR_TEXT[:-22].encode(), "has no end line", "line 2"),
            (GR_TEXT.replace("1.5K", "1.5Q").encode(), "not a number", "line 3"),
            (GR_TEXT.replace("R1=", "R1 ~ ").encode(), "not a GR228x log line", "line 3"),
            (
                GR_TEXT.replace("FEB-24  08:00:10", "FOO-24  08:00:10").encode(),
                "bad date",
                "line 2",
            ),
        ],
    )
    def test_malformed_input_is_rejected(self, data: bytes, message: str, where: str) -> None:
        """Empty, binary, garbage, truncated and bad values: a clear FileRejected with a line."""
        with pytest.raises(FileRejected, match=message) as caught:
            gr(data)
        assert caught.value.where == where


class TestSpectrumSample:
    def test_header_steps_and_values(self, samples_dir: Path) -> None:
        """One valid passing report; serial, operator and program from the log; a sequence
        per section holding the 508 steps; values scaled with their limits."""
        data = (samples_dir / "ict_teradyne_spectrum" / SPECTRUM).read_bytes()
        report = spectrum(data, SPECTRUM)
        assert validate(report) == []
        assert (report.sn, report.pn, report.result, report.uut.user) == (
            "1111111111",
            "PB3187900",
            "P",
            "1234567",
        )
        assert report.start.startswith("2023-02-09T16:44:11")
        sections = report.root.steps or ()
        assert sections[0].name == "Header"
        assert [s.name for s in sections].count("DISCHARGE") == 2
        assert sum(len(s.steps or ()) for s in sections) == 508
        steps = by_name(report)
        (c1,) = steps["CAP[C1]"]
        (meas,) = c1.numeric_meas or ()
        assert (meas.comp_op, meas.unit, meas.status) == ("GELE", "F", "P")
        assert meas.value == pytest.approx(4.6900024e-9)
        assert (meas.low_limit, meas.high_limit) == (pytest.approx(3.64e-9), pytest.approx(5.76e-9))
        (l3,) = steps["JUMPER[L3]"]
        assert (l3.numeric_meas or ())[0].comp_op == "LE"
        assert all(step.status == "P" for step in leaves(report.root))
        misc = {m.description: m.text for m in report.misc_infos or ()}
        assert misc["OrderNumber"] == "222222222"
        assert misc["STATUS"] == "BOARD PASSED"

    def test_detect(self, samples_dir: Path) -> None:
        """>= 0.9 on its own sample, < 0.5 on every other shared sample."""
        for path in every_sample(samples_dir):
            score = SpectrumConverter().detect(path.read_bytes()[:65536], path.name)
            if path.name == SPECTRUM:
                assert score >= 0.9
            else:
                assert score < 0.5, path

    async def test_sample_in_the_sandbox(self, samples_dir: Path) -> None:
        """Through the pool, by name, the sample is one valid report."""
        data = (samples_dir / "ict_teradyne_spectrum" / SPECTRUM).read_bytes()
        async with open_converter_pool(
            settings(), converters=["teradyne-spectrum"], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                result = await pool.convert(data, SPECTRUM, "teradyne-spectrum")
        assert isinstance(result, Converted), result
        (converted,) = result.reports
        assert validate(decode_report(converted.wsjf)) == []


SPECTRUM_TEXT = """(PROGRAM_NAME: "P1")
(SECTION_NAME: "RESISTORS")
(STEP:
    (TYPE: RAW) (TIME: 03/04/2024 10:00:00 )
     (SNAME: "RES[R1]")
    (PAGE: (TYPE: RES) (PAGE_NAME: "R1") (STAT: FAIL)
        (ANA: (TYPE: RES) (STAT: FAIL)
            (LOLIM: (VAL: 9) (SCALE: K) (UNIT: O) )
            (MEASVAL: (VAL: 12) (SCALE: K) (UNIT: O) )
            (HILIM: (VAL: 11) (SCALE: K) (UNIT: O) ) )
        ) (STAT: FAIL))
    (USER:  Serialnumber:SN-9)
    (USER:  STATUS: BOARD FAILED)
"""


class TestSpectrumFormat:
    def test_failing_board(self) -> None:
        """An out-of-limit value fails its step and the board; the serial from USER."""
        report = spectrum(SPECTRUM_TEXT.encode())
        assert (report.sn, report.pn, report.result) == ("SN-9", "P1", "F")
        (step,) = leaves(report.root)
        (meas,) = step.numeric_meas or ()
        assert (step.status, meas.value, meas.high_limit) == ("F", 12000, 11000)
        assert validate(report) == []

    def test_board_status_wins_over_the_steps(self) -> None:
        """``BOARD PASSED`` passes the report (valid) even with an out-of-limit step; without
        a board status the steps decide."""
        passed = spectrum(SPECTRUM_TEXT.replace("BOARD FAILED", "BOARD PASSED").encode())
        assert (passed.result, next(leaves(passed.root)).status) == ("P", "F")
        assert validate(passed) == []
        undecided = spectrum(SPECTRUM_TEXT.replace("STATUS: BOARD FAILED", "X: y").encode())
        assert undecided.result == "F"

    def test_serial_from_file_name_and_date_format(self) -> None:
        """Without the serial USER line the file stem; ``date_format`` reads day first."""
        data = SPECTRUM_TEXT.replace("Serialnumber", "Other").encode()
        report = spectrum(data, "/x/UNIT42.txt", date_format="%d/%m/%Y %H:%M:%S")
        assert report.sn == "UNIT42"
        assert report.start.startswith("2024-04-03T10:00:00")

    def test_deep_nesting_is_refused_quickly(self) -> None:
        """A hostile nesting of 100 000 levels is refused at depth 64, fast."""
        started = time.monotonic()
        with pytest.raises(FileRejected, match="nesting deeper"):
            spectrum(b"(STEP: " * 100_000)
        assert time.monotonic() - started < 2

    @pytest.mark.parametrize(
        ("data", "message", "where"),
        [
            (b"", "no \\(STEP", "line 1"),
            (b"\x00\x01binary\xff", "binary data", "line 1"),
            (b"hello world\n", "text outside", "line 1"),
            (SPECTRUM_TEXT[:200].encode(), "never closed", "line 7"),
            (SPECTRUM_TEXT.replace("(VAL: 12)", "(VAL: abc)").encode(), "bad value", "line 7"),
            (SPECTRUM_TEXT.replace("10:00:00", "xx").encode(), "bad TIME", "line 3"),
            (SPECTRUM_TEXT + ")", "without its", "line 14"),
        ],
    )
    def test_malformed_input_is_rejected(self, data: bytes | str, message: str, where: str) -> None:
        """Empty, binary, garbage, truncated and bad values: a clear FileRejected with a line."""
        raw = data.encode() if isinstance(data, str) else data
        with pytest.raises(FileRejected, match=message) as caught:
            spectrum(raw)
        assert caught.value.where == where
