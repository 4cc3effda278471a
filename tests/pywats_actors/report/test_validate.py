"""Tests of validate(): real reports pass, and every class of broken report is refused at the
right path."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from pywats_actors.report import (
    AssetStats,
    CallExecutableInfo,
    ReportError,
    ReportInvalid,
    UUTReport,
    ValidationProblem,
    decode_report,
    validate,
    validate_or_raise,
)

from ._samples import WSJF_SAMPLES

Edit = Callable[[dict[str, Any]], object]


def _step(report: dict[str, Any], index: int) -> dict[str, Any]:
    step: dict[str, Any] = report["root"]["steps"][index]
    return step


def _meas(report: dict[str, Any]) -> dict[str, Any]:
    measurement: dict[str, Any] = _step(report, 0)["numericMeas"][0]
    return measurement


def _set_numeric(**fields: Any) -> Edit:
    def edit(report: dict[str, Any]) -> None:
        measurement = _meas(report)
        for key, value in fields.items():
            if value is ...:
                measurement.pop(key, None)
            else:
                measurement[key] = value

    return edit


def _problems_of(tree: dict[str, Any]) -> list[ValidationProblem]:
    return validate(decode_report(json.dumps(tree)))


def _chart_step(**series: Any) -> dict[str, Any]:
    return {
        "id": 9,
        "group": "M",
        "stepType": "WATS_XYGMNLT",
        "name": "Graph",
        "status": "P",
        "chart": {"chartType": "Line", "series": [{"dataType": "XYG", **series}]},
    }


class TestValidReports:
    @pytest.mark.parametrize("name", WSJF_SAMPLES)
    def test_real_exports_are_valid(self, wsjf_dir: Path, name: str) -> None:
        """Reports the WATS server accepted and exported have no problem."""
        assert validate(decode_report((wsjf_dir / name).read_bytes())) == []

    def test_minimal_complete_report_is_valid(self, minimal_uut: dict[str, Any]) -> None:
        """The spec's minimal complete UUT (checked with pywats-api) has no problem."""
        assert _problems_of(minimal_uut) == []

    def test_validate_or_raise_returns_a_valid_report(self, minimal_uut: dict[str, Any]) -> None:
        """validate_or_raise hands a valid report back unchanged."""
        report = decode_report(json.dumps(minimal_uut))
        assert validate_or_raise(report) is report


# (edit of the minimal UUT, expected path, a fragment of the message)
HEADER_CASES: list[tuple[str, Edit, str, str]] = [
    ("nil id", lambda r: r.update(id=str(uuid.UUID(int=0))), "$.id", "nil GUID"),
    ("empty pn", lambda r: r.update(pn=" "), "$.pn", "must not be empty"),
    ("long sn", lambda r: r.update(sn="S" * 101), "$.sn", "the limit is 100"),
    ("long rev", lambda r: r.update(rev="R" * 101), "$.rev", "the limit is 100"),
    ("bad result", lambda r: r.update(result="X"), "$.result", "'X' is not one of"),
    ("result done", lambda r: r.update(result="D"), "$.result", "'D' is not one of"),
    ("big process code", lambda r: r.update(processCode=2**31), "$.processCode", "outside"),
    ("no offset", lambda r: r.update(start="2026-03-02T14:05:00"), "$.start", "no UTC offset"),
    ("no such day", lambda r: r.update(start="2026-02-30T14:05:00Z"), "$.start", "not a valid"),
    (
        "local startUTC",
        lambda r: r.update(startUTC="2026-03-02T14:05:00.000+01:00"),
        "$.startUTC",
        "not in UTC",
    ),
    (
        "another instant",
        lambda r: r.update(startUTC="2026-03-02T13:05:00.0000001Z"),
        "$.startUTC",
        "not the same instant",
    ),
    (
        "misc info empty",
        lambda r: r.update(miscInfos=[{"description": "x"}]),
        "$.miscInfos[0]",
        "needs text or numeric",
    ),
    (
        "misc info text too long",
        lambda r: r.update(miscInfos=[{"description": "x", "text": "t" * 101}]),
        "$.miscInfos[0].text",
        "limit is 100",
    ),
    (
        "misc info typedef too long",
        lambda r: r.update(miscInfos=[{"description": "x", "numeric": 1, "typedef": "t" * 31}]),
        "$.miscInfos[0].typedef",
        "limit is 30",
    ),
    (
        "sub-unit without part type",
        lambda r: r.update(subUnits=[{"pn": "a", "sn": "b"}]),
        "$.subUnits[0].partType",
        "is required",
    ),
    (
        "failures in a test report",
        lambda r: r.update(subUnits=[{"partType": "PCBA", "pn": "a", "sn": "b", "failures": [{}]}]),
        "$.subUnits[0].failures",
        "repair reports",
    ),
    (
        "binary data in a test report",
        lambda r: r.update(binaryData=[{"contentType": "text/plain", "data": "aGk="}]),
        "$.binaryData",
        "repair reports",
    ),
    (
        "asset without serial",
        lambda r: r.update(assets=[{"usageCount": 1}]),
        "$.assets[0].assetSN",
        "is required",
    ),
    (
        "additional data property without type",
        lambda r: r.update(additionalData=[{"name": "x", "props": [{"name": "p"}]}]),
        "$.additionalData[0].props[0].type",
        "is required",
    ),
    (
        "socket below -1",
        lambda r: r["uut"].update(testSocketIndex=-2),
        "$.uut.testSocketIndex",
        "outside",
    ),
    (
        "failing step that does not exist",
        lambda r: r["uut"].update(stepIdCausedUUTFailure=99),
        "$.uut.stepIdCausedUUTFailure",
        "no step has id 99",
    ),
]

