"""The CSV/TSV converter's shipped mappings (presets) on the three real SoundCheck exports, and
the generic features they use: curve blocks, optional columns, several date formats, record
filters, serial numbers from the file name; the canonical long format and a SPEA-like layout."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
import pytest

from converters import (
    ConverterArgumentsError,
    CsvArguments,
    CsvConverter,
    FileRejected,
    _csv_text,
    validate_arguments,
)
from pywats_actors.report import Chart, Step, UUTReport, encode_report, validate

DOC = Path(__file__).resolve().parents[2] / "docs" / "converters.md"
US_COMPLETE = "soundcheck_us_complete_test_2020-07-22.txt"
US_WATS18 = "soundcheck_us_wats18_2020-11-02.txt"
EU_LOGGING = "soundcheck_eu_data_logging_2021-01-12.txt"


def args(**raw: Any) -> CsvArguments:
    result: CsvArguments = validate_arguments("csv", CsvArguments, raw)
    return result


def convert(data: bytes, arguments: CsvArguments, name: str = "file.txt") -> list[UUTReport]:
    reports = CsvConverter().convert(data, name, arguments)
    out = [r for r in reports if isinstance(r, UUTReport)]
    assert len(out) == len(reports)
    for report in out:
        assert validate(report) == []
    return out


def sample(samples_dir: Path, name: str, mapping: str, **more: Any) -> list[UUTReport]:
    data = (samples_dir / "tabular_csv" / name).read_bytes()
    return convert(data, args(mapping=mapping, **more), name)


def leaves(step: Step) -> list[Step]:
    if step.step_type == "SequenceCall":
        return [leaf for child in step.steps or () for leaf in leaves(child)]
    return [step]


def doc_mapping(marker: str) -> dict[str, Any]:
    """The converter_args of the one [[watch]] TOML block in docs/converters.md that holds
    ``marker``."""
    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    (block,) = [b for b in blocks if marker in b]
    (watch,) = tomllib.loads(block)["watch"]
    raw: dict[str, Any] = watch["converter_args"]
    return raw


def without_id(report: UUTReport) -> dict[str, Any]:
    """The report as JSON data, without its id (a fresh one per conversion here)."""
    data: dict[str, Any] = msgspec.json.decode(encode_report(report))
    data.pop("id")
    return data


def numbers(text: object) -> list[float]:
    assert isinstance(text, str)
    return [float(part) for part in text.split(";")]


class TestPresets:
    def test_shipped_presets_are_valid_arguments(self) -> None:
        """Every TOML file in converters/csv_mappings decodes into CsvArguments as it stands
        (but for its ``detect`` table, which says how auto-detection recognises such files)."""
        folder = resources.files("converters") / "csv_mappings"
        names = sorted(e.name for e in folder.iterdir() if e.name.endswith(".toml"))
        assert names == ["canonical.toml", "soundcheck-eu.toml", "soundcheck-us.toml"]
        for name in names:
            values = tomllib.loads((folder / name).read_text(encoding="utf-8"))
            values.pop("detect", None)
            assert isinstance(msgspec.convert(values, CsvArguments), CsvArguments)

    def test_explicit_arguments_override_the_preset(self) -> None:
        """Top-level values replace the preset's; a table such as columns merges key by key."""
        arguments = args(
            mapping="soundcheck-us",
            timezone="Europe/Oslo",
            decimal_separator=",",
            columns={"pn": "Name"},
            defaults={"revision": "C"},
        )
        assert (arguments.mapping, arguments.timezone) == ("soundcheck-us", "Europe/Oslo")
        assert arguments.decimal_separator == ","
        assert arguments.columns is not None
        assert (arguments.columns.pn, arguments.columns.sn) == ("Name", "Serial #:")
        assert (arguments.defaults.revision, arguments.defaults.sequence_name) == (
            "C",
            "SoundCheck",
        )
        assert arguments.curves is not None

    def test_from_mapping_for_python_callers(self) -> None:
        """CsvArguments.from_mapping gives what a configuration's mapping = "NAME" gives."""
        direct = CsvArguments.from_mapping("soundcheck-eu", timezone="Europe/Oslo")
        assert direct == args(mapping="soundcheck-eu", timezone="Europe/Oslo")
        assert (direct.decimal_separator, direct.timezone) == (",", "Europe/Oslo")

    def test_unknown_preset_is_an_argument_error(self) -> None:
        """A mapping name that is not shipped is refused, listing the shipped ones."""
        with pytest.raises(ConverterArgumentsError, match="soundcheck-eu, soundcheck-us"):
            args(mapping="soundcheck")

    def test_canonical_preset_is_the_default(self) -> None:
        """mapping = "canonical" reads the canonical long format as no mapping does."""
        data = b"SerialNumber,PartNumber,StepName,Value,LowLimit,HighLimit\nA,P,V,1.5,1,2\n"
        (with_preset,) = convert(data, args(mapping="canonical"))
        (without,) = convert(data, args())
        assert with_preset.root == without.root
        assert (with_preset.sn, with_preset.result) == ("A", "P")

    def test_doc_snippet_for_soundcheck(self, samples_dir: Path) -> None:
        """The SoundCheck [[watch]] snippet in docs/converters.md converts the WATS18 file."""
        reports = sample(samples_dir, US_WATS18, **doc_mapping('"soundcheck-us"'))
        assert len(reports) == 11


