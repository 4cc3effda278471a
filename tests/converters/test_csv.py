"""The CSV/TSV converter: the canonical long format, mappings, locales, errors with line numbers,
and the real SoundCheck exports."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from converters import (
    Converted,
    ConverterConfig,
    CsvArguments,
    CsvConverter,
    FileRejected,
    open_converter_pool,
    validate_arguments,
)
from pywats_actors.report import Step, UUTReport, validate

from .conftest import NAMESPACE, settings

CANONICAL = b"""\
SerialNumber,PartNumber,Revision,TestDate,OperationType,Operator,Station,Sequence,StepName,StepType,Value,LowLimit,HighLimit,Unit,CompOp,Result
SN001,PCB-100,B,2024-05-01T10:00:00+02:00,30,alice,ST-1,Power,VCC,NumericLimitTest,3.31,3.2,3.4,V,,PASS
SN001,PCB-100,B,2024-05-01T10:00:00+02:00,30,alice,ST-1,Power,ICC,,0.152,,0.2,A,LE,PASS
SN001,PCB-100,B,2024-05-01T10:00:00+02:00,30,alice,ST-1,Identity,Firmware,,v1.2.3,v1.2.3,,,,PASS
SN001,PCB-100,B,2024-05-01T10:00:00+02:00,30,alice,ST-1,,Visual,,,,,,,PASS
SN002,PCB-100,B,2024-05-01T10:05:00+02:00,30,alice,ST-1,Power,VCC,,3.55,3.2,3.4,V,,FAIL
SN002,PCB-100,B,2024-05-01T10:05:00+02:00,30,alice,ST-1,Power,ICC,,0.150,,0.2,A,LE,PASS
SN002,PCB-100,B,2024-05-01T10:05:00+02:00,30,alice,ST-1,,Visual,,,,,,,FAIL
"""

SOUNDCHECK_US: dict[str, Any] = {
    "columns": {
        "sn": "Serial #:",
        "start": "Time:",
        "pn": "Lot #:",
        "operator": "Operator:",
        "step_name": "Name",
        "value": "Margin",
        "unit": "Unit",
        "status": "Result",
        "limits": "Limits",
    },
    "limits_order": "high/low",
    "date_format": "%m/%d/%Y %I:%M:%S %p",
    "timezone": "America/Chicago",
}


def args(**raw: Any) -> CsvArguments:
    result: CsvArguments = validate_arguments("csv", CsvArguments, raw)
    return result


def convert(data: bytes, arguments: CsvArguments | None = None) -> list[UUTReport]:
    reports = CsvConverter().convert(data, "file.csv", arguments or args())
    assert all(isinstance(r, UUTReport) for r in reports)
    out = [r for r in reports if isinstance(r, UUTReport)]
    for report in out:
        assert validate(report) == []
    return out


def leaves(step: Step) -> list[Step]:
    if step.step_type == "SequenceCall":
        return [leaf for child in step.steps or () for leaf in leaves(child)]
    return [step]


def soundcheck(**changes: Any) -> CsvArguments:
    raw = msgspec.json.decode(msgspec.json.encode(SOUNDCHECK_US))
    raw["columns"].update(changes.pop("columns", {}))
    raw.update(changes)
    return args(**raw)


class TestCanonicalFormat:
    def test_rows_group_into_reports(self) -> None:
        """Rows group by serial number and start time, in order of appearance."""
        first, second = convert(CANONICAL)
        assert (first.sn, second.sn) == ("SN001", "SN002")
        assert (first.result, second.result) == ("P", "F")

    def test_header_fields(self) -> None:
        """Part number, revision, operation, operator, station and start come from the row."""
        report = convert(CANONICAL)[0]
        assert (report.pn, report.rev, report.process_code) == ("PCB-100", "B", 30)
        assert (report.machine_name, report.uut.user) == ("ST-1", "alice")
        assert report.start == "2024-05-01T10:00:00.000000+02:00"
        assert report.start_utc == "2024-05-01T08:00:00.000000Z"

    def test_sequences_and_step_types(self) -> None:
        """The Sequence column makes sequence calls; step types are declared or inferred."""
        root = convert(CANONICAL)[0].root
        assert [(s.name, s.step_type) for s in root.steps or ()] == [
            ("Power", "SequenceCall"),
            ("Identity", "SequenceCall"),
            ("Visual", "ET_PFT"),
        ]
        assert [(s.name, s.step_type) for s in leaves(root)] == [
            ("VCC", "ET_NLT"),
            ("ICC", "ET_NLT"),
            ("Firmware", "ET_SVT"),
            ("Visual", "ET_PFT"),
        ]
        assert [s.id for s in leaves(root)] == [3, 4, 6, 7]

    def test_limits_follow_wsjf_rules(self) -> None:
        """Two limits make GELE; a single LE limit is stored in lowLimit; a string limit
        compares case-sensitively."""
        vcc, icc, firmware, _ = leaves(convert(CANONICAL)[0].root)
        assert vcc.numeric_meas is not None
        assert icc.numeric_meas is not None
        assert firmware.string_meas is not None
        expected = {
            "comp_op": "GELE",
            "low_limit": 3.2,
            "high_limit": 3.4,
            "unit": "V",
            "status": "P",
        }
        assert expected.items() <= msgspec.structs.asdict(vcc.numeric_meas[0]).items()
        icc_meas = icc.numeric_meas[0]
        assert (icc_meas.comp_op, icc_meas.low_limit, icc_meas.high_limit) == (
            "LE",
            0.2,
            msgspec.UNSET,
        )
        assert (firmware.string_meas[0].comp_op, firmware.string_meas[0].limit) == (
            "CASESENSIT",
            "v1.2.3",
        )

    def test_failures_roll_up(self) -> None:
        """A failed row fails its sequence and the report; the first failed step is the cause."""
        report = convert(CANONICAL)[1]
        power = (report.root.steps or ())[0]
        assert (power.status, report.root.status) == ("F", "F")
        vcc = leaves(report.root)[0]
        assert vcc.caused_uut_failure is True
        assert report.uut.step_id_caused_uut_failure == vcc.id

    def test_active_mode_computes_the_status(self) -> None:
        """Without a status column the status follows from the value and the limits."""
        data = (
            b"SerialNumber,PartNumber,StepName,Value,LowLimit,HighLimit\n"
            b"A,P,V,5,1,2\n"
            b"A,P,W,1.5,1,2\n"
        )
        (report,) = convert(data)
        assert [s.status for s in leaves(report.root)] == ["F", "P"]
        assert report.result == "F"

    def test_import_mode_honours_the_source(self) -> None:
        """A status column is the source's verdict even when the limits disagree."""
        data = (
            b"SerialNumber,PartNumber,StepName,Value,LowLimit,HighLimit,Result\nA,P,V,5,1,2,PASS\n"
        )
        (report,) = convert(data)
        (step,) = leaves(report.root)
        assert step.status == "P"
        assert step.numeric_meas is not None
        assert step.numeric_meas[0].status == "P"

    def test_same_serial_at_another_time_is_another_report(self) -> None:
        """group_by sn and start: a retest of the same unit is a report of its own."""
        data = (
            b"SerialNumber,PartNumber,TestDate,StepName,Value\n"
            b"A,P,2024-01-01T10:00:00Z,V,1\n"
            b"A,P,2024-01-01T11:00:00Z,V,2\n"
        )
        assert len(convert(data)) == 2
        assert len(convert(data, args(group_by=["sn"]))) == 1