STEP_CASES: list[tuple[str, Edit, str, str]] = [
    ("bad status", lambda r: _step(r, 1).update(status="Q"), "$.root.steps[1].status", "'Q'"),
    ("bad group", lambda r: _step(r, 1).update(group="X"), "$.root.steps[1].group", "'X'"),
    ("blank name", lambda r: _step(r, 1).update(name=""), "$.root.steps[1].name", "empty"),
    ("duplicate id", lambda r: _step(r, 2).update(id=2), "$.root.steps[2].id", "also used by"),
    ("negative id", lambda r: _step(r, 1).update(id=-3), "$.root.steps[1].id", "outside"),
    ("negative time", lambda r: _step(r, 1).update(totTime=-1.0), "$.root.steps[1].totTime", ""),
    (
        "step start without offset",
        lambda r: _step(r, 1).update(start="2026-03-02T14:05:00"),
        "$.root.steps[1].start",
        "no UTC offset",
    ),
    (
        "unknown compOp",
        _set_numeric(compOp="BETWEEN"),
        "$.root.steps[0].numericMeas[0].compOp",
        "'BETWEEN' is not one of",
    ),
    (
        "missing compOp",
        _set_numeric(compOp=...),
        "$.root.steps[0].numericMeas[0].compOp",
        "is required",
    ),
    (
        "range without high limit",
        _set_numeric(highLimit=None),
        "$.root.steps[0].numericMeas[0].highLimit",
        "required by GELE",
    ),
    (
        "LE limit in highLimit",
        _set_numeric(compOp="LE", lowLimit=..., highLimit=5.25),
        "$.root.steps[0].numericMeas[0].lowLimit",
        "required by LE",
    ),
    (
        "single limit with a high limit too",
        _set_numeric(compOp="GE"),
        "$.root.steps[0].numericMeas[0].highLimit",
        "must be empty for GE",
    ),
    (
        "LOG with limits",
        _set_numeric(compOp="LOG"),
        "$.root.steps[0].numericMeas[0].compOp",
        "LOG compares nothing",
    ),
    (
        "reversed limits",
        _set_numeric(lowLimit=6.0),
        "$.root.steps[0].numericMeas[0].lowLimit",
        "above highLimit",
    ),
    (
        "bad measurement status",
        _set_numeric(status="D"),
        "$.root.steps[0].numericMeas[0].status",
        "'D' is not one of",
    ),
    (
        "no value",
        _set_numeric(value=None),
        "$.root.steps[0].numericMeas[0].value",
        "unless the measurement was skipped",
    ),
    (
        "two measurements in a single test",
        lambda r: _step(r, 0)["numericMeas"].append(dict(_meas(r), name="second")),
        "$.root.steps[0].numericMeas",
        "at most 1 measurement",
    ),
    (
        "wrong kind of measurement",
        lambda r: _step(r, 0).update(stringMeas=[{"compOp": "LOG", "status": "P", "value": "x"}]),
        "$.root.steps[0].stringMeas",
        "carries only numericMeas",
    ),
    (
        "unnamed measurement of a multiple test",
        lambda r: _step(r, 0).update(stepType="ET_MNLT"),
        "$.root.steps[0].numericMeas[0].name",
        "is required in a multiple-measurement step",
    ),
    (
        "duplicate measurement names",
        lambda r: _step(r, 1).update(
            stepType="ET_MPFT",
            booleanMeas=[{"name": "a", "status": "P"}, {"name": "a", "status": "P"}],
        ),
        "$.root.steps[1].booleanMeas[1].name",
        "also the name of",
    ),
    (
        "string comparison without limit",
        lambda r: _step(r, 2)["stringMeas"][0].pop("limit"),
        "$.root.steps[2].stringMeas[0].limit",
        "required by CASESENSIT",
    ),
    (
        "unknown string operator",
        lambda r: _step(r, 2)["stringMeas"][0].update(compOp="SOUNDEX"),
        "$.root.steps[2].stringMeas[0].compOp",
        "'SOUNDEX' is not one of",
    ),
    (
        "passed step with a failed measurement",
        _set_numeric(status="F"),
        "$.root.steps[0].status",
        "the step passed but numericMeas[0] failed",
    ),
    (
        "passed sequence whose child caused its failure",
        lambda r: _step(r, 1).update(
            status="F", booleanMeas=[{"status": "F"}], causedSeqFailure=True
        ),
        "$.root.status",
        "caused a sequence failure",
    ),
    (
        "passed report with a failed root",
        lambda r: r["root"].update(status="F"),
        "$.result",
        "disagrees with the root step's status 'F'",
    ),
    (
        "passed report with a step that caused the UUT failure",
        lambda r: _step(r, 1).update(causedUUTFailure=True),
        "$.result",
        "caused the UUT failure",
    ),
    (
        "negative loop index",
        lambda r: _step(r, 1).update(loop={"idx": -1}),
        "$.root.steps[1].loop.idx",
        "outside",
    ),
    (
        "attachment that is not Base64",
        lambda r: _step(r, 1).update(
            attachment={"name": "a.txt", "contentType": "text/plain", "data": "not base64!"}
        ),
        "$.root.steps[1].attachment.data",
        "not valid Base64",
    ),
    (
        "chart step without a chart",
        lambda r: _step(r, 1).update(stepType="WATS_XYGMNLT", booleanMeas=None),
        "$.root.steps[1].chart",
        "is required",
    ),
    (
        "series of an unknown data type",
        lambda r: r["root"]["steps"].append(_chart_step(dataType="XY", ydata="1")),
        "$.root.steps[3].chart.series[0].dataType",
        "'XY' is not one of XYG",
    ),
    (
        "series data that is not numbers",
        lambda r: r["root"]["steps"].append(_chart_step(ydata="1;two;3")),
        "$.root.steps[3].chart.series[0].ydata",
        "value 1 ('two') is not a number",
    ),
    (
        "series with more x than y",
        lambda r: r["root"]["steps"].append(_chart_step(xdata="0;1;2", ydata="5;6")),
        "$.root.steps[3].chart.series[0].xdata",
        "has 3 values but ydata has 2",
    ),
]


