"""The OpenHTF JSON converter: phases, measurements, limits from validator strings."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from converters import (
    Converted,
    FileRejected,
    OpenHtfArguments,
    OpenHtfConverter,
    Rejected,
    open_converter_pool,
    openhtf_report,
)
from converters._openhtf_limits import numeric_limits
from pywats_actors.report import (
    Attachment,
    Step,
    UUTReport,
    decode_report,
    parse_timestamp,
    validate,
)

from .conftest import NAMESPACE, settings

ARGS = OpenHtfArguments()
PASS = "openhtf_psu100_pass.json"
FAIL = "openhtf_psu100_fail.json"


def sample(samples_dir: Path, name: str) -> bytes:
    return (samples_dir / "openhtf" / name).read_bytes()


def record(samples_dir: Path, name: str = PASS) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(sample(samples_dir, name))
    return decoded


def steps_by_name(report: UUTReport) -> dict[str, Step]:
    found: dict[str, Step] = {}
    for phase in report.root.steps or ():
        for step in phase.steps or ():
            found[step.name] = step
    return found


class TestSamples:
    @pytest.mark.parametrize("name", [PASS, FAIL])
    def test_header_and_phases(self, samples_dir: Path, name: str) -> None:
        """Serial, part number, revision, station, one sequence per phase, all valid."""
        (report,) = OpenHtfConverter().convert(sample(samples_dir, name), name, ARGS)
        assert isinstance(report, UUTReport)
        assert validate(report) == []
        assert report.sn == ("PSU100-000416" if name == PASS else "PSU100-000417")
        assert (report.pn, report.rev, report.machine_name) == ("PSU-100", "C", "vm")
        assert report.process_code == 10
        assert report.root.name == "PSU-100 functional test"
        phases = [(p.name, p.step_type, p.group) for p in report.root.steps or ()]
        assert phases == [
            ("trigger_phase", "SequenceCall", "S"),
            ("power_rails", "SequenceCall", "M"),
            ("firmware_check", "SequenceCall", "M"),
            ("ripple_sweep", "SequenceCall", "M"),
            ("thermal", "SequenceCall", "M"),
        ]
        raw = record(samples_dir, name)
        assert report.uut.exec_time == (raw["end_time_millis"] - raw["start_time_millis"]) / 1000
        expected = dt.datetime.fromtimestamp(raw["start_time_millis"] / 1000, dt.UTC)
        assert parse_timestamp(str(report.start_utc)) == expected
        assert parse_timestamp(str(report.start)) == expected

    def test_pass_sample_limits_and_values(self, samples_dir: Path) -> None:
        """Every measurement of the README with its value, limits, operator and unit."""
        (report,) = OpenHtfConverter().convert(sample(samples_dir, PASS), PASS, ARGS)
        assert isinstance(report, UUTReport)
        assert report.result == "P"
        steps = steps_by_name(report)
        expected = {
            "vout_3v3": ("GELE", 3.2, 3.4, "V"),
            "vout_5v0": ("GELE", 4.75, 5.25, "V"),
            "idle_current": ("LE", 0.15, msgspec.UNSET, "A"),
            "temperature_rise": ("GELE", 0.0, 25.0, "°C"),
        }
        for name, (op, low, high, unit) in expected.items():
            (m,) = steps[name].numeric_meas or ()
            assert steps[name].step_type == "ET_NLT"
            assert (m.comp_op, m.low_limit, m.high_limit, m.unit, m.status) == (
                op,
                low,
                high,
                unit,
                "P",
            )
        assert (steps["idle_current"].numeric_meas or ())[0].value == 0.0824
        (fw,) = steps["firmware_version"].string_meas or ()
        assert (fw.comp_op, fw.value, fw.limit) == ("CASESENSIT", "2.4.1", "2.4.1")
        assert steps["self_test_ok"].step_type == "ET_PFT"
        assert steps["self_test_ok"].report_text is msgspec.UNSET  # x == True was understood
        chart = steps["ripple_sweep"].chart
        assert steps["ripple_sweep"].step_type == "WATS_XYGMNLT"
        assert not isinstance(chart, type(msgspec.UNSET))
        (series,) = chart.series or ()
        assert series.xdata == "100.0;1000.0;10000.0;100000.0"
        assert series.ydata == "0.012;0.009;0.015;0.021"
        assert (chart.x_unit, chart.y_unit) == ("Hz", "V")

    def test_fail_sample_names_the_failing_step(self, samples_dir: Path) -> None:
        """vout_5v0 = 5.31 V fails; its phase fails; the report fails and points at it."""
        (report,) = OpenHtfConverter().convert(sample(samples_dir, FAIL), FAIL, ARGS)
        assert isinstance(report, UUTReport)
        assert report.result == "F"
        phases = {p.name: p.status for p in report.root.steps or ()}
        assert phases["power_rails"] == "F"
        assert [s for s, st in phases.items() if st != "P"] == ["power_rails"]
        step = steps_by_name(report)["vout_5v0"]
        (m,) = step.numeric_meas or ()
        assert (step.status, m.status, m.value) == ("F", "F", 5.31)
        assert report.uut.step_id_caused_uut_failure == step.id

    async def test_through_the_pool(self, samples_dir: Path) -> None:
        """In the sandbox both samples are detected, converted and valid."""
        async with open_converter_pool(
            settings(), converters=["openhtf"], station_namespace=NAMESPACE
        ) as pool:
            for name in (PASS, FAIL):
                with trio.fail_after(30):
                    result = await pool.convert(sample(samples_dir, name), name)
                assert isinstance(result, Converted), result
                assert result.detected
                (converted,) = result.reports
                report = decode_report(converted.wsjf)
                assert validate(report) == []
                assert report.result == ("P" if name == PASS else "F")


class TestMapping:
    @pytest.mark.parametrize(
        ("outcome", "result"),
        [("PASS", "P"), ("FAIL", "F"), ("ERROR", "E"), ("TIMEOUT", "T"), ("ABORTED", "T")],
    )
    def test_outcomes(self, samples_dir: Path, outcome: str, result: str) -> None:
        """Each OpenHTF outcome has its result letter; the original is kept in misc info."""
        raw = record(samples_dir)
        raw["outcome"] = outcome
        report = openhtf_report(raw, ARGS)
        assert report.result == result
        infos = {i.description: i.text for i in report.misc_infos or ()}
        assert infos["openhtf_outcome"] == outcome

    def test_a_struct_record_is_accepted(self, samples_dir: Path) -> None:
        """The mapping function takes a msgspec Struct as well as a dict (output callbacks)."""

        class Record(msgspec.Struct):
            dut_id: str
            start_time_millis: int
            end_time_millis: int
            outcome: str
            station_id: str
            metadata: dict[str, Any]
            phases: list[Any]

        raw = record(samples_dir)
        struct = msgspec.convert(raw, Record)
        assert openhtf_report(struct, ARGS).sn == "PSU100-000416"

    def test_defaults_from_arguments(self, samples_dir: Path) -> None:
        """Without part_number/revision in the metadata the arguments supply them."""
        raw = record(samples_dir)
        del raw["metadata"]["part_number"], raw["metadata"]["revision"]
        args = OpenHtfArguments(part_number="PN-9", revision="B", process_code=30)
        report = openhtf_report(raw, args)
        assert (report.pn, report.rev, report.process_code) == ("PN-9", "B", 30)
        with pytest.raises(FileRejected, match="part_number") as info:
            openhtf_report(raw, ARGS)
        assert info.value.where == "$.metadata"

    def test_unknown_validator_kept_as_text(self, samples_dir: Path) -> None:
        """A validator that is not a plain comparison is logged, never turned into limits."""
        raw = record(samples_dir)
        measurement = raw["phases"][1]["measurements"]["vout_3v3"]
        measurement["validators"] = ["x is within 5% of 3.3"]
        step = steps_by_name(openhtf_report(raw, ARGS))["vout_3v3"]
        (m,) = step.numeric_meas or ()
        assert (m.comp_op, m.low_limit, m.high_limit) == ("LOG", msgspec.UNSET, msgspec.UNSET)
        assert step.report_text == "x is within 5% of 3.3"
        assert step.status == "P"  # from the measurement's outcome

    @pytest.mark.parametrize(
        ("validator", "expected"),
        [
            ("4.9 <= x <= 5.1", ("GELE", 4.9, 5.1)),
            ("-1e-3 < x < 2", ("GTLT", -0.001, 2.0)),
            ("1 <= x < 2", ("GELT", 1.0, 2.0)),
            ("x <= 5.1", ("LE", 5.1, None)),
            ("x < 5", ("LT", 5.0, None)),
            ("5.1 >= x", ("LE", 5.1, None)),
            ("0 <= x", ("GE", 0.0, None)),
            ("x >= 0", ("GE", 0.0, None)),
            ("x > 0", ("GT", 0.0, None)),
            ("x == 5", ("EQ", 5.0, None)),
            ("x != 5", ("NE", 5.0, None)),
            ("x == True", None),
            ("x is within 1% of 5", None),
            ("'x' matches /^5$/", None),
            ("x <= nan", None),
        ],
    )
    def test_validator_strings(
        self, validator: str, expected: tuple[str, float, float | None] | None
    ) -> None:
        """The validator strings OpenHTF writes map to operators; others to nothing."""
        assert numeric_limits(validator) == expected

    def test_non_literal_regex_is_logged(self, samples_dir: Path) -> None:
        """A regex that is not an anchored literal is not a limit: the string is logged."""
        raw = record(samples_dir)
        raw["phases"][2]["measurements"]["firmware_version"]["validators"] = [
            "'x' matches /^2\\..*$/"
        ]
        step = steps_by_name(openhtf_report(raw, ARGS))["firmware_version"]
        (m,) = step.string_meas or ()
        assert (m.comp_op, m.limit) == ("LOG", msgspec.UNSET)
        assert step.report_text == "'x' matches /^2\\..*$/"

    def test_unset_measurement_is_skipped(self, samples_dir: Path) -> None:
        """A measurement without a value (outcome UNSET) is a skipped step."""
        raw = record(samples_dir)
        measurement = raw["phases"][4]["measurements"]["temperature_rise"]
        measurement["outcome"] = "UNSET"
        del measurement["measured_value"]
        report = openhtf_report(raw, ARGS)
        assert validate(report) == []
        assert steps_by_name(report)["temperature_rise"].status == "S"

    def test_phase_error_and_skip(self, samples_dir: Path) -> None:
        """Phase outcomes ERROR and SKIP become E and S."""
        raw = record(samples_dir)
        raw["phases"][3]["outcome"] = "SKIP"
        raw["phases"][4]["outcome"] = "ERROR"
        raw["outcome"] = "ERROR"
        raw["outcome_details"] = [{"code": "OSError", "description": "probe lost"}]
        report = openhtf_report(raw, ARGS)
        statuses = [p.status for p in report.root.steps or ()]
        assert statuses[3:] == ["S", "E"]
        assert report.uut.comment == "OSError: probe lost"

    def test_small_attachment_kept_large_one_named(self, samples_dir: Path) -> None:
        """ripple_notes.txt rides on a step of its phase; over the limit it is only named."""
        raw = record(samples_dir)
        notes = raw["phases"][3]["attachments"]["ripple_notes.txt"]
        step = steps_by_name(openhtf_report(raw, ARGS))["ripple_notes.txt"]
        attachment = step.attachment
        assert isinstance(attachment, Attachment)
        assert (attachment.name, attachment.content_type) == ("ripple_notes.txt", "text/plain")
        assert attachment.data == notes["data"]
        small = openhtf_report(raw, OpenHtfArguments(attachment_limit=10))
        step = steps_by_name(small)["ripple_notes.txt"]
        assert step.attachment is msgspec.UNSET
        assert "over attachment_limit 10" in str(step.report_text)
        assert validate(small) == []


def malformed(samples_dir: Path) -> list[tuple[bytes, str, str]]:
    data = sample(samples_dir, PASS)
    variants: list[tuple[bytes, str, str]] = [
        (data[: len(data) // 2], "$", "not valid JSON"),
        (b"[1, 2, 3]", "$", "JSON object"),
        (b'{"type": "T", "pn": "x"}', "$", "not an OpenHTF test record"),
    ]
    edits: list[tuple[str, Any, str, str]] = [
        ("dut_id", 17, "$.dut_id", "must be a string"),
        ("dut_id", "", "$.dut_id", "is empty"),
        ("start_time_millis", "soon", "$.start_time_millis", "milliseconds"),
        ("outcome", "MAYBE", "$.outcome", "unknown test outcome"),
        ("phases", {"a": 1}, "$.phases", "JSON array"),
        ("metadata", [], "$.metadata", "JSON object"),
    ]
    raw = json.loads(data)
    for key, value, where, reason in edits:
        bad = copy.deepcopy(raw)
        bad[key] = value
        variants.append((json.dumps(bad).encode(), where, reason))
    bad = copy.deepcopy(raw)
    bad["phases"][1]["measurements"]["vout_3v3"]["validators"] = [3.2]
    variants.append(
        (json.dumps(bad).encode(), "$.phases[1].measurements.vout_3v3.validators[0]", "string")
    )
    bad = copy.deepcopy(raw)
    bad["phases"][2] = "firmware_check"
    variants.append((json.dumps(bad).encode(), "$.phases[2]", "JSON object"))
    bad = copy.deepcopy(raw)
    bad["phases"][1]["start_time_millis"] = 1e300
    variants.append((json.dumps(bad).encode(), "$.phases[1].start_time_millis", "out of range"))
    bad = copy.deepcopy(raw)
    bad["phases"][3]["attachments"]["ripple_notes.txt"]["data"] = "not base64!"
    where = "$.phases[3].attachments['ripple_notes.txt'].data"
    variants.append((json.dumps(bad).encode(), where, "not Base64"))
    bad = copy.deepcopy(raw)
    bad["phases"][0]["outcome"] = "MEH"
    variants.append((json.dumps(bad).encode(), "$.phases[0].outcome", "unknown phase outcome"))
    return variants


class TestMalformed:
    def test_rejected_with_the_json_path(self, samples_dir: Path) -> None:
        """Truncated JSON, non-records and wrong types: FileRejected naming where."""
        for data, where, reason in malformed(samples_dir):
            with pytest.raises(FileRejected) as info:
                OpenHtfConverter().convert(data, "f.json", ARGS)
            assert info.value.where == where, data[:80]
            assert reason in info.value.reason

    async def test_through_the_pool(self, samples_dir: Path) -> None:
        """Through the pool, a bad record is Rejected by the converter, with its path."""
        async with open_converter_pool(
            settings(), converters=["openhtf"], station_namespace=NAMESPACE
        ) as pool:
            for data, where, _reason in malformed(samples_dir)[:4]:
                with trio.fail_after(30):
                    result = await pool.convert(data, "f.json", "openhtf")
                assert isinstance(result, Rejected)
                assert (result.cause, result.where) == ("converter", where)


class TestDetect:
    @pytest.mark.parametrize("name", [PASS, FAIL])
    def test_own_samples(self, samples_dir: Path, name: str) -> None:
        """Both OpenHTF samples score at least 0.9 from their first 64 KiB."""
        head = sample(samples_dir, name)[:65536]
        assert OpenHtfConverter().detect(head, name) >= 0.9

    def test_every_other_sample_scores_below_threshold(self, samples_dir: Path) -> None:
        """No other sample file (WSJF JSON included) reaches 0.5."""
        others = [
            path
            for path in sorted(samples_dir.rglob("*"))
            if path.is_file() and path.parent.name != "openhtf"
        ]
        assert any(path.suffix == ".json" for path in others)
        for path in others:
            with path.open("rb") as file:
                head = file.read(65536)
            assert OpenHtfConverter().detect(head, path.name) < 0.5, path
