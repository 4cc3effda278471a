"""The Klippel QC folder converter, and folder units packed for the worker."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
import trio

from converters import (
    Converted,
    FileRejected,
    KlippelArguments,
    KlippelConverter,
    Rejected,
    open_converter_pool,
    pack_unit,
    unpack_unit,
)
from pywats_actors.report import Step, UUTReport, decode_report, validate

from .conftest import NAMESPACE, settings

NAME = "DUT xyz115 2020-05-14 10-01-37-5 UTC+0200"
HEADER = (
    b"//serial\r\nCfg_SerialNumber=sn1\r\nCtrl_OverallVerdict=1\r\nResults_Pass=resp\r\n"
    b"Cfg_DutStartTime=2021-3-9-61-3-2-8-30-0-5-60-1.6E+09\r\n"
)


def unit_files(samples_dir: Path) -> dict[str, bytes]:
    """The sample DUT as a folder converter receives it: paths relative to its parent."""
    root = samples_dir / "klippel"
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != "README.md"
    }


def convert(files: dict[str, bytes], name: str = NAME, **args: object) -> UUTReport:
    (report,) = KlippelConverter().convert_folder(files, name, KlippelArguments(**args))  # type: ignore[arg-type]
    assert isinstance(report, UUTReport)
    assert validate(report) == []
    return report


def steps(step: Step) -> dict[str, Step]:
    """Every step below *step* by name."""
    found: dict[str, Step] = {}
    for child in step.steps or ():
        found[child.name or ""] = child
        found.update(steps(child))
    return found


def rejected(files: dict[str, bytes], name: str = NAME) -> FileRejected:
    started = time.monotonic()
    with pytest.raises(FileRejected) as caught:
        KlippelConverter().convert_folder(files, name, KlippelArguments())
    assert time.monotonic() - started < 5
    return caught.value


class TestSample:
    def test_header_facts(self, samples_dir: Path) -> None:
        """Serial xyz115, the start time with its +02:00 offset, the failed overall verdict."""
        report = convert(unit_files(samples_dir))
        assert report.sn == "xyz115"
        assert report.pn == "example"  # the Klippel database's name
        assert report.start == "2020-05-14T10:01:37.563000+02:00"
        assert report.start_utc == "2020-05-14T08:01:37.563000Z"
        assert report.result == "F"  # Ctrl_OverallVerdict=0
        assert report.uut is not None
        assert report.uut.user == "win:m.liebig"
        infos = {info.description: info.text for info in report.misc_infos or ()}
        assert infos["Cfg_Speaker"] == "sp2"
        assert infos["Results_Fail"] == "imp\tre\tfs"

    def test_one_sequence_per_measurement(self, samples_dir: Path) -> None:
        """Impedance and Sound Pressure become sequences holding their values and curves."""
        report = convert(unit_files(samples_dir))
        sequences = [(s.name, [c.name for c in s.steps or ()]) for s in report.root.steps or ()]
        assert sequences == [
            ("Impedance", ["re", "qts", "Impedance imp"]),
            (
                "Sound Pressure",
                ["level", "Sound Pressure rbz", "Sound Pressure resp", "Sound Pressure thd"],
            ),
        ]

    def test_values_with_limits(self, samples_dir: Path) -> None:
        """level 95.203 within 91.337..97.337 passes (GELE); re has no value and failed."""
        found = steps(convert(unit_files(samples_dir)).root)
        (level,) = found["level"].numeric_meas or ()
        assert (level.value, level.low_limit, level.high_limit) == (95.203, 91.337, 97.337)
        assert level.comp_op == "GELE"
        assert level.status == "P"
        assert found["re"].step_type == "ET_PFT"
        assert found["re"].status == "F"
        assert found["qts"].status == "S"

    def test_curves_are_charts_with_limit_curves(self, samples_dir: Path) -> None:
        """Each curve file is a chart: its values and limit curves, missing points left out."""
        found = steps(convert(unit_files(samples_dir)).root)
        imp = found["Impedance imp"]
        assert imp.step_type == "WATS_XYGMNLT"
        assert imp.chart is not None
        series = {s.name: s for s in imp.chart.series or ()}
        assert set(series) == {"imp", "max", "min"}
        assert len((series["imp"].ydata or "").split(";")) == 129
        assert (series["imp"].xdata or "").split(";")[0] == "18.75"
        assert imp.chart.x_unit == "Hz"
        (outside,) = imp.numeric_meas or ()
        assert (outside.name, outside.value, outside.status) == ("points outside limits", 20, "F")
        assert imp.status == "F"  # its first point 1.7263 is below the min curve 3.0445
        rbz = found["Sound Pressure rbz"]
        assert rbz.chart is not None
        assert {s.name for s in rbz.chart.series or ()} == {"rbz", "max"}
        assert len((rbz.chart.series or ())[0].ydata.split(";")) == 126  # type: ignore[union-attr]
        assert rbz.status == "P"

    def test_detect_scores_the_header_and_a_packed_unit_high(self, samples_dir: Path) -> None:
        """The header file and the packed unit both score >= 0.9."""
        files = unit_files(samples_dir)
        converter = KlippelConverter()
        assert converter.detect(files[f"{NAME}.txt"][:8192], f"{NAME}.txt") >= 0.9
        assert converter.detect(pack_unit(files)[:65536], NAME) >= 0.9

    def test_detect_scores_every_other_sample_low(self, samples_dir: Path) -> None:
        """Every other file under the shared samples (curve files too) scores below 0.5."""
        converter = KlippelConverter()
        checked = 0
        for path in sorted(samples_dir.rglob("*")):
            if path.is_file() and path.name != f"{NAME}.txt":
                assert converter.detect(path.read_bytes()[:8192], path.name) < 0.5, path
                checked += 1
        assert checked > 10


class TestMapping:
    def test_name_gives_serial_time_and_offset_without_header_keys(self) -> None:
        """Without Cfg_ serial and start time, the name's serial and UTC-0530 time count."""
        files = {"DUT ab-7 2021-01-02 03-04-05-2 UTC-0530.txt": b"Cfg_Speaker=sp1\n"}
        report = convert(files, "DUT ab-7 2021-01-02 03-04-05-2 UTC-0530")
        assert report.sn == "ab-7"
        assert report.start == "2021-01-02T03:04:05.200000-05:30"
        assert report.result == "P"

    def test_timezone_argument_applies_without_an_offset_in_the_name(self) -> None:
        """A name without UTC+hhmm takes its time zone from the argument."""
        files = {"DUT q 2021-07-01 12-00-00.txt": b"Cfg_SerialNumber=q\n"}
        report = convert(files, "DUT q 2021-07-01 12-00-00", timezone="Europe/Oslo")
        assert report.start.startswith("2021-07-01T12:00:00")
        assert report.start.endswith("+02:00")
        expected = dt.datetime(2021, 7, 1, 10, tzinfo=dt.UTC)
        assert dt.datetime.fromisoformat(report.start) == expected

    def test_arguments_win(self) -> None:
        """serial_number, part_number and operator arguments override the header."""
        report = convert(
            {"u.txt": HEADER}, "u", serial_number="S9", part_number="P1", operator="op"
        )
        assert (report.sn, report.pn) == ("S9", "P1")
        assert report.start.startswith("2021-03-02T08:30:00.005")
        assert report.uut is not None
        assert report.uut.user == "op"

    def test_unknown_files_are_listed_not_converted(self) -> None:
        """A picture and a text that is no table end up as 'ignored file' misc infos."""
        files = {
            "u.txt": HEADER,
            "u/photo.png": b"\x89PNG\r\n",
            "u/notes.txt": b"free text",
            "u/Sound-resp.txt": b"frq\tresp\n100\t1.5\n200\t-\n",
        }
        report = convert(files, "u")
        ignored = [i.text for i in report.misc_infos or () if i.description == "ignored file"]
        assert ignored == ["notes.txt", "photo.png"]
        chart = steps(report.root)["Sound resp"].chart
        assert chart is not None
        assert (chart.series or ())[0].ydata == "1.5"

    def test_decimal_commas_are_read(self) -> None:
        """A value written with a decimal comma is read as a number."""
        files = {"u.txt": HEADER, "u/A-values.txt": b"name\tvalue\tmax\tmin\nx\t1,5\t2\t1\n"}
        (x,) = steps(convert(files, "u").root)["x"].numeric_meas or ()
        assert x.value == 1.5
        assert x.status == "P"

    def test_verdict_wins_over_the_steps(self) -> None:
        """Ctrl_OverallVerdict=1 passes the report even if a value is outside its limits."""
        files = {"u.txt": HEADER, "u/A-values.txt": b"name\tvalue\tmax\tmin\nx\t5\t2\t1\n"}
        report = convert(files, "u")
        assert steps(report.root)["x"].status == "F"
        assert report.result == "P"


