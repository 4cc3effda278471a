"""The STDF V4 converter: the real lot2 sample and synthetic files from a small writer."""

from __future__ import annotations

import gzip
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import trio
from msgspec import UNSET

from converters import (
    Converted,
    FileRejected,
    StdfArguments,
    StdfConverter,
    open_converter_pool,
)
from pywats_actors.report import Step, UUTReport, decode_report, validate

from ._stdf_writer import StdfWriter
from .conftest import NAMESPACE, settings

START_T = 991774222  # 2001-06-05T20:50:22Z, the sample's MIR.START_T


def convert(data: bytes, **args: object) -> list[UUTReport]:
    reports = StdfConverter().convert(data, "lot.stdf", StdfArguments(**args))  # type: ignore[arg-type]
    assert all(isinstance(report, UUTReport) for report in reports)
    for report in reports:
        assert validate(report) == []
    return reports  # type: ignore[return-value]


def same_ids(reports: list[UUTReport]) -> list[UUTReport]:
    """The reports with one id (the converter leaves a random one for the pool to replace)."""
    return [msgspec.structs.replace(report, id=uuid.UUID(int=1)) for report in reports]


def leaves(step: Step) -> Iterator[Step]:
    for child in step.steps or ():
        if child.step_type == "SequenceCall":
            yield from leaves(child)
        else:
            yield child


def misc(report: UUTReport) -> dict[str, str | int]:
    out: dict[str, str | int] = {}
    for info in report.misc_infos or ():
        value = info.text if isinstance(info.text, str) else info.numeric
        assert isinstance(value, str | int)
        out[info.description] = value
    return out


_CONVERTED: dict[Path, list[UUTReport]] = {}


@pytest.fixture
def lot2(samples_dir: Path) -> list[UUTReport]:
    """The sample, converted once for all the tests of this module (it takes a few seconds)."""
    path = samples_dir / "stdf" / "lot2.stdf.gz"
    if path not in _CONVERTED:
        _CONVERTED[path] = convert(path.read_bytes())
    return _CONVERTED[path]


def basic(order: str = "<") -> StdfWriter:
    """A lot with the MIR the header tests read, ready for parts."""
    w = StdfWriter(order)
    w.mir(
        setup_t=START_T - 60,
        start_t=START_T,
        strings={
            "LOT_ID": "LOT7",
            "PART_TYP": "CHIP9",
            "NODE_NAM": "tester-3",
            "TSTR_TYP": "J750",
            "JOB_NAM": "prog",
            "JOB_REV": "2.1",
            "OPER_NAM": "ann",
            "EXEC_TYP": "IG-XL",
            "EXEC_VER": "9.0",
            "TST_TEMP": "25C",
            "FAMLY_ID": "fam",
            "FLOW_ID": "FT1",
            "DSGN_REV": "B",
        },
    )
    w.sdr(hand_typ="Delta", hand_id="H1", card_id="PC-42")
    return w


