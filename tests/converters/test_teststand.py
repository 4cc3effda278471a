"""The NI TestStand XML converter: native ``Reports/Report`` and the WATS AddOn ``TSReport``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import trio

from converters import (
    Converted,
    ConverterConfig,
    FileRejected,
    Rejected,
    TestStandArguments,
    TestStandConverter,
    open_converter_pool,
)
from pywats_actors.report import Step, UUTReport, decode_report, validate

from .conftest import NAMESPACE, settings

SAMPLES = ["TSWithWats.xml", "TSWithWats2.xml", "TsWithoutWats.xml"]
ARGS = TestStandArguments()


def convert(data: bytes, name: str = "r.xml", args: TestStandArguments = ARGS) -> list[UUTReport]:
    reports = TestStandConverter().convert(data, name, args)
    assert all(isinstance(report, UUTReport) for report in reports)
    return reports  # type: ignore[return-value]


def one(data: bytes, name: str = "r.xml", args: TestStandArguments = ARGS) -> UUTReport:
    (report,) = convert(data, name, args)
    return report


def sample(samples_dir: Path, name: str) -> bytes:
    return (samples_dir / "teststand_xml" / name).read_bytes()


def walk(step: Step) -> Iterator[Step]:
    for child in step.steps or ():
        yield child
        yield from walk(child)


def _native(steps: str, uut: str = "", result: str = "Passed") -> bytes:
    return (
        "<?xml version='1.0' encoding='iso-8859-1'?>\n<Reports>\n"
        f"<Report Type='UUT' UUTResult='{result}'>\n"
        "<Prop Name='UUT' Type='Obj'><Prop Name='SerialNumber' Type='String'>"
        f"<Value>SN-\xe9</Value></Prop>{uut}</Prop>\n"
        "<Prop Type='TEResult'><Prop Name='TS' Type='Obj'><Prop Name='SequenceCall' Type='Obj'>"
        f"<Prop Name='ResultList' Type='Array'>{steps}</Prop></Prop></Prop></Prop>\n"
        "</Report></Reports>\n"
    ).encode("iso-8859-1")


def _step(name: str, body: str, status: str = "Passed") -> str:
    return (
        f"<Value><Prop Type='TEResult'><Prop Name='Status' Type='String'><Value>{status}</Value>"
        f"</Prop>{body}<Prop Name='TS' Type='Obj'><Prop Name='StepName' Type='String'>"
        f"<Value>{name}</Value></Prop></Prop></Prop></Value>"
    )


class TestSamples:
    @pytest.mark.parametrize("name", SAMPLES)
    def test_every_sample_converts_to_a_valid_report(self, samples_dir: Path, name: str) -> None:
        """Each sample gives one report that passes validate() and survives encode/decode."""
        report = one(sample(samples_dir, name), name)
        assert validate(report) == []
        assert decode_report(msgspec.json.encode(report)) == report

    def test_wats_addon_dump_header(self, samples_dir: Path) -> None:
        """TSWithWats.xml: SN 12345, PN PN1, Rev 1.0, process code 60, its start."""
        report = one(sample(samples_dir, "TSWithWats.xml"))
        assert (report.sn, report.pn, report.rev, report.process_code) == (
            "12345",
            "PN1",
            "1.0",
            60,
        )
        assert report.start.startswith("2022-06-23T10:55:04.37")
        assert report.result == "P"

    @pytest.mark.parametrize(
        ("name", "sn"), [("TSWithWats2.xml", "5465466"), ("TsWithoutWats.xml", "2342343")]
    )
    def test_native_reports(self, samples_dir: Path, name: str, sn: str) -> None:
        """Native reports: the SN, UUTResult Passed, and as many steps as the report's StepCount
        (17 results under the main sequence, the README's 19 counts TestStand's own
        StepName props)."""
        report = one(sample(samples_dir, name))
        assert report.sn == sn
        assert report.result == "P"
        assert len(list(walk(report.root))) == 17

    def test_missing_part_number_comes_from_the_arguments(self, samples_dir: Path) -> None:
        """TsWithoutWats.xml has an empty PartNumber: the argument gives it; the station too."""
        args = TestStandArguments(part_number="PN-X")
        report = one(sample(samples_dir, "TsWithoutWats.xml"), args=args)
        assert report.pn == "PN-X"
        assert report.rev == "1.0"
        assert report.process_code == 10
        assert report.machine_name == "TS-2021-BETA"
        assert report.start.startswith("2022-07-01T15:47:48.927")

    def test_numeric_step_with_limits_and_units(self, samples_dir: Path) -> None:
        """A numeric step keeps its value, unit and limits (RawLimits 0..10, microseconds)."""
        report = one(sample(samples_dir, "TsWithoutWats.xml"))
        numeric = [s for s in walk(report.root) if s.numeric_meas]
        assert numeric
        first = numeric[0].numeric_meas[0]  # type: ignore[index]
        assert (first.value, first.unit, first.low_limit, first.high_limit) == (
            5.0,
            "microseconds",
            0.0,
            10.0,
        )

    async def test_sample_converts_in_the_sandbox_by_name(self, samples_dir: Path) -> None:
        """Registered as the built-in "teststand": a pool converts a sample by name."""
        config = ConverterConfig("teststand")
        data = sample(samples_dir, "TSWithWats.xml")
        async with open_converter_pool(
            settings(), converters=[config], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(60):
                result = await pool.convert(data, "TSWithWats.xml", "teststand")
                bomb = await pool.convert(BOMB, "bomb.xml", "teststand")
        assert isinstance(result, Converted)
        assert isinstance(bomb, Rejected)
        assert "DOCTYPE" in bomb.reason


class TestSynthetic:
    def test_step_kinds_and_nested_sequence(self) -> None:
        """PassFail, String, Numeric with EQ comp, a nested SequenceCall, and a generic step."""
        inner = _step("inner", "<Prop Name='PassFail' Type='Boolean'><Value>True</Value></Prop>")
        steps = (
            _step(
                "pf", "<Prop Name='PassFail' Type='Boolean'><Value>False</Value></Prop>", "Failed"
            )
            + _step("str", "<Prop Name='String' Type='String'><Value>abc</Value></Prop>")
            + _step(
                "num",
                "<Prop Name='Numeric' Type='Number'><Value>3</Value></Prop>"
                "<Prop Name='Comp' Type='String'><Value>EQ</Value></Prop>"
                "<Prop Name='Limits' Type='Obj'><Prop Name='Low' Type='Number'><Value>3</Value>"
                "</Prop></Prop>",
            )
            + "<Value><Prop Type='TEResult'><Prop Name='TS' Type='Obj'>"
            "<Prop Name='StepName' Type='String'><Value>call</Value></Prop>"
            "<Prop Name='SequenceCall' Type='Obj'><Prop Name='ResultList' Type='Array'>"
            f"{inner}</Prop></Prop></Prop></Prop></Value>" + _step("act", "", "Done")
        )
        report = one(_native(steps, result="Failed"))
        assert validate(report) == []
        assert report.sn == "SN-\xe9"
        assert report.result == "F"
        names = [(s.name, s.step_type, s.status) for s in walk(report.root)]
        assert names[0] == ("pf", "ET_PFT", "F")
        assert names[1][:2] == ("str", "ET_SVT")
        assert names[2][:2] == ("num", "ET_NLT")
        assert names[3][:2] == ("call", "SequenceCall")
        assert names[4][:2] == ("inner", "ET_PFT")
        assert names[5] == ("act", "Action", "D")

    def test_uut_fields_override_defaults(self) -> None:
        uut = (
            "<Prop Name='UUTPartNumber' Type='String'><Value>P9</Value></Prop>"
            "<Prop Name='UUTPartRevisionNumber' Type='String'><Value>B</Value></Prop>"
            "<Prop Name='UUTOperationType' Type='Number'><Value>55</Value></Prop>"
        )
        report = one(_native(_step("a", ""), uut))
        assert (report.pn, report.rev, report.process_code) == ("P9", "B", 55)


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Reports><Report Type='UUT'>&lol3;</Report></Reports>
"""