class TestRejected:
    def test_no_header(self) -> None:
        """A unit without a header file is refused, saying what is missing."""
        assert "no Klippel header" in str(rejected({"u/A-values.txt": b"x"}, "u"))

    def test_bad_header_line_names_the_line(self) -> None:
        """A header line that is not Key=Value is refused with its file and line."""
        error = rejected({"u.txt": b"//c\nCfg_SerialNumber=1\ngarbage here\n"}, "u")
        assert error.where == "u.txt line 3"

    def test_bad_number_names_file_and_line(self) -> None:
        """A table cell that is no number is refused with its file and line."""
        files = {"u.txt": HEADER, "u/A-values.txt": b"name\tvalue\tmax\tmin\nx\tabc\t2\t1\n"}
        assert rejected(files, "u").where == "u/A-values.txt line 2"

    def test_no_start_time(self) -> None:
        """No Cfg_DutStartTime and no date in the name: refused, not stamped with 'now'."""
        assert "no start time" in str(rejected({"u.txt": b"Cfg_SerialNumber=1\n"}, "u"))

    def test_garbage_bytes(self) -> None:
        """Random binary bytes as the header are refused with a line number."""
        error = rejected({"u.txt": bytes(range(256)) * 4}, "u")
        assert error.where is not None
        assert error.where.startswith("u.txt line")

    def test_a_single_file_is_not_a_unit(self) -> None:
        """Unpacking bytes that are not a packed unit says to watch with unit = "folder"."""
        with pytest.raises(FileRejected, match='unit = "folder"'):
            unpack_unit(HEADER, "'klippel'")