def _uur(**changes: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "type": "R",
        "id": "83ac0b8e-b575-4004-94de-f905774c3ed8",
        "pn": "PCBA-1",
        "sn": "SN1",
        "rev": "A",
        "processCode": 500,
        "result": "P",
        "machineName": "RepairStation",
        "location": "Lab",
        "purpose": "Repair",
        "start": "2025-12-21T23:01:45.472254+01:00",
        "uur": {"user": "fixer", "processCode": 90},
        "subUnits": [
            {"partType": "Main", "pn": "PCBA-1", "sn": "SN1", "idx": 0, "failures": []},
        ],
    }
    report.update(changes)
    return report


UUR_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "no repaired unit",
        _uur(subUnits=[{"partType": "Main", "pn": "a", "sn": "b", "idx": 1}]),
        "$.subUnits",
        "idx 0",
    ),
    (
        "sub-unit without idx",
        _uur(subUnits=[{"partType": "Main", "pn": "a", "sn": "b"}]),
        "$.subUnits[0].idx",
        "is required in a repair report",
    ),
    (
        "duplicate idx",
        _uur(subUnits=[{"partType": "Main", "pn": "a", "sn": "b", "idx": 0}] * 2),
        "$.subUnits[1].idx",
        "also the idx of",
    ),
    (
        "dangling parent",
        _uur(subUnits=[{"partType": "Main", "pn": "a", "sn": "b", "idx": 0, "parentIdx": 4}]),
        "$.subUnits[0].parentIdx",
        "no sub-unit has idx 4",
    ),
    (
        "failure without code",
        _uur(
            subUnits=[
                {
                    "partType": "Main",
                    "pn": "a",
                    "sn": "b",
                    "idx": 0,
                    "failures": [{"category": "C"}],
                }
            ]
        ),
        "$.subUnits[0].failures[0].code",
        "is required",
    ),
    (
        "confirm date without offset",
        _uur(uur={"confirmDate": "2025-12-21T22:01:45"}),
        "$.uur.confirmDate",
        "no UTC offset",
    ),
]