class TestReading:
    def test_semicolons_and_decimal_commas(self) -> None:
        """The delimiter is guessed from the header; decimal commas are read as numbers."""
        data = "SerialNumber;PartNumber;StepName;Value;LowLimit;HighLimit\nA;P;V;3,31;3,2;3,4\n"
        (report,) = convert(data.encode("cp1252"), args(decimal_separator=",", encoding="cp1252"))
        meas = (leaves(report.root)[0].numeric_meas or ())[0]
        assert (meas.value, meas.low_limit, meas.high_limit) == (3.31, 3.2, 3.4)

    def test_quoted_fields_and_a_byte_order_mark(self) -> None:
        """Quoted cells may hold the delimiter; a UTF-8 byte order mark is ignored."""
        data = b'\xef\xbb\xbfSerialNumber,PartNumber,StepName,Value\n"A,1",P,"Volts, max",ok\n'
        (report,) = convert(data)
        assert report.sn == "A,1"
        assert leaves(report.root)[0].name == "Volts, max"

    def test_no_header_with_column_indexes(self) -> None:
        """Without a header row, columns are given by index; comment lines are skipped."""
        data = b"# exported by rig 4\nA\tP\tV\t1.5\nA\tP\tI\t0.1\n"
        arguments = args(
            header=False,
            comment_prefix="#",
            columns={"sn": 0, "pn": 1, "step_name": 2, "value": 3},
        )
        (report,) = convert(data, arguments)
        assert [s.name for s in leaves(report.root)] == ["V", "I"]

    def test_defaults_fill_the_gaps(self) -> None:
        """Defaults supply what the file lacks: part number, revision, operation, station."""
        data = b"SerialNumber,StepName,Value\nA,V,1\n"
        arguments = args(
            defaults={
                "part_number": "PN-9",
                "revision": "C",
                "process_code": 50,
                "station": "rig-4",
                "location": "Oslo",
                "purpose": "FCT",
            }
        )
        (report,) = convert(data, arguments)
        assert (report.pn, report.rev, report.process_code) == ("PN-9", "C", 50)
        assert (report.machine_name, report.location, report.purpose) == ("rig-4", "Oslo", "FCT")


