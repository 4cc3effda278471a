"""Tests of the WSJF codec: lossless round trips and precise decode errors."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from pywats_actors import PywatsError
from pywats_actors.report import (
    UNSET,
    NumericMeasurement,
    ReportDecodeError,
    ReportError,
    StepKind,
    UURReport,
    UUTReport,
    decode_report,
    encode_report,
)

from ._samples import WSJF_SAMPLES, json_difference

SameJson = Callable[[bytes | str, bytes | str], None]


def _doc(tree: dict[str, Any]) -> str:
    return json.dumps(tree)


class TestSampleRoundTrip:
    @pytest.mark.parametrize("name", WSJF_SAMPLES)
    def test_every_real_export_round_trips(
        self, wsjf_dir: Path, name: str, assert_same_json: SameJson
    ) -> None:
        """Decoding then encoding a server export gives the same JSON tree: same keys, same nulls,
        same strings, same numbers."""
        original = (wsjf_dir / name).read_bytes()
        assert_same_json(original, encode_report(decode_report(original)))

    @pytest.mark.parametrize("name", WSJF_SAMPLES)
    def test_encoding_is_stable(self, wsjf_dir: Path, name: str) -> None:
        """A second round trip reproduces the first encoding byte for byte."""
        first = encode_report(decode_report((wsjf_dir / name).read_bytes()))
        assert encode_report(decode_report(first)) == first

    def test_fat_export_decodes_to_its_documented_facts(self, wsjf_dir: Path) -> None:
        """The FAT export is a failed UUT of 186 steps with the documented header."""
        report = decode_report((wsjf_dir / "uut-wsjf-export.json").read_bytes())
        assert isinstance(report, UUTReport)
        assert (report.sn, report.pn, report.rev, report.result) == (
            "FATTest-325",
            "FATPartNo",
            "Rev1",
            "F",
        )
        assert (report.process_code, report.machine_name) == (10, "OLALAPTOP")
        assert str(report.id) == "33a2d408-3fc8-480b-b554-6866c77fd91c"
        assert len(report.root.walk()) == 186

    def test_production_export_decodes_to_its_documented_facts(self, wsjf_dir: Path) -> None:
        """The production export is a passed UUT of 281 steps rooted in a WATS_SeqCall."""
        report = decode_report((wsjf_dir / "new_report_example.json").read_bytes())
        assert isinstance(report, UUTReport)
        assert (report.sn, report.pn, report.rev, report.result) == (
            "244750022142",
            "4494394418",
            "03",
            "P",
        )
        assert (report.process_code, report.machine_name) == (50, "WVXM-NGH-Z-998")
        assert len(report.root.walk()) == 281
        assert report.root.kind is StepKind.SEQUENCE_CALL

    def test_repair_export_decodes_to_a_uur_report(self, wsjf_dir: Path) -> None:
        """The repair export decodes as a UUR report with its failure."""
        report = decode_report((wsjf_dir / "uur_example.json").read_bytes())
        assert isinstance(report, UURReport)
        assert (report.sn, report.process_code) == ("MODULE-20251221230142-5519", 500)
        failures = report.sub_units[0].failures
        assert isinstance(failures, tuple)
        assert failures[0].com_ref == "U1"


class TestLosslessness:
    def test_null_and_absent_stay_apart(self, minimal_uut: dict[str, Any]) -> None:
        """A null key is written back as null and an absent key stays absent."""
        measurement = minimal_uut["root"]["steps"][0]["numericMeas"][0]
        measurement["name"] = None
        del measurement["unit"]
        report = decode_report(_doc(minimal_uut))
        assert isinstance(report, UUTReport)
        decoded = report.root.children[0].numeric_meas
        assert isinstance(decoded, tuple)
        assert decoded[0].name is None
        assert decoded[0].unit is UNSET
        written = json.loads(encode_report(report))["root"]["steps"][0]["numericMeas"][0]
        assert written["name"] is None
        assert "unit" not in written

    @pytest.mark.parametrize(
        "stamp",
        [
            "2026-01-30T22:01:41.4707353+01:00",
            "2024-04-15T02:49:36.93+00:00",
            "2026-01-30T21:01:41.4707353Z",
            "2026-01-30T21:01:41Z",
        ],
    )
    def test_timestamps_are_kept_as_written(self, minimal_uut: dict[str, Any], stamp: str) -> None:
        """Timestamps keep their .NET tick digits and their offset spelling."""
        minimal_uut["start"] = stamp
        minimal_uut["root"]["steps"][0]["start"] = stamp
        written = json.loads(encode_report(decode_report(_doc(minimal_uut))))
        assert written["start"] == stamp
        assert written["root"]["steps"][0]["start"] == stamp

    def test_unknown_keys_survive_at_every_level(
        self, minimal_uut: dict[str, Any], assert_same_json: SameJson
    ) -> None:
        """Keys the model does not know are kept in their own objects, whatever their value."""
        minimal_uut["futureHeader"] = {"nested": [1, None, {"deep": True}]}
        minimal_uut["uut"]["newUutKey"] = None
        minimal_uut["miscInfos"][0]["flavour"] = "x"
        step = minimal_uut["root"]["steps"][0]
        step["newStepKey"] = 7
        step["numericMeas"][0]["uncertainty"] = 0.01
        document = _doc(minimal_uut)
        report = decode_report(document)
        assert report.unknown_fields == {"futureHeader": {"nested": [1, None, {"deep": True}]}}
        assert isinstance(report, UUTReport)
        assert report.root.children[0].unknown_fields == {"newStepKey": 7}
        assert_same_json(document, encode_report(report))

    def test_unknown_step_type_is_kept_whole(
        self, minimal_uut: dict[str, Any], assert_same_json: SameJson
    ) -> None:
        """A step type nobody knows decodes as a generic step with its payload and unknown keys."""
        minimal_uut["root"]["steps"].append(
            {
                "id": 5,
                "group": "M",
                "stepType": "MyCo_Calibrate",
                "name": "Calibrate",
                "status": "D",
                "numericMeas": [{"compOp": "LOG", "status": "P", "value": 1.5}],
                "calibrationTable": [[0, 1], [1, 2]],
            }
        )
        document = _doc(minimal_uut)
        report = decode_report(document)
        assert isinstance(report, UUTReport)
        step = report.root.children[-1]
        assert step.kind is StepKind.GENERIC
        assert step.unknown_fields == {"calibrationTable": [[0, 1], [1, 2]]}
        assert_same_json(document, encode_report(report))

    def test_guid_case_is_canonicalised(self, minimal_uut: dict[str, Any]) -> None:
        """An upper-case GUID (WSXF style) is the same id and is written in lower case."""
        minimal_uut["id"] = "33A2D408-3FC8-480B-B554-6866C77FD91C"
        report = decode_report(_doc(minimal_uut))
        assert report.id == uuid.UUID("33a2d408-3fc8-480b-b554-6866c77fd91c")
        assert json.loads(encode_report(report))["id"] == "33a2d408-3fc8-480b-b554-6866c77fd91c"

    def test_text_with_escapes_decodes(self, minimal_uut: dict[str, Any]) -> None:
        """Escaped characters (as System.Text.Json writes them) decode to the same report."""
        minimal_uut["location"] = "Ålesund <line 2>"
        escaped = json.dumps(minimal_uut, ensure_ascii=True)
        assert "\\u" in escaped
        assert decode_report(escaped) == decode_report(json.dumps(minimal_uut, ensure_ascii=False))

    def test_byte_order_mark_and_str_input_are_accepted(self, minimal_uut: dict[str, Any]) -> None:
        """A UTF-8 byte order mark is ignored, and text decodes like bytes."""
        document = _doc(minimal_uut)
        from_bytes = decode_report(b"\xef\xbb\xbf" + document.encode())
        assert from_bytes == decode_report(document)

    def test_code_built_objects_leave_unset_keys_out(self, minimal_uut: dict[str, Any]) -> None:
        """Fields left UNSET are not written; fields set to None are written as null."""
        report = decode_report(_doc(minimal_uut))
        measurement = NumericMeasurement(status="P", comp_op="LOG", value=1.0, unit=None)
        assert isinstance(report, UUTReport)
        step = msgspec.structs.replace(report.root.children[0], numeric_meas=(measurement,))
        root = msgspec.structs.replace(report.root, steps=(step,))
        written = json.loads(encode_report(msgspec.structs.replace(report, root=root)))
        assert written["root"]["steps"][0]["numericMeas"] == [
            {"status": "P", "compOp": "LOG", "value": 1.0, "unit": None}
        ]


class TestDecodeErrors:
    @pytest.mark.parametrize(
        ("edit", "path", "fragment"),
        [
            (lambda d: d.update(type="X"), "$.type", "Invalid value 'X'"),
            (lambda d: d.update(type=["T"], unknown=1), "$.type", "Expected `str`"),
            (lambda d: d.pop("id"), "$", "missing required field `id`"),
            (lambda d: d.update(id="not-a-guid"), "$.id", "Invalid UUID"),
            (lambda d: d.update(processCode="10"), "$.processCode", "Expected `int`"),
            (lambda d: d.update(start="yesterday"), "$.start", "matching regex"),
            (lambda d: d.pop("root"), "$", "missing required field `root`"),
            (
                lambda d: d["root"]["steps"][0]["numericMeas"][0].update(compOp=5),
                "$.root.steps[0].numericMeas[0].compOp",
                "Expected `str | null`, got `int`",
            ),
            (
                lambda d: d["root"]["steps"][1].update(status=None),
                "$.root.steps[1].status",
                "Expected `str`, got `null`",
            ),
        ],
    )
    def test_type_errors_name_the_path(
        self,
        minimal_uut: dict[str, Any],
        edit: Callable[[dict[str, Any]], object],
        path: str,
        fragment: str,
    ) -> None:
        """A value of the wrong type or a missing required key is reported at its JSON path."""
        edit(minimal_uut)
        with pytest.raises(ReportDecodeError) as caught:
            decode_report(_doc(minimal_uut))
        assert caught.value.path == path
        assert fragment in caught.value.message

    def test_type_error_next_to_unknown_keys_keeps_the_callers_path(
        self, minimal_uut: dict[str, Any]
    ) -> None:
        """The slow path (unknown keys present) still reports the path in the caller's document."""
        minimal_uut["extra"] = 1
        minimal_uut["root"]["steps"][2]["stringMeas"][0]["value"] = 42
        with pytest.raises(ReportDecodeError) as caught:
            decode_report(_doc(minimal_uut))
        assert caught.value.path == "$.root.steps[2].stringMeas[0].value"

    @pytest.mark.parametrize(
        "document",
        [b"", b"{", b'{"type": "T",}', b"\xff\xfe", b"[1, 2]", b'"report"'],
    )
    def test_not_a_report_object_is_refused_at_the_root(self, document: bytes) -> None:
        """Malformed JSON, or JSON that is not an object, is refused with the path ``$``."""
        with pytest.raises(ReportDecodeError) as caught:
            decode_report(document)
        assert caught.value.path == "$"

    def test_the_reserved_key_is_refused(self, minimal_uut: dict[str, Any]) -> None:
        """``$unknown`` is the model's own key, so a document may not use it, even nested."""
        minimal_uut["uut"]["custom"] = {"$unknown": 1}
        with pytest.raises(ReportDecodeError) as caught:
            decode_report(_doc(minimal_uut))
        assert caught.value.path == "$.uut.custom"

    def test_absurd_nesting_is_an_error_not_a_crash(self, minimal_uut: dict[str, Any]) -> None:
        """A document nested deeper than the interpreter can follow is refused cleanly."""
        document = _doc(minimal_uut)[:-1] + ', "x": ' + "[" * 5000 + "]" * 5000 + "}"
        with pytest.raises(ReportDecodeError, match="nested too deeply"):
            decode_report(document)

    def test_decode_error_belongs_to_the_error_tree(self) -> None:
        """ReportDecodeError is a ReportError and a PywatsError, and prints its path."""
        with pytest.raises(PywatsError) as caught:
            decode_report(b"{")
        assert isinstance(caught.value, ReportError)
        assert str(caught.value).endswith("- at $")


class TestHonestComparison:
    @pytest.mark.parametrize(
        ("left", "right"),
        [
            ({"a": None}, {}),
            (
                {"id": "33a2d408-3fc8-480b-b554-6866c77fd91c"},
                {"id": "33A2D408-3FC8-480B-B554-6866C77FD91C"},
            ),
            ({"t": "2026-01-30T21:01:41.4707353Z"}, {"t": "2026-01-30T21:01:41.470735Z"}),
            ({"t": "2026-01-30T21:01:41+00:00"}, {"t": "2026-01-30T21:01:41Z"}),
            ({"b": True}, {"b": 1}),
            ({"v": 0.1}, {"v": 0.1000000001}),
            ([1, 2], [1, 2, 3]),
        ],
    )
    def test_real_differences_are_seen(self, left: Any, right: Any) -> None:
        """The round-trip comparison notices nulls, GUID case, timestamp digits and offsets,
        booleans posing as numbers, and changed values."""
        assert json_difference(left, right) is not None

    def test_number_spelling_is_not_a_difference(self) -> None:
        """``10`` and ``10.0``, ``1e-05`` and ``0.00001`` are the same number."""
        assert json_difference(json.loads("[10, 1e-05]"), json.loads("[10.0, 0.00001]")) is None