class TestInvalidReports:
    @pytest.mark.parametrize(
        ("edit", "path", "fragment"),
        [pytest.param(*case[1:], id=case[0]) for case in HEADER_CASES + STEP_CASES],
    )
    def test_broken_uut_is_refused_at_the_right_path(
        self, minimal_uut: dict[str, Any], edit: Edit, path: str, fragment: str
    ) -> None:
        """Each broken rule gives a problem at the path of the offending value."""
        edit(minimal_uut)
        problems = _problems_of(minimal_uut)
        assert problems, "the broken report was accepted"
        assert any(p.path == path and fragment in p.message for p in problems), problems

    @pytest.mark.parametrize(
        ("tree", "path", "fragment"), [pytest.param(*case[1:], id=case[0]) for case in UUR_CASES]
    )
    def test_broken_uur_is_refused_at_the_right_path(
        self, tree: dict[str, Any], path: str, fragment: str
    ) -> None:
        """Each broken repair rule gives a problem at the path of the offending value."""
        assert validate(decode_report(json.dumps(_uur()))) == []
        problems = _problems_of(tree)
        assert any(p.path == path and fragment in p.message for p in problems), problems

    def test_numbers_json_cannot_carry_are_refused(self, minimal_uut: dict[str, Any]) -> None:
        """NaN and infinity (possible in code-built reports) are refused where they are."""
        report = decode_report(json.dumps(minimal_uut))
        assert isinstance(report, UUTReport)
        step = report.root.children[0]
        assert isinstance(step.numeric_meas, tuple)
        broken_meas = msgspec.structs.replace(step.numeric_meas[0], value=math.nan)
        broken_step = msgspec.structs.replace(step, numeric_meas=(broken_meas,), tot_time=math.inf)
        root = msgspec.structs.replace(report.root, steps=(broken_step, *report.root.children[1:]))
        problems = validate(msgspec.structs.replace(report, root=root))
        assert {p.path for p in problems} >= {
            "$.root.steps[0].totTime",
            "$.root.steps[0].numericMeas[0].value",
        }

    def test_unknown_field_clashing_with_a_known_key_is_refused(
        self, minimal_uut: dict[str, Any]
    ) -> None:
        """An unknown field that shadows a real key (possible in code-built reports) is refused."""
        report = decode_report(json.dumps(minimal_uut))
        clashing = msgspec.structs.replace(report, unknown_fields={"sn": "other"})
        assert [p.path for p in validate(clashing)] == ["$.sn"]

    def test_problems_are_listed_together_in_document_order(
        self, minimal_uut: dict[str, Any]
    ) -> None:
        """validate() reports every problem at once, in the order they appear in the document."""
        minimal_uut["pn"] = ""
        _step(minimal_uut, 0)["group"] = "Z"
        _step(minimal_uut, 2)["group"] = "Z"
        paths = [p.path for p in _problems_of(minimal_uut)]
        assert paths == ["$.pn", "$.root.steps[0].group", "$.root.steps[2].group"]

    def test_validate_or_raise_carries_every_problem(self, minimal_uut: dict[str, Any]) -> None:
        """ReportInvalid holds the whole problem list and names the first one."""
        minimal_uut["pn"] = ""
        minimal_uut["sn"] = ""
        with pytest.raises(ReportInvalid) as caught:
            validate_or_raise(decode_report(json.dumps(minimal_uut)))
        assert isinstance(caught.value, ReportError)
        assert [p.path for p in caught.value.problems] == ["$.pn", "$.sn"]
        assert "$.pn" in str(caught.value)
        assert "1 more problem" in str(caught.value)


class TestFloatCoverage:
    def test_every_float_field_of_the_model_is_checked(self) -> None:
        """validate() checks the fields that can hold a float one by one; this list must grow
        with the model (internal: reads the model's field tables)."""
        from pywats_actors.report._base import WsjfObject
        from pywats_actors.report._walk import struct_schema

        checked = {
            ("Step", "tot_time"),
            ("NumericMeasurement", "value"),
            ("NumericMeasurement", "low_limit"),
            ("NumericMeasurement", "high_limit"),
            ("CallExecutableInfo", "exit_code"),
            ("UUTInfo", "exec_time"),
            ("UURInfo", "exec_time"),
        }
        checked |= {("AssetStats", attr) for attr in struct_schema(AssetStats).float_fields}
        classes, pending = set(), [WsjfObject]
        while pending:
            cls = pending.pop()
            classes.add(cls)
            pending.extend(cls.__subclasses__())
        found = {(c.__name__, a) for c in classes for a in struct_schema(c).float_fields}
        assert found == checked

    def test_header_numbers_must_be_finite(self, minimal_uut: dict[str, Any]) -> None:
        """A NaN execution time or exit code (possible from code) is refused where it is."""
        report = decode_report(json.dumps(minimal_uut))
        assert isinstance(report, UUTReport)
        popup = msgspec.structs.replace(
            report.root.children[1], call_exe=CallExecutableInfo(exit_code=math.inf)
        )
        root = msgspec.structs.replace(report.root, steps=(report.root.children[0], popup))
        uut = msgspec.structs.replace(report.uut, exec_time=math.nan)
        paths = {p.path for p in validate(msgspec.structs.replace(report, uut=uut, root=root))}
        assert paths == {"$.uut.execTime", "$.root.steps[1].callExe.exitCode"}
