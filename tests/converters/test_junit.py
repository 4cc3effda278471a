"""The JUnit / xUnit XML converter: pytest (xunit1, xunit2) and Jenkins files to UUT reports."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import trio

from converters import (
    Converted,
    ConverterConfig,
    FileRejected,
    JunitArguments,
    JunitConverter,
    Rejected,
    open_converter_pool,
)
from pywats_actors.report import Step, UUTReport, decode_report, validate

from .conftest import NAMESPACE, settings

SAMPLES = [
    "dorny_python-xunit-pytest.xml",
    "junitparser_jenkins.xml",
    "junitparser_pytest_error.xml",
    "junitparser_pytest_success.xml",
    "psu100_fail_xunit1.xml",
    "psu100_fail_xunit2.xml",
    "psu100_pass_xunit1.xml",
]
ARGS = JunitArguments()


def convert(data: bytes, name: str = "run.xml", args: JunitArguments = ARGS) -> list[UUTReport]:
    reports = JunitConverter().convert(data, name, args)
    assert all(isinstance(report, UUTReport) for report in reports)
    return reports  # type: ignore[return-value]


def one(data: bytes, name: str = "run.xml", args: JunitArguments = ARGS) -> UUTReport:
    (report,) = convert(data, name, args)
    return report


def sample(samples_dir: Path, name: str) -> bytes:
    return (samples_dir / "junit" / name).read_bytes()


def leaves(step: Step) -> Iterator[Step]:
    """The test steps under ``step`` (sequences left out), in order."""
    for child in step.steps or ():
        if child.step_type == "SequenceCall":
            yield from leaves(child)
        else:
            yield child


def by_name(report: UUTReport) -> dict[str, Step]:
    return {step.name: step for step in leaves(report.root)}


def statuses(report: UUTReport) -> Counter[str]:
    return Counter(step.status for step in leaves(report.root))


def suite(cases: str, props: str = "", attrs: str = "") -> bytes:
    head = f"<properties>{props}</properties>" if props else ""
    return f'<testsuite name="s" tests="1"{attrs}>{head}{cases}</testsuite>'.encode()


class TestSamples:
    @pytest.mark.parametrize("name", SAMPLES)
    def test_every_sample_converts_to_a_valid_report(self, samples_dir: Path, name: str) -> None:
        """Each sample is one report that validates, with one step per testcase."""
        data = sample(samples_dir, name)
        report = one(data, name)
        assert validate(report) == []
        assert sum(statuses(report).values()) == data.count(b"<testcase")

    @pytest.mark.parametrize("name", ["psu100_fail_xunit1.xml", "psu100_fail_xunit2.xml"])
    def test_station_fail_run(self, samples_dir: Path, name: str) -> None:
        """README: 2 failed, 5 passed, 1 skipped, 1 error; SN 417, PN PSU-100, rev C, code 50;
        the unit failed; the out-of-limit measurement and the messages are kept."""
        report = one(sample(samples_dir, name), name)
        assert (report.sn, report.pn, report.rev, report.process_code) == (
            "PSU100-000417",
            "PSU-100",
            "C",
            50,
        )
        assert report.uut.user == "op1"
        assert report.machine_name == "vm"
        assert report.result == "F"
        assert statuses(report) == Counter({"P": 5, "F": 2, "S": 1, "E": 1})
        steps = by_name(report)
        assert [s.name for s in leaves(report.root)] == [
            "test_vout_3v3",
            "test_vout_5v0",
            "test_firmware_version",
            "test_relay_channel[1]",
            "test_relay_channel[2]",
            "test_relay_channel[3]",
            "test_burn_in",
            "test_eeprom_write",
            "test_flash_bootloader",
        ]
        vout = steps["test_vout_5v0"]
        assert (vout.step_type, vout.status) == ("ET_NLT", "F")
        (meas,) = vout.numeric_meas  # type: ignore[misc]
        assert (meas.value, meas.low_limit, meas.high_limit, meas.unit, meas.comp_op) == (
            5.31,
            4.75,
            5.25,
            "V",
            "GELE",
        )
        assert "vout_5v0=5.31V outside [4.75, 5.25]" in str(vout.report_text)
        assert steps["test_vout_3v3"].status == "P"
        (fw,) = steps["test_firmware_version"].string_meas  # type: ignore[misc]
        assert (fw.value, fw.comp_op) == ("2.4.1", "LOG")
        assert "I2C NACK from EEPROM" in str(steps["test_eeprom_write"].report_text)
        assert steps["test_eeprom_write"].status == "F"
        assert steps["test_flash_bootloader"].status == "E"
        assert "JTAG programmer not responding" in str(steps["test_flash_bootloader"].report_text)
        assert steps["test_burn_in"].status == "S"
        assert "burn-in fixture not installed" in str(steps["test_burn_in"].report_text)
        assert steps["test_vout_5v0"].tot_time == pytest.approx(0.001)
        # the first failure caused the unit's failure
        assert report.uut.step_id_caused_uut_failure == vout.id

    def test_station_pass_run(self, samples_dir: Path) -> None:
        """README: 8 passed and 1 skipped, SN PSU100-000416; the unit passed."""
        report = one(sample(samples_dir, "psu100_pass_xunit1.xml"))
        assert (report.sn, report.pn, report.rev, report.result) == (
            "PSU100-000416",
            "PSU-100",
            "C",
            "P",
        )
        assert statuses(report) == Counter({"P": 8, "S": 1})
        assert report.start.startswith("2026-11-23T01:59:25")

    def test_dorny_pytest(self, samples_dir: Path) -> None:
        """Skip and xfail are skipped, two failures fail the unit, a record_property number is a
        logged measurement, the suite's other property is a misc info, classname groups."""
        name = "dorny_python-xunit-pytest.xml"
        report = one(sample(samples_dir, name), name)
        assert report.result == "F"
        assert statuses(report) == Counter({"P": 6, "F": 2, "S": 2})
        steps = by_name(report)
        assert steps["test_expected_failure"].status == "S"
        (prop,) = steps["test_with_record_property"].numeric_meas  # type: ignore[misc]
        assert (prop.value, prop.comp_op) == (1.0, "LOG")
        assert [(m.description, m.text) for m in report.misc_infos] == [  # type: ignore[union-attr]
            ("custom_prop", "custom_val")
        ]
        (pytest_suite,) = report.root.steps  # type: ignore[misc]
        assert [s.name for s in pytest_suite.steps] == ["tests.test_lib", "custom_classname"]  # type: ignore[union-attr]
        assert report.sn == "dorny_python-xunit-pytest"  # no property: the file name
        assert report.pn == "junit"
        assert report.machine_name == "Mac.hsd1.va.comcast.net"

    def test_junitparser_files(self, samples_dir: Path) -> None:
        """The 'error' file holds a failure (the unit failed), the success file passes."""
        failed = one(sample(samples_dir, "junitparser_pytest_error.xml"))
        assert failed.result == "F"
        assert statuses(failed) == Counter({"F": 1})
        assert "NameError" in str(next(leaves(failed.root)).report_text)
        passed = one(sample(samples_dir, "junitparser_pytest_success.xml"))
        assert passed.result == "P"
        assert statuses(passed) == Counter({"P": 1})

    def test_jenkins_nested_suites(self, samples_dir: Path) -> None:
        """Nested suites nest as sequences; the empty suite is left out; a naive timestamp is
        UTC."""
        report = one(sample(samples_dir, "junitparser_jenkins.xml"))
        assert statuses(report) == Counter({"F": 1, "S": 1, "P": 1})
        assert report.result == "F"
        (top,) = report.root.steps  # type: ignore[misc]
        assert top.name == "JUnitXmlReporter.constructor"
        depth, step = 0, top
        while step.step_type == "SequenceCall":
            step = step.steps[-1]  # type: ignore[index]
            depth += 1
        assert (depth, step.name) == (3, "should default useDotNotation to true")
        assert report.start == "2013-05-24T10:23:58.000000+00:00"

    async def test_samples_in_the_sandbox(self, samples_dir: Path) -> None:
        """Through the pool, by name, every sample converts into one valid report."""
        async with open_converter_pool(
            settings(), converters=["junit"], station_namespace=NAMESPACE
        ) as pool:
            for name in SAMPLES:
                with trio.fail_after(30):
                    result = await pool.convert(sample(samples_dir, name), name, "junit")
                assert isinstance(result, Converted), result
                (converted,) = result.reports
                assert validate(decode_report(converted.wsjf)) == []