class TestErrors:
    @pytest.mark.parametrize(
        ("data", "arguments", "where", "reason"),
        [
            (
                b"SerialNumber,PartNumber,StepName,Value,Result\nA,P,V,1,MAYBE\n",
                {},
                "line 2",
                "status 'MAYBE'",
            ),
            (
                b"SerialNumber,PartNumber,StepName,Value,LowLimit\nA,P,V,1,low\n",
                {},
                "line 2",
                "limit 'low' is not a number",
            ),
            (
                b"SerialNumber,PartNumber,TestDate,StepName\nA,P,yesterday,V\n",
                {},
                "line 2",
                "does not match ISO 8601",
            ),
            (b"SerialNumber,PartNumber,StepName,Value\nA,P,V,\n", {}, "line 2", "needs a status"),
            (
                b"SerialNumber,PartNumber,StepName,StepType,Value\nA,P,V,Gauge,1\n",
                {},
                "line 2",
                "unknown step type 'Gauge'",
            ),
            (
                b"SerialNumber,PartNumber,StepName,Value,LowLimit,HighLimit\nA,P,V,1,5,2\n",
                {},
                "line 2",
                "low 5.0 is above high 2.0",
            ),
            (b"SerialNumber,StepName,Value\nA,V,1\n", {}, "line 2", "no part number"),
            (b"SerialNumber,PartNumber,StepName\n", {}, None, "no data rows"),
            (b"Serial,Part\nA,P\n", {}, None, "column 'SerialNumber' is not in the header"),
            (b"SerialNumber,PartNumber,StepName\nA,P,\xff\n", {}, "byte 37", "not utf-8-sig text"),
            (
                b"S,N\nA,V\n",
                {"columns": {"sn": "S", "step_name": "N", "unit": "U"}},
                None,
                "columns.unit: column 'U'",
            ),
        ],
    )
    def test_bad_input_is_rejected_with_the_line(
        self, data: bytes, arguments: dict[str, Any], where: str | None, reason: str
    ) -> None:
        """Each kind of bad cell or layout is a FileRejected saying what and where."""
        with pytest.raises(FileRejected) as info:
            convert(data, args(**arguments))
        assert reason in info.value.reason
        assert info.value.where == where

    def test_no_header_needs_indexes(self) -> None:
        """Without a header row, naming columns is an argument error."""
        from converters import ConverterArgumentsError

        with pytest.raises(ConverterArgumentsError, match="give every column by its index"):
            args(header=False)


class TestDetect:
    @pytest.mark.parametrize(
        ("head", "name", "score"),
        [
            (b"SerialNumber,PartNumber,StepName,Value\nA,P,V,1\n", "x.txt", 0.8),
            (b"PartNumber;StepName;Value;Result\n", "x.txt", 0.6),
            (b"a\tb\tc\n1\t2\t3\n", "x.tsv", 0.25),
            (b"a,b,c\n1,2\n", "x.dat", 0.1),
            (b'{"type": "T"}', "x.json", 0.0),
        ],
    )
    def test_scores(self, head: bytes, name: str, score: float) -> None:
        """The canonical header is recognised; other delimited text stays below 0.5."""
        assert CsvConverter().detect(head, name) == pytest.approx(score)