class TestSoundCheckUS:
    def test_complete_test(self, samples_dir: Path) -> None:
        """8 UUTs (S/N 13..20) x 5 measurements, all passed, operator Rick, US dates in the
        given time zone, limits from the text 100.0/90.0, the Tolerance column as step text."""
        reports = sample(samples_dir, US_COMPLETE, "soundcheck-us", timezone="America/Chicago")
        assert [r.sn for r in reports] == [f"S/N {n}" for n in range(13, 21)]
        assert [len(leaves(r.root)) for r in reports] == [5] * 8
        assert {r.result for r in reports} == {"P"}
        first = reports[0]
        assert (first.pn, first.uut.user, first.root.name) == ("P/N #12345", "Rick", "SoundCheck")
        assert first.start == "2020-07-22T10:22:14.000000-05:00"
        assert reports[-1].start == "2020-07-22T10:22:29.000000-05:00"
        sensitivity, polarity, *_ = leaves(first.root)
        meas = (sensitivity.numeric_meas or ())[0]
        assert (meas.comp_op, meas.low_limit, meas.high_limit) == ("GELE", 90.0, 100.0)
        assert (meas.value, meas.unit, meas.status) == (95.5, "dB", "P")
        assert sensitivity.report_text == "Max/Min"
        assert polarity.report_text == "Tolerance curves; limits: Individual Pts."
        assert (polarity.numeric_meas or ())[0].comp_op == "LOG"

    def test_wats18_failures_and_curves(self, samples_dir: Path) -> None:
        """11 UUTs (WATS2..WATS12) without an Operator column, 4 measurements (35 of 44
        failed, every UUT failed) and 3 curves each; the 34 header rows are not data."""
        reports = sample(samples_dir, US_WATS18, "soundcheck-us", timezone="America/Chicago")
        assert [r.sn for r in reports] == [f"WATS{n}" for n in range(2, 13)]
        assert {r.result for r in reports} == {"F"}
        measured = [s for r in reports for s in leaves(r.root) if s.step_type == "ET_NLT"]
        statuses = [s.status for s in measured]
        assert (len(statuses), statuses.count("F"), statuses.count("P")) == (44, 35, 9)
        curves = [s for r in reports for s in leaves(r.root) if s.step_type == "WATS_XYGMNLT"]
        assert [s.name for s in curves] == ["Fundamental", "THD", "Rub & Buzz"] * 11
        assert reports[0].start == "2020-11-02T16:36:07.000000-06:00"
        assert reports[0].uut.user is msgspec.UNSET
        first = reports[0]
        assert first.uut.step_id_caused_uut_failure == leaves(first.root)[0].id
        limits = (leaves(first.root)[0].numeric_meas or ())[0]
        assert (limits.value, limits.low_limit, limits.high_limit) == (31.9, 32.0, 33.0)

    def test_wats18_curve_content(self, samples_dir: Path) -> None:
        """A curve's header gives its name, axis units and log x axis; its two rows give x and
        y (58 points for the Fundamental, 42 for Rub & Buzz)."""
        first = sample(samples_dir, US_WATS18, "soundcheck-us")[0]
        fundamental, _, rub = [s for s in leaves(first.root) if s.step_type == "WATS_XYGMNLT"]
        chart = fundamental.chart
        assert isinstance(chart, Chart)
        assert (chart.chart_type, chart.x_unit, chart.y_unit) == ("LineLogX", "Hz", "dB re 20u Pa")
        (series,) = chart.series or ()
        x, y = numbers(series.xdata), numbers(series.ydata)
        assert (len(x), x[:2], x[-1]) == (58, [5000.0, 4750.0], 50.0)
        assert (len(y), y[:2]) == (58, [12.6, 15.62])
        assert fundamental.status == "D"
        assert isinstance(rub.chart, Chart)
        assert len(numbers((rub.chart.series or ())[0].ydata)) == 42

    def test_large_file_path_reads_the_same(
        self, samples_dir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Read twice a line at a time (as files over 256 KiB are), WATS18 with its curves
        gives the same reports as when decoded whole."""
        whole = sample(samples_dir, US_WATS18, "soundcheck-us", timezone="UTC")
        monkeypatch.setattr(_csv_text, "_SMALL_FILE", 0)
        streamed = sample(samples_dir, US_WATS18, "soundcheck-us", timezone="UTC")
        assert len(streamed) == len(whole) == 11
        same_ids = zip(streamed, whole, strict=True)
        assert [msgspec.structs.replace(r, id=w.id) for r, w in same_ids] == whole


class TestSoundCheckEU:
    def test_decimal_commas_dates_and_curves(self, samples_dir: Path) -> None:
        """Day-first dates; two runs of serial 2.58.21 (09:08:35: the upper and lower limit
        curves, 10:45:03: one curve of 2205 points), decimal-comma values read exactly."""
        reports = sample(samples_dir, EU_LOGGING, "soundcheck-eu", timezone="Europe/Oslo")
        assert [(r.sn, r.pn, r.start) for r in reports] == [
            ("2.58.21", "BLR-SC-WATS", "2021-01-12T09:08:35.000000+01:00"),
            ("2.58.21", "BLR-SC-WATS", "2021-01-12T10:45:03.000000+01:00"),
        ]
        upper, lower = leaves(reports[0].root)
        assert (upper.name, lower.name) == (
            "Fundamental Limit Upper Limit",
            "Fundamental Limit Lower Limit",
        )
        assert isinstance(upper.chart, Chart)
        assert isinstance(lower.chart, Chart)
        assert upper.chart.y_unit == "dB re 1 V/sqrt(Hz)"
        (series,) = upper.chart.series or ()
        assert numbers(series.xdata) == [100.0, 400.0, 2000.0, 6000.0, 7000.0, 10000.0]
        assert numbers(series.ydata) == [4.0, 6.0, 6.0, 2.0, 0.0, 0.0]
        (series,) = lower.chart.series or ()
        assert numbers(series.ydata) == [-4.0, -2.0, -5.0, -5.0]
        (spectrum,) = leaves(reports[1].root)
        assert isinstance(spectrum.chart, Chart)
        (series,) = spectrum.chart.series or ()
        x, y = numbers(series.xdata), numbers(series.ydata)
        assert (len(x), x[:3], y[:2]) == (2205, [0.0, 10.0, 20.0], [-87.32, -106.54])

    def test_the_us_preset_does_not_misread_it(self, samples_dir: Path) -> None:
        """With a decimal point, "100,00" is no number: the file is refused, not misread."""
        data = (samples_dir / "tabular_csv" / EU_LOGGING).read_bytes()
        with pytest.raises(FileRejected, match=r"columns\.step_name: column 'Name'"):
            convert(data, args(mapping="soundcheck-us"))


CURVES = {
    "columns": {"sn": "SN", "start": "Time", "step_name": "Test", "value": "Value"},
    "curves": {"marker_column": 3, "marker": "curve", "name": 2, "values_from": 2},
    "defaults": {"part_number": "P"},
}


class TestCurveBlocks:
    def test_measurements_and_curves_interleaved(self) -> None:
        """A curve header, then x and y rows, between measurement rows; a header repeated
        without the marker ends the block."""
        data = (
            b"SN,Time,Test,Value\n"
            b"A,2024-01-01T10:00:00Z,V,1.5\n"
            b"SN,Time,Gain,curve,Hz,dB\n"
            b"A,2024-01-01T10:00:00Z,10,100,1000\n"
            b"A,2024-01-01T10:00:00Z,0.5,1.5,-3\n"
            b"SN,Time,Test,Value\n"
            b"A,2024-01-01T10:00:00Z,I,0.2\n"
        )
        (report,) = convert(data, args(**CURVES))
        assert [(s.name, s.step_type) for s in leaves(report.root)] == [
            ("V", "ET_NLT"),
            ("Gain", "WATS_XYGMNLT"),
            ("I", "ET_NLT"),
        ]
        chart = leaves(report.root)[1].chart
        assert isinstance(chart, Chart)
        assert chart.chart_type == "Line"
        (series,) = chart.series or ()
        assert (numbers(series.xdata), numbers(series.ydata)) == ([10, 100, 1000], [0.5, 1.5, -3])

    def test_curves_stay_out_of_sequences(self) -> None:
        """A curve row's cells are values: only the header fields are read from it, so a
        mapped sequence column does not put the curve in a sequence named by a number."""
        data = (
            b"SN,Time,Seq,Test,Value\n"
            b"A,2024-01-01T10:00:00Z,Power,V,1.5\n"
            b"SN,Time,Gain,curve\n"
            b"A,2024-01-01T10:00:00Z,10,100\n"
            b"A,2024-01-01T10:00:00Z,0.5,1.5\n"
        )
        arguments = args(**{**CURVES, "columns": {**CURVES["columns"], "sequence": "Seq"}})
        (report,) = convert(data, arguments)
        assert [(s.name, s.step_type) for s in report.root.steps or ()] == [
            ("Power", "SequenceCall"),
            ("Gain", "WATS_XYGMNLT"),
        ]

    def test_curves_without_a_header_row(self) -> None:
        """Without a header row (columns by index), a curve header is still no data row."""
        data = b"A,T,V,1.5\nA,T,Gain,curve\nA,T,1,2\nA,T,3,4\n"
        arguments = args(
            header=False,
            columns={"sn": 0, "step_name": 2, "value": 3},
            curves={"marker_column": 3, "marker": "curve", "name": 2, "values_from": 2},
            defaults={"part_number": "P"},
            group_by=["sn"],
        )
        (report,) = convert(data, arguments)
        assert [(s.name, s.step_type) for s in leaves(report.root)] == [
            ("V", "ET_NLT"),
            ("Gain", "WATS_XYGMNLT"),
        ]

    @pytest.mark.parametrize(
        ("rows", "where", "reason"),
        [
            (b"A,T,1,2\nA,T,1\n", "line 3", "1 y values but 2 x values"),
            (b"A,T,1,2\nB,T,1,2\n", "line 3", "differ from those of its x row (line 2)"),
            (b"A,T,1,2\n", "line 2", "x row has no y row"),
            (b"A,T,1,2\nA,T,V,1\n", "line 2", "x row has no y row"),
            (b"A,T,1,2\nA,T,nan,1e400\n", "line 2", "x row has no y row"),
        ],
    )
    def test_broken_blocks_are_rejected(self, rows: bytes, where: str, reason: str) -> None:
        """A short y row, a pair of two units, or an x row alone (its y row not numbers, or
        not finite ones) names its line."""
        data = b"SN,Time,Name,curve\n" + rows
        with pytest.raises(FileRejected) as info:
            convert(data, args(**CURVES))
        assert reason in info.value.reason
        assert info.value.where == where


class TestLayouts:
    def test_canonical_long_format_of_the_spec(self) -> None:
        """The DevKit-style header SerialNumber,PartNumber,TestDate,OperationType,StepName,
        StepType,Value,LowLimit,HighLimit,Unit,Result reads without any mapping."""
        data = (
            b"SerialNumber,PartNumber,TestDate,OperationType,StepName,StepType,Value,LowLimit,"
            b"HighLimit,Unit,Result\n"
            b"SN-1,PN-7,2024-03-05T08:30:00+01:00,30,Voltage,NumericLimit,5.02,4.9,5.1,V,Passed\n"
            b"SN-1,PN-7,2024-03-05T08:30:00+01:00,30,Firmware,StringValue,1.0.4,,,,Passed\n"
            b"SN-1,PN-7,2024-03-05T08:30:00+01:00,30,LED,PassFail,,,,,Failed\n"
        )
        (report,) = convert(data, args())
        assert (report.sn, report.pn, report.process_code, report.result) == (
            "SN-1",
            "PN-7",
            30,
            "F",
        )
        assert report.start_utc == "2024-03-05T07:30:00.000000Z"
        assert [(s.step_type, s.status) for s in leaves(report.root)] == [
            ("ET_NLT", "P"),
            ("ET_SVT", "P"),
            ("ET_PFT", "F"),
        ]

    def test_spea_like_record_log(self) -> None:
        """A headerless semicolon log of typed records: only ANL rows are steps, the serial
        number comes from the file name, exponent notation and PASS/FAIL are read."""
        data = (
            b"FORMAT;mmdd\n"
            b"START;Programme;23462-TS;1.0.2;23462-TS;Test Operator op1;10/12/2024;16:15:03\n"
            b"LOT;\n"
            b"ANL;1;ADA_ICT;2;2;Adapter check;;PASS;9.046875e+00;1.000000e+00;1.200000e+01;V;;1\n"
            b"ANL;1;DSC-C241;18;6;DSC-C241 discharge;;FAIL;-2.5e-01;-1.0e-01;1.0e-01;V;44 30 ;2\n"
            b"END;PASS\n"
        )
        (report,) = convert(data, args(**doc_mapping("keep_rows")), "testdata_SN9871234012.csv")
        assert (report.sn, report.pn, report.result) == ("9871234012", "23462-TS", "F")
        adapter, discharge = leaves(report.root)
        meas = (adapter.numeric_meas or ())[0]
        assert (meas.value, meas.low_limit, meas.high_limit, meas.unit) == (9.046875, 1, 12, "V")
        assert (discharge.status, [s.name for s in report.root.steps or ()]) == (
            "F",
            ["ADA_ICT", "DSC-C241"],
        )

    def test_serial_from_name_must_match(self) -> None:
        """A file name without the serial pattern is rejected, not given an empty serial."""
        data = b"ANL;1;G;1;1;S;;PASS;1;0;2;V;;1\n"
        with pytest.raises(FileRejected, match="serial number is empty"):
            convert(data, args(**doc_mapping("keep_rows")), "nothing.csv")


class TestDetect:
    def test_only_the_soundcheck_exports_are_claimed(self, samples_dir: Path) -> None:
        """Of the shared samples only the SoundCheck exports (a shipped mapping's header) reach
        the acceptance threshold; every other file scores below it."""
        files = [p for p in samples_dir.rglob("*") if p.is_file() and p.name != "README.md"]
        assert len(files) > 30
        converter = CsvConverter()
        for path in files:
            with path.open("rb") as handle:
                head = handle.read(4096)
            expected = 0.9 if path.parent.name == "tabular_csv" else 0.0
            score = converter.detect(head, path.name)
            assert score == expected if expected else score < 0.5, path


class TestRecognisedWithoutAMapping:
    """Auto-detection gives the csv converter no mapping: it recognises a shipped mapping's
    layout by its header, and the locale by the first rows."""

    @pytest.mark.parametrize(
        ("name", "preset"),
        [
            (US_COMPLETE, "soundcheck-us"),
            (US_WATS18, "soundcheck-us"),
            (EU_LOGGING, "soundcheck-eu"),
        ],
    )
    def test_each_export_converts_as_its_preset_would(
        self, samples_dir: Path, name: str, preset: str
    ) -> None:
        """Without arguments each export scores 0.9 and converts exactly as with its preset
        named; arguments given explicitly (the station) still apply."""
        data = (samples_dir / "tabular_csv" / name).read_bytes()
        assert CsvConverter().detect(data[:65536], name) == 0.9
        given = {"defaults": {"station": "line-4"}}
        recognised = convert(data, args(**given), name)
        named = convert(data, args(mapping=preset, **given), name)
        assert [without_id(r) for r in recognised] == [without_id(r) for r in named]
        assert {r.machine_name for r in recognised} == {"line-4"}

    def test_a_canonical_file_and_a_named_layout_are_left_alone(self) -> None:
        """The canonical header is read as ever, and explicit columns are never replaced."""
        canonical = b"SerialNumber,StepName,Value\nSN1,V,1.5\n"
        assert CsvConverter()._recognised(canonical, CsvArguments()).mapping is None
        soundcheck = b"Serial #:\tTime:\tLot #:\tName\tMargin\nS1\t1/2/2020 1:00:00 PM\tL\tA\t1.0\n"
        assert CsvConverter()._recognised(soundcheck, CsvArguments()).mapping == "soundcheck-us"
        mapped = args(columns={"sn": "Serial #:", "step_name": "Name", "value": "Margin"})
        assert CsvConverter()._recognised(soundcheck, mapped) is mapped
