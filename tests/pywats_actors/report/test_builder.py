"""Tests of ReportBuilder: WSJF bookkeeping done right, and output that is always valid."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pywats_actors.report import (
    UNSET,
    AdditionalData,
    Chart,
    ReportInvalid,
    Step,
    StepStatus,
    UUTReport,
    attachment_from_bytes,
    boolean_measurement,
    chart_series,
    decode_report,
    encode_report,
    numeric_measurement,
    string_measurement,
    validate,
)

from ._strategies import CET, HEADER_TEXT, REPORT_ID, STARTS, make_builder, programs, run


def _steps(report: UUTReport) -> list[Step]:
    return list(report.root.walk())


class TestHeader:
    def test_header_fields_land_where_wsjf_wants_them(self) -> None:
        """Identity, station, operator and both start times are written as WSJF fields."""
        report = make_builder(process_name="SW Debug", fixture_id="F1").build(exec_time=3.25)
        written = json.loads(encode_report(report))
        assert written["id"] == str(REPORT_ID)
        assert (written["pn"], written["sn"], written["rev"]) == ("DEMO-BOARD-01", "SN000123", "B")
        assert (written["processCode"], written["processName"]) == (10, "SW Debug")
        assert written["machineName"] == "STATION-07"
        assert written["start"] == "2026-03-02T14:05:00.123456+01:00"
        assert written["startUTC"] == "2026-03-02T13:05:00.123456Z"
        assert written["uut"] == {"user": "operator1", "fixtureId": "F1", "execTime": 3.25}

    def test_id_is_generated_when_not_given(self) -> None:
        """Without report_id each builder gets its own random GUID, kept across builds."""
        builder = make_builder(report_id=None)
        assert builder.build().id == builder.build().id
        assert builder.id != make_builder(report_id=None).id

    def test_naive_start_is_refused(self) -> None:
        """A start time without offset is ambiguous, so the builder refuses it at once."""
        with pytest.raises(ValueError, match="aware datetime"):
            make_builder(start=dt.datetime(2026, 3, 2, 14, 5))

    def test_header_lists(self) -> None:
        """Misc infos, sub-units, assets and additional data are written in order."""
        builder = make_builder()
        builder.add_misc_info("FirmwareVersion", text="2.4.1")
        builder.add_misc_info("Slot", numeric=3)
        builder.add_sub_unit(part_type="PCBA", pn="SubPartNo1", sn="SubPartSN1", rev="Rev2")
        builder.add_asset("DMM-0042", usage_count=17)
        builder.add_additional_data(AdditionalData(name="Env", props=()))
        written = json.loads(encode_report(builder.build()))
        assert written["miscInfos"] == [
            {"description": "FirmwareVersion", "text": "2.4.1"},
            {"description": "Slot", "numeric": 3},
        ]
        assert written["subUnits"] == [
            {"partType": "PCBA", "pn": "SubPartNo1", "sn": "SubPartSN1", "rev": "Rev2"}
        ]
        assert written["assets"] == [{"assetSN": "DMM-0042", "usageCount": 17}]
        assert written["additionalData"] == [{"name": "Env", "props": []}]

    def test_invalid_input_is_refused_at_build(self) -> None:
        """Input that would make an invalid report raises ReportInvalid instead of returning it."""
        builder = make_builder(sn="S" * 101)
        builder.add_misc_info("Note", text="t" * 101)
        with pytest.raises(ReportInvalid) as caught:
            builder.build()
        assert [p.path for p in caught.value.problems] == ["$.sn", "$.miscInfos[0].text"]


class TestStepTree:
    def test_ids_are_numbered_depth_first_from_one(self) -> None:
        """Step ids follow document order, the root being 1, as in server exports."""
        builder = make_builder()
        first = builder.root.sequence("First")
        first.pass_fail("a", True)
        inner = first.sequence("Inner")
        inner.pass_fail("b", True)
        first.pass_fail("c", True)
        builder.root.pass_fail("d", True)
        steps = _steps(builder.build())
        assert [(s.id, s.name) for s in steps] == [
            (1, "MainSequence Callback"),
            (2, "First"),
            (3, "a"),
            (4, "Inner"),
            (5, "b"),
            (6, "c"),
            (7, "d"),
        ]

    def test_failure_rolls_up_to_the_report_result(self) -> None:
        """A failed measurement fails its step, every enclosing sequence and the report, and is
        marked as the step that caused the UUT failure."""
        builder = make_builder()
        power = builder.root.sequence("Power")
        power.numeric("Supply", 5.0, unit="V", low=4.75, high=5.25)
        power.numeric("Ripple", 0.08, unit="V", high=0.05)
        builder.root.pass_fail("LED", True)
        report = builder.build()
        by_name = {s.name: s for s in _steps(report)}
        assert by_name["Ripple"].status == "F"
        assert by_name["Ripple"].caused_uut_failure is True
        assert by_name["Supply"].caused_uut_failure is UNSET
        assert (by_name["Power"].status, report.root.status, report.result) == ("F", "F", "F")
        assert report.uut.step_id_caused_uut_failure == by_name["Ripple"].id

    def test_worst_outcome_wins(self) -> None:
        """Terminated beats error beats failed; done and skipped steps leave a sequence passed."""
        builder = make_builder()
        quiet = builder.root.sequence("Quiet")
        quiet.action("Relay on")
        quiet.action("Skipped", status=StepStatus.SKIPPED)
        noisy = builder.root.sequence("Noisy")
        noisy.pass_fail("Bad", False)
        noisy.action("Boom", status="E")
        report = builder.build()
        by_name = {s.name: s for s in _steps(report)}
        assert (by_name["Quiet"].status, by_name["Noisy"].status) == ("P", "E")
        assert report.result == "E"

    def test_passing_report(self) -> None:
        """With nothing failed the root and the report pass."""
        builder = make_builder()
        builder.root.numeric("Temp", 25.0, unit="degC")
        report = builder.build()
        assert (report.root.status, report.result) == ("P", "P")
        assert report.uut.step_id_caused_uut_failure is UNSET

    def test_step_options_are_written(self) -> None:
        """Group, start, duration, report text and attachment reach the step."""
        builder = make_builder()
        builder.root.pass_fail(
            "Photo",
            True,
            group="S",
            start=dt.datetime(2026, 3, 2, 14, 5, 1, tzinfo=CET),
            tot_time=0.25,
            report_text="looks fine",
            attachment=attachment_from_bytes("board.png", b"\x89PNG", "image/png"),
        )
        step = json.loads(encode_report(builder.build()))["root"]["steps"][0]
        assert step["group"] == "S"
        assert step["start"] == "2026-03-02T14:05:01.000000+01:00"
        assert (step["totTime"], step["reportText"]) == (0.25, "looks fine")
        assert step["attachment"] == {
            "name": "board.png",
            "contentType": "image/png",
            "data": "iVBORw==",
        }

    def test_every_step_kind_can_be_built(self) -> None:
        """Each builder method writes its WSJF step type and payload."""
        seq = (builder := make_builder()).root
        seq.numeric("n", 1.0)
        seq.multi_numeric(
            "mn", [numeric_measurement(1.0, name="a"), numeric_measurement(2.0, name="b")]
        )
        seq.pass_fail("pf", True)
        seq.multi_pass_fail("mpf", [boolean_measurement(True, name="a")])
        seq.string("s", "x")
        seq.multi_string("ms", [string_measurement("x", name="a", limit="X", comp_op="IGNORECASE")])
        seq.chart("c", Chart(label="L", series=(chart_series("y", [1.0, 2.0]),)))
        seq.action("a")
        seq.message_popup("m", button=1, response="OK")
        seq.call_executable("e", exit_code=0)
        seq.generic("NI_Wait", "w")
        types = [s.step_type for s in _steps(builder.build())[1:]]
        assert types == [
            "ET_NLT", "ET_MNLT", "ET_PFT", "ET_MPFT", "ET_SVT", "ET_MSVT",
            "WATS_XYGMNLT", "Action", "MessagePopup", "CallExecutable", "NI_Wait",
        ]  # fmt: skip

    def test_multiple_measurements_need_unique_names(self) -> None:
        """A multiple-measurement step refuses nameless or same-named measurements."""
        seq = make_builder().root
        with pytest.raises(ValueError, match="needs a name"):
            seq.multi_numeric("x", [numeric_measurement(1.0)])
        with pytest.raises(ValueError, match="unique"):
            seq.multi_pass_fail("x", [boolean_measurement(True, name="a")] * 2)


class TestMeasurements:
    @pytest.mark.parametrize(
        ("kwargs", "op", "low", "high"),
        [
            ({}, "LOG", UNSET, UNSET),
            ({"low": 1.0, "high": 2.0}, "GELE", 1.0, 2.0),
            ({"low": 1.0}, "GE", 1.0, UNSET),
            ({"high": 2.0}, "LE", 2.0, UNSET),
            ({"comp_op": "LT", "high": 2.0}, "LT", 2.0, UNSET),
            ({"comp_op": "lt", "limit": 2.0}, "LT", 2.0, UNSET),
            ({"comp_op": "EQ", "limit": 1.5}, "EQ", 1.5, UNSET),
            ({"comp_op": "GT", "low": 1.0}, "GT", 1.0, UNSET),
            ({"comp_op": "LTGT", "low": 1.0, "high": 2.0}, "LTGT", 1.0, 2.0),
        ],
    )
    def test_limits_go_where_wsjf_wants_them(
        self, kwargs: dict[str, Any], op: str, low: object, high: object
    ) -> None:
        """The operator follows from the limits, and a single limit is always lowLimit."""
        measurement = numeric_measurement(1.5, **kwargs)
        assert (measurement.comp_op, measurement.low_limit, measurement.high_limit) == (
            op,
            low,
            high,
        )

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"comp_op": "LOG", "low": 1.0},
            {"comp_op": "GELE", "low": 1.0},
            {"comp_op": "GELE", "low": 3.0, "high": 2.0},
            {"comp_op": "LE", "low": 1.0},
            {"comp_op": "GE", "low": 1.0, "limit": 1.0},
            {"limit": 1.0},
            {"comp_op": "WITHIN", "low": 1.0},
            {"low": float("nan")},
        ],
    )
    def test_limits_that_do_not_fit_are_refused(self, kwargs: dict[str, Any]) -> None:
        """Limits the operator cannot use, or non-finite numbers, raise ValueError."""
        with pytest.raises(ValueError):
            numeric_measurement(1.5, **kwargs)

    def test_non_finite_value_is_refused(self) -> None:
        """NaN cannot be written in WSJF, so it is refused rather than sent as null."""
        with pytest.raises(ValueError, match="finite"):
            numeric_measurement(float("inf"))

    def test_string_operator_defaults(self) -> None:
        """A string with a limit compares case-sensitively; without one it is only logged."""
        assert string_measurement("a", limit="A").status == "F"
        assert string_measurement("a").comp_op == "LOG"
        with pytest.raises(ValueError):
            string_measurement("a", comp_op="IGNORECASE")


class TestGeneratedReports:
    @settings(max_examples=150, deadline=None)
    @given(
        program=st.lists(programs(), max_size=6),
        start=STARTS,
        pn=HEADER_TEXT,
        sn=HEADER_TEXT,
        code=st.integers(0, 2**31 - 1),
    )
    def test_built_reports_validate_and_round_trip(
        self, program: list[tuple[Any, ...]], start: dt.datetime, pn: str, sn: str, code: int
    ) -> None:
        """Whatever a test executive builds is valid, numbered depth-first, and survives encoding
        and decoding unchanged."""
        builder = make_builder(pn=pn, sn=sn, process_code=code, start=start)
        for instruction in program:
            run(builder.root, instruction)
        report = builder.build()
        assert validate(report) == []
        data = encode_report(report)
        assert decode_report(data) == report
        assert encode_report(decode_report(data)) == data
        steps = _steps(report)
        assert [s.id for s in steps] == list(range(1, len(steps) + 1))
        if any(s.status == "F" for s in steps if not s.children):
            assert report.result != "P"
