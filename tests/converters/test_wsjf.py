"""The WSJF pass-through converter: lossless, validating, keeping the report's own GUID."""

from __future__ import annotations

import uuid
from pathlib import Path

import msgspec
import pytest
import trio

from converters import (
    Converted,
    FileRejected,
    Rejected,
    WsjfArguments,
    WsjfConverter,
    content_hash,
    open_converter_pool,
    report_id,
)
from pywats_actors.report import decode_report

from .conftest import NAMESPACE, settings
from .plugins.misbehaving import wsjf

SAMPLES = ["uut-wsjf-export.json", "new_report_example.json", "uur_example.json"]
ARGS = WsjfArguments()


def as_bytes(report: dict[str, object]) -> bytes:
    return msgspec.json.encode(report)


class TestPassThrough:
    @pytest.mark.parametrize("sample", SAMPLES)
    def test_samples_pass_through_byte_for_byte(self, samples_dir: Path, sample: str) -> None:
        """A valid WSJF file (UUT or UUR) is returned as its own bytes."""
        data = (samples_dir / "wsjf" / sample).read_bytes()
        assert WsjfConverter().convert(data, sample, ARGS) == [data]

    def test_byte_order_mark_is_dropped(self) -> None:
        """A UTF-8 byte order mark (written by .NET tools) is removed, nothing else changes."""
        data = as_bytes(wsjf("SN-1", report_id=str(uuid.uuid4())))
        assert WsjfConverter().convert(b"\xef\xbb\xbf" + data, "f.json", ARGS) == [data]

    async def test_through_the_pool_the_guid_and_bytes_are_kept(self, samples_dir: Path) -> None:
        """In the sandbox, every sample keeps its GUID and its bytes."""
        async with open_converter_pool(
            settings(), converters=["wsjf"], station_namespace=NAMESPACE
        ) as pool:
            for sample in SAMPLES:
                data = (samples_dir / "wsjf" / sample).read_bytes()
                with trio.fail_after(30):
                    result = await pool.convert(data, sample)
                assert isinstance(result, Converted)
                assert result.detected
                assert result.ids == (decode_report(data).id,)
                assert result.reports[0].wsjf == data


class TestCompletion:
    def test_missing_header_fields_come_from_the_arguments(self) -> None:
        """processCode, machineName, location and purpose are filled in only when absent."""
        report = wsjf("SN-1", report_id=str(uuid.uuid4()))
        for key in ("processCode", "machineName", "location", "purpose"):
            del report[key]
        args = WsjfArguments(process_code=20, machine_name="st", location="here", purpose="qa")
        (out,) = WsjfConverter().convert(as_bytes(report), "f.json", args)
        assert not isinstance(out, bytes)
        assert (out.process_code, out.machine_name, out.location, out.purpose) == (  # type: ignore[union-attr]
            20,
            "st",
            "here",
            "qa",
        )

    def test_pywats_aliases_are_accepted(self) -> None:
        """partNumber/serialNumber/partRevision are read as pn/sn/rev."""
        report = wsjf("SN-1", report_id=str(uuid.uuid4()))
        expected = (report["pn"], report["sn"], report["rev"])
        report["partNumber"], report["serialNumber"], report["partRevision"] = (
            report.pop("pn"),
            report.pop("sn"),
            report.pop("rev"),
        )
        (out,) = WsjfConverter().convert(as_bytes(report), "f.json", ARGS)
        assert (out.pn, out.sn, out.rev) == expected  # type: ignore[union-attr]

    async def test_a_report_without_an_id_gets_the_deterministic_one(self) -> None:
        """A WSJF file without an id gets the pool's derived id; one with a GUID keeps it."""
        report = wsjf("SN-1")
        del report["id"]
        data = as_bytes(report)
        async with open_converter_pool(
            settings(), converters=["wsjf"], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                result = await pool.convert(data, "f.json", "wsjf")
        assert isinstance(result, Converted)
        assert result.ids == (report_id(NAMESPACE, "wsjf", content_hash(data), 0),)
        assert not result.reports[0].kept_source_id


class TestRejection:
    @pytest.mark.parametrize(
        ("data", "where", "reason"),
        [
            (b"{not json", "$", "not valid JSON"),
            (b"[1, 2]", "$", "one JSON object"),
            (as_bytes({**wsjf("X", report_id=str(uuid.uuid4())), "type": "Q"}), "$.type", "WSJF"),
            (as_bytes(wsjf("", report_id=str(uuid.uuid4()))), "$.sn", "must not be empty"),
        ],
    )
    def test_invalid_files_are_rejected_with_a_path(
        self, data: bytes, where: str, reason: str
    ) -> None:
        """Malformed JSON, a non-report or a rule broken is a FileRejected naming the path."""
        with pytest.raises(FileRejected) as info:
            WsjfConverter().convert(data, "f.json", ARGS)
        assert info.value.where == where
        assert reason in info.value.reason

    async def test_rejected_in_the_pool(self) -> None:
        """Through the pool, an invalid WSJF file becomes Rejected with the path."""
        data = as_bytes(wsjf("", report_id=str(uuid.uuid4())))
        async with open_converter_pool(
            settings(), converters=["wsjf"], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                result = await pool.convert(data, "f.json", "wsjf")
        assert isinstance(result, Rejected)
        assert (result.cause, result.where) == ("converter", "$.sn")


class TestDetect:
    @pytest.mark.parametrize(
        ("head", "score"),
        [
            (b'{"type": "T", "id": "x", "root": {"id": 1}}', 0.95),
            (b'\xef\xbb\xbf  {"type":"R","uur":{}}', 0.95),
            (b'{"type": "T", "pn": "a", "sn": "b"', 0.7),
            (b'{"dut_id": "x", "phases": [], "outcome": "PASS"}', 0.1),
            (b"<xml/>", 0.0),
        ],
    )
    def test_scores(self, head: bytes, score: float) -> None:
        """A WSJF signature scores high; any other JSON object scores below the threshold."""
        assert WsjfConverter().detect(head, "f.json") == score