class TestMalformed:
    def test_billion_laughs_is_refused_quickly(self) -> None:
        """An entity bomb is refused at its DOCTYPE, before any expansion."""
        began = time.perf_counter()
        with pytest.raises(FileRejected, match="DOCTYPE is not allowed") as info:
            convert(BOMB)
        assert time.perf_counter() - began < 1.0
        assert info.value.where == "line 2"

    @pytest.mark.parametrize(
        ("data", "match", "where"),
        [
            (b"<Reports><Report Type='UUT'>", "not well-formed", "line 1"),
            (b"<testsuites/>", "not a TestStand XML report", "line 1"),
            (b"<Reports>\n</Reports>", "no <Report Type='UUT'>", "line 1"),
            (b"<Reports>\n<Report Type='UUT'/></Reports>", "no UUT information", "line 2"),
            (b"", "not well-formed", "line 1"),
        ],
    )
    def test_bad_files_are_rejected_clearly(self, data: bytes, match: str, where: str) -> None:
        with pytest.raises(FileRejected, match=match) as info:
            convert(data)
        assert info.value.where == where

    def test_bad_arguments_are_refused(self) -> None:
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert({"serial": "x"}, TestStandArguments)


class TestDetect:
    @pytest.mark.parametrize("name", SAMPLES)
    def test_own_samples_score_high(self, samples_dir: Path, name: str) -> None:
        data = sample(samples_dir, name)
        assert TestStandConverter().detect(data[:65536], name) >= 0.9

    def test_other_sample_files_score_low(self, samples_dir: Path) -> None:
        """Every file under the samples folder that is not a TestStand sample scores < 0.5."""
        own = {samples_dir / "teststand_xml" / name for name in SAMPLES}
        others = [p for p in sorted(samples_dir.rglob("*")) if p.is_file() and p not in own]
        assert others
        high = {
            str(p): score
            for p in others
            if (score := TestStandConverter().detect(p.read_bytes()[:65536], p.name)) >= 0.5
        }
        assert high == {}