class TestStdfSample:
    def test_one_report_per_part_with_the_readme_counts(self, lot2: list[UUTReport]) -> None:
        """1569 parts give 1569 valid reports holding the file's 52403 PTRs as numeric steps."""
        assert len(lot2) == 1569
        steps = [step for report in lot2 for step in leaves(report.root)]
        assert len(steps) == 52403
        assert {step.step_type for step in steps} == {"ET_NLT"}
        # PART_FLG, read with a throwaway script: 1389 parts 0 (passed), 180 parts 8 (failed)
        assert Counter(report.result for report in lot2) == {"P": 1389, "F": 180}

    def test_header_from_the_mir(self, lot2: list[UUTReport]) -> None:
        """pn, station, operator, lot, sequence, tester and the UTC start come from the MIR."""
        report = lot2[0]
        assert (report.pn, report.machine_name, report.uut.user) == ("GOLD8BAR", "galaxy-t", "ews")
        assert report.uut.batch_sn == "GAL-LOT"
        assert report.root.name == "mobile-05"
        assert report.root.seq_call
        assert report.root.seq_call.version == "16"
        assert report.start_utc == "2001-06-05T20:50:22.000000Z"
        infos = misc(report)
        assert infos["Tester type"] == "A530"
        assert infos["Wafer"] == "GAL-LOT-02"
        assert infos["Handler"] == "electrogl"

    def test_part_100_values_limits_and_units(self, lot2: list[UUTReport]) -> None:
        """Part 100 (facts read with a throwaway struct script): passed, X 37 Y -7, bin 1, 72
        tests; values and limits as stored, in base units, a % ratio shown as a percentage."""
        (report,) = [r for r in lot2 if r.sn == "100"]
        infos = misc(report)
        assert report.result == "P"
        assert (infos["X"], infos["Y"], infos["Hard bin"], infos["Soft bin"]) == (37, -7, 1, 1)
        steps = {step.name.split(" - ")[0]: step for step in leaves(report.root)}
        assert len(steps) == 72
        first = steps["1000"]
        assert first.name == "1000 - glxy_SS_IH     <> glxy_pin2"
        (meas,) = first.numeric_meas or ()
        assert (meas.comp_op, meas.unit, first.status) == ("GELE", "v", "P")
        assert meas.value == pytest.approx(-0.6603906154632568, rel=1e-7)
        assert (meas.low_limit, meas.high_limit) == (-0.9, -0.4)
        (micro,) = steps["1230"].numeric_meas or ()  # RES_SCAL 6: still amperes
        assert micro.unit == "a"
        assert micro.value == pytest.approx(0.00012109374802093953, rel=1e-7)
        assert (micro.low_limit, micro.high_limit) == (5e-05, 0.00018)
        (ratio,) = steps["1200"].numeric_meas or ()  # RES_SCAL 2, UNITS "%": a ratio
        assert ratio.unit == "%"
        assert ratio.value == pytest.approx(0.63941590487957, rel=1e-7)
        assert (ratio.low_limit, ratio.high_limit) == (-3.5, 3.5)

    def test_detect_over_every_sample(self, samples_dir: Path) -> None:
        """0.95 for the STDF sample (gzip), below the threshold for every other sample."""
        converter = StdfConverter()
        for path in sorted(p for p in samples_dir.rglob("*") if p.is_file()):
            score = converter.detect(path.read_bytes()[:65536], path.name)
            if path.parent.name == "stdf" and path.name.endswith(".gz"):
                assert score >= 0.95, path
            else:
                assert score < 0.5, path

    async def test_gzip_in_the_sandbox(self) -> None:
        """Through the pool, by name, a gzip STDF of 300 parts gives 300 valid reports."""
        w = basic()
        for number in range(300):
            w.pir(1, 0)
            w.ptr(1, 1, 0, 1.0, text="vdd", opt=0x02, lo=0.5, hi=1.5, units="V")
            w.prr(1, 0, part_id=f"P{number}")
        async with open_converter_pool(
            settings(), converters=["stdf"], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(60):
                result = await pool.convert(w.gz(), "lot.stdf.gz", "stdf")
        assert isinstance(result, Converted), result
        assert len(result.reports) == 300
        last = decode_report(result.reports[-1].wsjf)
        assert validate(last) == []
        assert last.sn == "P299"


class TestStdfSynthetic:
    def test_both_byte_orders_and_gzip_give_the_same_reports(self) -> None:
        """A big-endian file, its little-endian twin and its gzip read the same."""
        made = []
        for order in "<>":
            w = basic(order)
            w.pir(1, 0)
            w.ptr(10, 1, 0, 1.25, text="vdd", opt=0x02, lo=1.0, hi=1.5, units="V")
            w.prr(1, 0, part_id="P1", test_t=1500)
            made.append(w)
        little, big = (same_ids(convert(w.data())) for w in made)
        assert same_ids(convert(made[1].gz())) == big == little
        (one,), (two,) = little, big
        for report in (one, two):
            (step,) = leaves(report.root)
            (meas,) = step.numeric_meas or ()
            assert (step.name, meas.value, meas.low_limit, meas.high_limit) == (
                "10 - vdd",
                1.25,
                1.0,
                1.5,
            )
            assert (report.sn, report.uut.exec_time, report.pn, report.rev) == (
                "P1",
                1.5,
                "CHIP9",
                "B",
            )

    def test_header_and_misc_infos(self) -> None:
        """MIR and SDR fields land in the header and misc infos; the timezone sets the offset."""
        w = basic()
        w.pir(1, 1)
        w.prr(1, 1, part_id="P1")
        (report,) = convert(w.data(), timezone="Asia/Tokyo")
        assert report.start == "2001-06-06T05:50:22.000000+09:00"
        assert report.start_utc == "2001-06-05T20:50:22.000000Z"
        assert (report.machine_name, report.uut.user, report.uut.batch_sn) == (
            "tester-3",
            "ann",
            "LOT7",
        )
        assert (report.uut.fixture_id, report.uut.test_socket_index) == ("PC-42", 1)
        assert report.root.name == "prog"
        infos = misc(report)
        assert infos["Tester type"] == "J750"
        assert infos["Exec type"] == "IG-XL"
        assert infos["Exec version"] == "9.0"
        assert infos["Test temperature"] == "25C"
        assert infos["Family"] == "fam"
        assert infos["Flow"] == "FT1"
        assert infos["Handler"] == "Delta H1"
        assert infos["Setup time"] == "2001-06-06T05:49:22.000000+09:00"

    def test_limits_units_and_text_inherited_from_the_first_ptr(self) -> None:
        """A later PTR that omits its defaults (or flags them invalid) takes the first one's."""
        w = basic()
        w.pir(1, 0)
        w.ptr(7, 1, 0, 0.5, text="leak", opt=0x02, lo=0.1, hi=0.9, units="A")
        w.prr(1, 0, part_id="A")
        w.pir(1, 0)
        w.ptr(7, 1, 0, 0.95)  # the record ends after ALARM_ID
        w.prr(1, 0, part_id="B", flags=0x08)
        w.pir(1, 0)
        w.ptr(7, 1, 0, 0.2, opt=0x02 | 0x10 | 0x20, lo=5.0, hi=6.0)  # limits invalid
        w.prr(1, 0, part_id="C")
        reports = convert(w.data())
        for report in reports:
            (step,) = leaves(report.root)
            (meas,) = step.numeric_meas or ()
            assert step.name == "7 - leak"
            assert (meas.comp_op, meas.low_limit, meas.high_limit, meas.unit) == (
                "GELE",
                0.1,
                0.9,
                "A",
            )
        assert [r.result for r in reports] == ["P", "F", "P"]

    def test_optional_limits_make_ge_le_and_log(self) -> None:
        """OPT_FLAG bit 6 (no low limit) gives LE, bit 7 (no high) GE, both LOG."""
        w = basic()
        w.pir(1, 0)
        w.ptr(1, 1, 0, 2.0, opt=0x02 | 0x40, lo=0.0, hi=3.0, units="V")
        w.ptr(2, 1, 0, 2.0, opt=0x02 | 0x80, lo=1.0, hi=0.0, units="V")
        w.ptr(3, 1, 0, 2.0, opt=0x02 | 0x40 | 0x80, units="V")
        w.prr(1, 0, part_id="A")
        (report,) = convert(w.data())
        ops = [
            (m.comp_op, m.low_limit, m.high_limit)
            for s in leaves(report.root)
            for m in s.numeric_meas or ()
        ]
        assert ops == [("LE", 3.0, UNSET), ("GE", 1.0, UNSET), ("LOG", UNSET, UNSET)]

    def test_scaling_in_base_and_display_units_both_signs(self) -> None:
        """Values stay in base units by default; ``display`` applies RES_SCAL 3 (milli) and -3
        (kilo) to value and limits and prefixes the unit."""
        w = basic()
        w.pir(1, 0)
        w.ptr(1, 1, 0, 0.0015, opt=0x02, scal=(3, 3, 3), lo=0.001, hi=0.002, units="A")
        w.ptr(2, 1, 0, 96000.0, opt=0x02, scal=(-3, -3, -3), lo=90000.0, hi=100000.0, units="Hz")
        w.prr(1, 0, part_id="A")
        (base,) = convert(w.data())
        (display,) = convert(w.data(), scaling="display")
        got = [
            [
                (m.value, m.low_limit, m.high_limit, m.unit)
                for s in leaves(r.root)
                for m in s.numeric_meas or ()
            ]
            for r in (base, display)
        ]
        assert got[0] == [(0.0015, 0.001, 0.002, "A"), (96000.0, 90000.0, 100000.0, "Hz")]
        assert got[1] == [(1.5, 1.0, 2.0, "mA"), (96.0, 90.0, 100.0, "kHz")]

    def test_two_interleaved_sites(self) -> None:
        """Parts of two sites interleave; each report gets only its own site's tests, in the
        order the PRRs close them."""
        w = basic()
        w.pir(1, 0)
        w.pir(1, 1)
        w.ptr(1, 1, 0, 1.0, text="a", opt=0x02, lo=0.0, hi=2.0)
        w.ptr(1, 1, 1, 3.0, test_flg=0x80, text="a", opt=0x02, lo=0.0, hi=2.0)
        w.ptr(2, 1, 1, 1.0, text="b")
        w.prr(1, 1, part_id="S1", flags=0x08)
        w.ptr(2, 1, 0, 1.0, text="b")
        w.prr(1, 0, part_id="S0")
        first, second = convert(w.data())
        assert (first.sn, first.result, first.uut.test_socket_index) == ("S1", "F", 1)
        assert (second.sn, second.result, second.uut.test_socket_index) == ("S0", "P", 0)
        failed = list(leaves(first.root))
        assert [s.status for s in failed] == ["F", "P"]
        assert failed[0].caused_uut_failure is True
        assert first.uut.step_id_caused_uut_failure == failed[0].id
        assert [s.name for s in leaves(second.root)] == ["1 - a", "2 - b"]

    def test_ftr_mpr_dtr_and_flags(self) -> None:
        """FTR is pass/fail (or an action when not executed), MPR a multiple numeric step
        named by the PMR pins, DTR a datalog action, TEST_FLG bits the step status."""
        w = basic()
        w.pmr(1, "DQ0")
        w.pmr(2, "DQ1")
        w.pir(1, 0)
        w.ftr(100, 1, 0, text="func")
        w.ftr(101, 1, 0, test_flg=0x80, text="func2")
        w.ftr(102, 1, 0, test_flg=0x10, text="skipped")
        w.mpr(200, 1, 0, [0.5, 1.5], pins=[1, 2], text="leak", lo=0.0, hi=1.0, test_flg=0x80)
        w.dtr("x" * 100)
        w.ptr(300, 1, 0, 1.0, test_flg=0x08, text="slow")
        w.ptr(301, 1, 0, 1.0, test_flg=0x20, text="abort")
        w.ptr(302, 1, 0, 1.0, test_flg=0x40, text="nopf", opt=0x02, lo=0.0, hi=0.5)
        w.prr(1, 0, part_id="A", flags=0x08)
        (report,) = convert(w.data(), max_text=20)
        steps = list(leaves(report.root))
        kinds = [(s.step_type, s.status) for s in steps]
        assert kinds == [
            ("ET_PFT", "P"),
            ("ET_PFT", "F"),
            ("Action", "S"),
            ("ET_MNLT", "F"),
            ("Action", "D"),
            ("ET_NLT", "E"),
            ("ET_NLT", "T"),
            ("ET_NLT", "D"),
        ]
        mpr = steps[3].numeric_meas or ()
        assert [(m.name, m.value, m.status) for m in mpr] == [("DQ0", 0.5, "P"), ("DQ1", 1.5, "F")]
        assert steps[4].report_text == "x" * 19 + "…"
        assert steps[5].report_text == "timeout"
        (nopf,) = steps[7].numeric_meas or ()
        assert nopf.status == "F"  # no verdict from the tester: compared with the limits

    def test_defaults_across_sites_and_odd_values(self) -> None:
        """A site's first PTR or MPR without defaults takes the test's from another site (pin
        indexes too); NaN or invalid results are skipped measurements without a value;
        inverted limits are logged only."""
        w = basic()
        w.pmr(1, "DQ0")
        w.pir(1, 0)
        w.ptr(1, 1, 0, 1.0, text="v", opt=0x02, lo=0.0, hi=2.0, units="V")
        w.mpr(2, 1, 0, [0.5], pins=[1], text="leak")
        w.prr(1, 0, part_id="A")
        w.pir(1, 1)
        w.ptr(1, 1, 1, 1.5)
        w.mpr(2, 1, 1, [0.7], pins=[])
        w.ptr(3, 1, 1, float("nan"), text="nan", opt=0x02, lo=0.0, hi=1.0)
        w.ptr(4, 1, 1, 1.0, test_flg=0x02, text="invalid", opt=0x02, lo=0.0, hi=1.0)
        w.ptr(5, 1, 1, 2.0, text="inverted", opt=0x02, lo=3.0, hi=1.0)
        w.prr(1, 1, part_id="B")
        _, report = convert(w.data())
        ptr, mpr, nan, invalid, inverted = leaves(report.root)
        (meas,) = ptr.numeric_meas or ()
        assert (ptr.name, meas.low_limit, meas.high_limit, meas.unit) == ("1 - v", 0.0, 2.0, "V")
        assert mpr.name == "2 - leak"
        assert [m.name for m in mpr.numeric_meas or ()] == ["DQ0"]
        for step, status in ((nan, "P"), (invalid, "E")):
            (meas,) = step.numeric_meas or ()
            assert (step.status, meas.status, meas.value) == (status, "S", UNSET)
        assert invalid.report_text == "result invalid"
        (meas,) = inverted.numeric_meas or ()
        assert (meas.comp_op, meas.low_limit, meas.value) == ("LOG", UNSET, 2.0)
        assert "inverted" in str(inverted.report_text)

    def test_part_flags_give_the_result(self) -> None:
        """PART_FLG bit 2 is terminated, bit 4 error, bit 3 failed, none passed."""
        w = basic()
        for flags in (0x04, 0x10, 0x08, 0x00):
            w.pir(1, 0)
            w.prr(1, 0, flags=flags, part_id=str(flags))
        assert [r.result for r in convert(w.data())] == ["T", "E", "F", "P"]

    def test_serial_number_sources(self) -> None:
        """PART_ID, else wafer and X/Y, else lot and part count; the argument picks one."""
        w = basic()
        w.wir(1, "W05")
        w.pir(1, 0)
        w.prr(1, 0, x=3, y=-4, part_id="17")
        w.pir(1, 0)
        w.prr(1, 0, x=5, y=6)
        auto = [r.sn for r in convert(w.data())]
        assert auto == ["17", "W05_X5_Y6"]
        assert [r.sn for r in convert(w.data(), serial_number="wafer_xy")] == [
            "W05_X3_Y-4",
            "W05_X5_Y6",
        ]
        assert [r.sn for r in convert(w.data(), serial_number="lot")] == ["LOT7_1", "LOT7_2"]

    def test_sequences_from_the_separator(self) -> None:
        """With a separator, ``Seq: Test`` texts group consecutive steps in sequences."""
        w = basic()
        w.pir(1, 0)
        w.ptr(1, 1, 0, 1.0, text="DC: vdd")
        w.ptr(2, 1, 0, 1.0, text="DC: idd")
        w.ptr(3, 1, 0, 1.0, text="AC: freq")
        w.ptr(4, 1, 0, 1.0, text="plain")
        w.prr(1, 0, part_id="A")
        (flat,) = convert(w.data())
        assert next(s.name for s in flat.root.steps or ()) == "1 - DC: vdd"
        (grouped,) = convert(w.data(), sequence_separator=": ")
        top = grouped.root.steps or ()
        assert [(s.step_type, s.name) for s in top] == [
            ("SequenceCall", "DC"),
            ("SequenceCall", "AC"),
            ("ET_NLT", "4 - plain"),
        ]
        assert [s.name for s in top[0].steps or ()] == ["1 - vdd", "2 - idd"]

    def test_reports_stream_before_a_later_fault(self) -> None:
        """convert_iter yields the first part before it reads the truncated record after it."""
        w = basic()
        w.pir(1, 0)
        w.prr(1, 0, part_id="A")
        w.pir(1, 0)
        data = w.data() + b"\x20\x00\x0f\x0a\x01\x02"  # a PTR header promising 32 bytes
        reports = StdfConverter().convert_iter(data, "x.stdf", StdfArguments())
        assert next(reports).sn == "A"
        with pytest.raises(FileRejected) as caught:
            next(reports)
        assert caught.value.where == f"byte {len(w.data())}"
        assert "cut short" in caught.value.reason


class TestStdfRejected:
    def test_truncated_record_names_its_byte_offset(self) -> None:
        """A file cut inside a record is rejected at that record's offset, gzip too."""
        w = basic()
        w.pir(1, 0)
        w.ptr(1, 1, 0, 1.0, text="t", opt=0x02, lo=0.0, hi=2.0)
        w.prr(1, 0, part_id="A")
        data = w.data()
        cut_at = len(data) - 5
        start_of_prr = len(data) - (4 + 17 + 2)
        for blob in (data[:cut_at], gzip.compress(data[:cut_at])):
            with pytest.raises(FileRejected) as caught:
                convert(blob)
            assert caught.value.where == f"byte {start_of_prr}"

    def test_damaged_gzip_and_garbage(self) -> None:
        """A cut gzip stream and random bytes are rejected with a clear message."""
        w = basic()
        w.pir(1, 0)
        w.prr(1, 0, part_id="A")
        with pytest.raises(FileRejected, match="gzip"):
            convert(w.gz()[:-12])
        with pytest.raises(FileRejected, match="no FAR"):
            convert(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
        assert StdfConverter().detect(bytes(range(256)), "x.stdf") == 0.0
        with pytest.raises(FileRejected, match="empty"):
            convert(b"")

    def test_other_versions_are_detected_but_rejected(self) -> None:
        """An STDF V3 FAR scores 0.6 (it is STDF) and converts to a clear rejection."""
        w = StdfWriter(">", version=3)
        assert StdfConverter().detect(w.data(), "old.std") == 0.6
        assert StdfConverter().detect(gzip.compress(w.data()), "old.std.gz") == 0.6
        with pytest.raises(FileRejected, match="version 3"):
            convert(w.data())
        with pytest.raises(FileRejected, match="CPU_TYPE 0"):
            convert(StdfWriter("<", cpu=0).data())

    def test_bad_part_structure(self) -> None:
        """A PRR without PIR, a part left open, no part, and too many tests or datalog lines
        in a part are rejected."""
        w = basic()
        w.prr(1, 0)
        with pytest.raises(FileRejected, match="without its PIR"):
            convert(w.data())
        w = basic()
        w.pir(1, 3)
        with pytest.raises(FileRejected, match="site 3 has no PRR"):
            convert(w.data())
        with pytest.raises(FileRejected, match="no part"):
            convert(basic().data())
        w = basic()
        w.pir(1, 0)
        for number in range(6):
            w.ptr(number, 1, 0, 1.0)
        w.prr(1, 0)
        with pytest.raises(FileRejected, match="more than 5 test results"):
            convert(w.data(), max_steps=5)
        w = basic()
        w.pir(1, 0)
        for _ in range(6):
            w.dtr("datalog line")
        w.prr(1, 0)
        with pytest.raises(FileRejected, match="more than 5 test results"):
            convert(w.data(), max_steps=5)

    def test_unknown_timezone_is_an_argument_error(self) -> None:
        """A time zone that does not exist fails when the arguments are made."""
        with pytest.raises(ValueError, match="timezone"):
            StdfArguments(timezone="Mars/Olympus")