class TestConvention:
    def test_serial_number_from_arguments_pattern_and_file_name(self) -> None:
        """The argument wins over the property; without either, the pattern's ``sn`` group,
        group 1 or match; without a match, the file name's stem."""
        data = suite('<testcase name="t"/>', '<property name="serial_number" value="P-1"/>')
        assert one(data, args=JunitArguments(serial_number="A-1")).sn == "A-1"
        assert one(data).sn == "P-1"
        bare = suite('<testcase name="t"/>')
        pattern = JunitArguments(serial_number_pattern=r"_(?P<sn>SN\d+)_")
        assert one(bare, "/x/run_SN42_a.xml", pattern).sn == "SN42"
        assert one(bare, "run_7.xml", JunitArguments(serial_number_pattern=r"(\d+)")).sn == "7"
        assert one(bare, "nomatch.xml", pattern).sn == "nomatch"

    def test_header_defaults_from_arguments(self) -> None:
        """Part number, revision, process code, station, location, purpose and operator come
        from the arguments when the file has no property for them."""
        args = JunitArguments(
            part_number="PN-9",
            revision="B",
            process_code=30,
            station="st-1",
            location="Oslo",
            purpose="QA",
            operator="ann",
        )
        report = one(suite('<testcase name="t"/>', attrs=' hostname="h"'), args=args)
        assert (report.pn, report.rev, report.process_code, report.machine_name) == (
            "PN-9",
            "B",
            30,
            "st-1",
        )
        assert (report.location, report.purpose, report.uut.user) == ("Oslo", "QA", "ann")
        props = '<property name="station" value="st-p"/><property name="location" value="L"/>'
        report = one(suite('<testcase name="t"/>', props, ' hostname="h"'), args=args)
        assert (report.machine_name, report.location) == ("st-p", "L")

    def test_one_limit_gives_a_single_limit_operator(self) -> None:
        """A low limit alone is GE, a high limit alone LE (stored in lowLimit)."""
        props = (
            '<property name="a.value" value="2"/><property name="a.low_limit" value="1"/>'
            '<property name="b.value" value="2"/><property name="b.high_limit" value="1"/>'
        )
        case = f'<testcase name="t"><properties>{props}</properties></testcase>'
        step = next(leaves(one(suite(case)).root))
        assert (step.step_type, step.status) == ("ET_MNLT", "F")
        a, b = step.numeric_meas  # type: ignore[misc]
        assert (a.name, a.comp_op, a.low_limit, a.status) == ("a", "GE", 1.0, "P")
        assert (b.name, b.comp_op, b.low_limit, b.status) == ("b", "LE", 1.0, "F")

    def test_string_values_beside_a_number_go_to_the_report_text(self) -> None:
        """One number and a text: a numeric step, the text listed; texts alone: string steps."""
        mixed = '<property name="fw" value="2.4.1"/><property name="v.value" value="3"/>'
        texts = '<property name="fw" value="2.4.1"/><property name="hw" value="B"/>'
        cases = "".join(
            f'<testcase name="{n}"><properties>{p}</properties></testcase>'
            for n, p in (("mixed", mixed), ("texts", texts))
        )
        steps = by_name(one(suite(cases)))
        assert steps["mixed"].step_type == "ET_NLT"
        assert steps["mixed"].numeric_meas[0].value == 3.0  # type: ignore[index]
        assert "fw=2.4.1" in str(steps["mixed"].report_text)
        assert steps["texts"].step_type == "ET_MSVT"
        assert [m.name for m in steps["texts"].string_meas] == ["fw", "hw"]  # type: ignore[union-attr]

    def test_failure_with_measurements_in_limits_is_a_failed_step(self) -> None:
        """The testcase's failure is kept even when its measurements pass their limits."""
        props = '<property name="v.value" value="1"/><property name="v.high_limit" value="2"/>'
        case = (
            f'<testcase name="t"><properties>{props}</properties>'
            '<failure message="boom">trace</failure></testcase>'
        )
        report = one(suite(case))
        step = next(leaves(report.root))
        assert (step.status, report.result) == ("F", "F")
        assert "boom" in str(step.report_text)
        assert "v=1" in str(step.report_text)

    def test_report_text_is_bounded(self) -> None:
        """A long failure text is cut to ``max_text`` characters."""
        case = f'<testcase name="t"><failure message="m">{"x" * 100_000}</failure></testcase>'
        step = next(leaves(one(suite(case), args=JunitArguments(max_text=500)).root))
        assert len(str(step.report_text)) == 500

    def test_one_report_per_suite(self) -> None:
        """With report_per_suite, each top-level suite is a report with its own serial."""
        data = (
            b"<testsuites>"
            + suite('<testcase name="a"/>', '<property name="serial_number" value="S1"/>')
            + suite(
                '<testcase name="b"><error message="x"/></testcase>',
                '<property name="serial_number" value="S2"/>',
            )
            + b"</testsuites>"
        )
        first, second = convert(data, args=JunitArguments(report_per_suite=True))
        assert (first.sn, first.result, second.sn, second.result) == ("S1", "P", "S2", "E")
        (whole,) = convert(data)
        assert (whole.sn, whole.result) == ("S1", "E")


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<testsuite name="s"><testcase name="t"><failure message="&lol9;"/></testcase></testsuite>
"""
EXTERNAL = (
    b'<?xml version="1.0"?>\n<!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
    b'<testsuite name="s"><testcase name="&x;"/></testsuite>'
)


class TestRejection:
    def test_billion_laughs_is_refused_quickly(self) -> None:
        """An entity bomb is refused at its DOCTYPE, before any expansion, in well under a
        second."""
        began = time.perf_counter()
        with pytest.raises(FileRejected, match="DOCTYPE is not allowed") as info:
            convert(BOMB)
        assert time.perf_counter() - began < 1.0
        assert info.value.where == "line 2"

    def test_external_entity_is_refused(self) -> None:
        """An external entity is never resolved: the DOCTYPE is refused."""
        with pytest.raises(FileRejected, match="DOCTYPE") as info:
            convert(EXTERNAL)
        assert info.value.where == "line 2"

    def test_truncated_file(self, samples_dir: Path) -> None:
        """A file cut short is not well-formed XML; the line is named."""
        data = sample(samples_dir, "dorny_python-xunit-pytest.xml")
        with pytest.raises(FileRejected, match="not well-formed XML") as info:
            convert(data[: len(data) // 2])
        assert str(info.value.where).startswith("line ")

    @pytest.mark.parametrize(
        ("data", "reason", "where"),
        [
            (b"<html><body/></html>", "root element is <html>", "line 1"),
            (b"\x00\xff\xfe garbage \x89PNG", "not well-formed XML", "line 1"),
            (b"", "not well-formed XML", "line 1"),
            (b'<?xml version="1.0" encoding="utf-9"?><testsuite/>', "unknown encoding", "line 1"),
            (b'<testsuites>\n<testsuite name="e"/>\n</testsuites>', "no <testcase>", "line 1"),
            (
                suite(
                    '\n<testcase name="t"><properties>'
                    '<property name="v.value" value="abc"/></properties></testcase>'
                ),
                "'v.value': 'abc' is not a finite number",
                "line 2",
            ),
            (
                suite(
                    '<testcase name="t"><properties>'
                    '<property name="v.low_limit" value="1"/></properties></testcase>'
                ),
                "'v' has limits or a unit but no value",
                "line 1",
            ),
            (
                suite(
                    '<testcase name="t"><properties><property name="a.value" value="1"/>'
                    '<property name="a.low_limit" value="3"/>'
                    '<property name="a.high_limit" value="2"/></properties></testcase>'
                ),
                "bad measurement: low 3.0 is above high 2.0",
                "line 1",
            ),
            (
                suite('<testcase name="t"/>', '<property name="process_code" value="x"/>'),
                "process_code 'x' is not an integer",
                "line 1",
            ),
        ],
    )
    def test_malformed_files(self, data: bytes, reason: str, where: str) -> None:
        """Not JUnit, garbage, empty, no test, a bad measurement or header value: each a
        FileRejected with its reason and line."""
        with pytest.raises(FileRejected) as info:
            convert(data)
        assert reason in info.value.reason
        assert info.value.where == where

    async def test_bomb_is_rejected_in_the_pool(self) -> None:
        """In the sandbox the bomb is a Rejected outcome naming the DOCTYPE and its line."""
        config = ConverterConfig("junit")
        async with open_converter_pool(
            settings(), converters=[config], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(30):
                result = await pool.convert(BOMB, "bomb.xml", "junit")
        assert isinstance(result, Rejected)
        assert "DOCTYPE" in result.reason
        assert result.where == "line 2"


class TestDetect:
    @pytest.mark.parametrize("name", SAMPLES)
    def test_own_samples_score_high(self, samples_dir: Path, name: str) -> None:
        data = sample(samples_dir, name)
        assert JunitConverter().detect(data[:65536], name) >= 0.9

    def test_other_sample_files_score_low(self, samples_dir: Path) -> None:
        """Every file under the samples folder that is not a JUnit sample scores below 0.5."""
        own = {samples_dir / "junit" / name for name in SAMPLES}
        others = [p for p in sorted(samples_dir.rglob("*")) if p.is_file() and p not in own]
        assert others
        high = {
            str(p): score
            for p in others
            if (score := JunitConverter().detect(p.read_bytes()[:65536], p.name)) >= 0.5
        }
        assert high == {}

    @pytest.mark.parametrize(
        "args",
        [{"serial": "x"}, {"serial_number_pattern": "(unclosed"}, {"max_text": 0}],
    )
    def test_bad_arguments_are_refused(self, args: dict[str, object]) -> None:
        """An unknown field, a pattern that does not compile or a tiny max_text is refused by
        the schema, before any file."""
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(args, JunitArguments)