class TestPacking:
    def test_packing_is_deterministic_and_round_trips(self) -> None:
        """The same files in any order pack to the same bytes, and unpack to themselves."""
        files = {"b/x": b"1", "a.txt": b"2", "b/c/y": b""}
        packed = pack_unit(files)
        assert packed == pack_unit(dict(reversed(files.items())))
        assert unpack_unit(packed) == files

    @pytest.mark.parametrize("path", ["/abs", "a/../b", "", "a//b", "./a"])
    def test_paths_that_escape_are_refused(self, path: str) -> None:
        """Absolute paths and '..' parts cannot be packed."""
        with pytest.raises(ValueError):
            pack_unit({path: b""})


class TestSandbox:
    async def test_the_unit_converts_in_the_sandbox_and_a_single_file_does_not(
        self, samples_dir: Path
    ) -> None:
        """Through the pool: the packed sample gives one valid report, twice with the same id;
        its header alone is rejected with the folder-unit hint; a file converter refuses a unit;
        a unit whose files add up to more than max_input_mb is rejected as too large."""
        files = unit_files(samples_dir)
        packed = pack_unit(files)
        async with open_converter_pool(
            settings(max_input_mb=1), converters=["klippel", "wsjf"], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                first = await pool.convert(packed, NAME, "klippel")
                again = await pool.convert(packed, NAME, "klippel")
                single = await pool.convert(files[f"{NAME}.txt"], f"{NAME}.txt", "klippel")
                by_file_converter = await pool.convert(packed, NAME, "wsjf")
                big = {**files, f"{NAME}/big.txt": b"0" * (1 << 20)}
                too_large = await pool.convert(pack_unit(big), NAME, "klippel")
        assert isinstance(first, Converted), first
        assert isinstance(again, Converted), again
        (report,) = first.reports
        assert validate(decode_report(report.wsjf)) == []
        assert report.id == again.reports[0].id
        assert isinstance(single, Rejected)
        assert 'unit = "folder"' in single.reason
        assert isinstance(by_file_converter, Rejected)
        assert "converts single files, not a folder unit" in by_file_converter.reason
        assert isinstance(too_large, Rejected)
        assert too_large.cause == "too_large"  # the input limit applies to the unit's total