class TestSoundCheckSamples:
    def test_complete_test_us(self, samples_dir: Path) -> None:
        """US export: 8 UUTs (S/N 13..20) x 5 measurements, US dates, text limits 100.0/90.0,
        operator Rick, all passed."""
        data = (
            samples_dir / "tabular_csv" / "soundcheck_us_complete_test_2020-07-22.txt"
        ).read_bytes()
        reports = convert(data, soundcheck())
        assert [r.sn for r in reports] == [f"S/N {n}" for n in range(13, 21)]
        assert all(len(leaves(r.root)) == 5 for r in reports)
        assert all(r.result == "P" for r in reports)
        first = reports[0]
        assert (first.pn, first.uut.user) == ("P/N #12345", "Rick")
        assert first.start == "2020-07-22T10:22:14.000000-05:00"
        sensitivity = (leaves(first.root)[0].numeric_meas or ())[0]
        assert (sensitivity.comp_op, sensitivity.low_limit, sensitivity.high_limit) == (
            "GELE",
            90.0,
            100.0,
        )
        assert (sensitivity.value, sensitivity.unit) == (95.5, "dB")

    def test_wats18_repeated_headers_and_failures(self, samples_dir: Path) -> None:
        """34 header rows repeated through the file and curve blocks are skipped: 11 UUTs
        (WATS2..WATS12) x 4 measurements, 35 of them failed, every UUT failed."""
        data = (samples_dir / "tabular_csv" / "soundcheck_us_wats18_2020-11-02.txt").read_bytes()
        reports = convert(data, soundcheck(columns={"operator": None}))
        assert [r.sn for r in reports] == [f"WATS{n}" for n in range(2, 13)]
        statuses = [s.status for r in reports for s in leaves(r.root)]
        assert (len(statuses), statuses.count("F"), statuses.count("P")) == (44, 35, 9)
        assert all(r.result == "F" for r in reports)
        assert reports[0].start == "2020-11-02T16:36:07.000000-06:00"  # standard time by then

    def test_wats18_curve_rows_can_be_refused(self, samples_dir: Path) -> None:
        """With mismatched_rows = "reject", the first curve block is a FileRejected at its line."""
        data = (samples_dir / "tabular_csv" / "soundcheck_us_wats18_2020-11-02.txt").read_bytes()
        with pytest.raises(FileRejected) as info:
            convert(data, soundcheck(columns={"operator": None}, mismatched_rows="reject"))
        assert info.value.where == "line 7"

    def test_eu_curve_export_has_no_measurement_rows(self, samples_dir: Path) -> None:
        """The EU data-logging export holds only curves (decimal comma): the scalar mapping finds
        no 'Name' column, and says so."""
        data = (
            samples_dir / "tabular_csv" / "soundcheck_eu_data_logging_2021-01-12.txt"
        ).read_bytes()
        with pytest.raises(FileRejected, match=r"columns\.step_name: column 'Name' is not in"):
            convert(data, soundcheck(columns={"operator": None}, decimal_separator=","))

    def test_missing_column_is_rejected(self, samples_dir: Path) -> None:
        """A mapping that does not fit the file (no Operator: column in WATS18) rejects the
        file with the column named."""
        data = (samples_dir / "tabular_csv" / "soundcheck_us_wats18_2020-11-02.txt").read_bytes()
        with pytest.raises(FileRejected, match=r"columns\.operator: column 'Operator:'"):
            convert(data, soundcheck())

    async def test_samples_in_the_sandbox(self, samples_dir: Path) -> None:
        """Through the pool (Landlock included: the time zone database and the shipped
        mappings must stay readable), the US samples convert with a preset and deterministic
        ids."""
        arguments = {"mapping": "soundcheck-us", "timezone": "America/Chicago"}
        config = ConverterConfig("csv", name="soundcheck", args=arguments)
        folder = samples_dir / "tabular_csv"
        async with open_converter_pool(
            settings(), converters=[config], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(60):
                data = (folder / "soundcheck_us_complete_test_2020-07-22.txt").read_bytes()
                first = await pool.convert(data, "complete.txt", "soundcheck")
                again = await pool.convert(data, "complete.txt", "soundcheck")
                wats18 = (folder / "soundcheck_us_wats18_2020-11-02.txt").read_bytes()
                curves = await pool.convert(wats18, "wats18.txt", "soundcheck")
        assert isinstance(first, Converted)
        assert isinstance(again, Converted)
        assert len(first.reports) == 8
        assert first.ids == again.ids
        assert len(set(first.ids)) == 8
        report = msgspec.json.decode(first.reports[0].wsjf)
        assert dt.datetime.fromisoformat(report["start"]).utcoffset() == dt.timedelta(hours=-5)
        assert isinstance(curves, Converted)
        assert len(curves.reports) == 11
