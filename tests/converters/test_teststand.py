"""The NI TestStand XML converter: native ``Reports/Report`` and the WATS AddOn ``TSReport``."""

from __future__ import annotations

import base64
import datetime as dt
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

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
from pywats_actors.report import UNSET, Step, UnsetType, UUTReport, decode_report, validate
from pywats_actors.report import value_or_none as none

from .conftest import NAMESPACE, settings

SAMPLES = ["TSWithWats.xml", "TSWithWats2.xml", "TsWithoutWats.xml"]
ARGS = TestStandArguments()
T = TypeVar("T")


def convert(data: bytes, name: str = "r.xml", args: TestStandArguments = ARGS) -> list[UUTReport]:
    reports = TestStandConverter().convert(data, name, args)
    assert all(isinstance(report, UUTReport) for report in reports)
    return reports  # type: ignore[return-value]


def given(value: T | UnsetType | None) -> T:
    """The value of an optional field the test expects to be set."""
    assert value is not None
    assert not isinstance(value, UnsetType)
    return value


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
        """Native reports: the SN, UUTResult Passed, and 17 steps under the root, the
        report's own StepCount."""
        data = sample(samples_dir, name)
        report = one(data)
        assert report.sn == sn
        assert report.result == "P"
        # 17 is right; the README's "19 steps" counts the file's StepName props. The file holds
        # 18 result objects (<Prop Type='TEResult'>; two more Type='TEResult' are the
        # ResultLists' ArrayElementPrototypes, type descriptions with no data): the
        # "MainSequence Callback" result, which is the report's root step, then the 13
        # results of MainSequence's ResultList (2 Setup actions, Powerup Test, If, the
        # "CPU Test" sequence call, ROM, RAM, Video, Keyboard, If, End, End, 1 Cleanup action)
        # and the 4 inside CPU Test (Register, Instruction Set, Cache, FPU): 13 + 4 = 17 steps
        # under the root. The 19th StepName is in the UUT's CriticalFailureStack
        # ArrayElementPrototype, not a result. TestStand's own StepCount attribute says 17.
        steps = list(walk(report.root))
        assert len(steps) == 17
        assert b"StepCount='17'" in data
        assert data.count(b"<Prop Type='TEResult'") == 18
        assert data.count(b"Name='StepName'") == 19
        assert len(report.root.children) == 13
        cpu = next(s for s in steps if s.name == "CPU Test")
        assert (cpu.step_type, len(cpu.children)) == ("SequenceCall", 4)
        assert [s.group for s in report.root.children].count("S") == 2
        assert [s.group for s in report.root.children].count("C") == 1

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
        """UUTPartNumber, UUTPartRevisionNumber and UUTOperationType win over the arguments."""
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
        """Truncated, empty, foreign or UUT-less files are rejected with a reason and a line."""
        with pytest.raises(FileRejected, match=match) as info:
            convert(data)
        assert info.value.where == where

    def test_bad_arguments_are_refused(self) -> None:
        """An unknown argument is refused by the Arguments struct."""
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert({"serial": "x"}, TestStandArguments)

    @pytest.mark.parametrize("name", SAMPLES)
    def test_truncated_and_garbled_samples_are_rejected_with_a_line(
        self, samples_dir: Path, name: str
    ) -> None:
        """A real report cut in half, or with garbage bytes in its markup, is rejected naming
        a line, never a crash."""
        data = sample(samples_dir, name)
        with pytest.raises(FileRejected, match=r"not well-formed|no element found") as cut:
            convert(data[: len(data) // 2])
        assert cut.value.where is not None
        assert cut.value.where.startswith("line ")
        garbled = data.replace(b"<Prop Name='TS'", b"<Prop \x00\xff Name='TS'", 1)
        with pytest.raises(FileRejected) as bad:
            convert(garbled)
        assert bad.value.where is not None
        assert bad.value.where.startswith("line ")


class TestDetect:
    @pytest.mark.parametrize("name", SAMPLES)
    def test_own_samples_score_high(self, samples_dir: Path, name: str) -> None:
        """Each TestStand sample's head scores at least 0.9."""
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


# -- hand-made TestStand fragments, in TestStand's own Prop structure ------------------------


def _val(name: str, value: object, kind: str = "Number") -> str:
    return f"<Prop Name='{name}' Type='{kind}' Flags='0x0'><Value>{value}</Value></Prop>"


def _str(name: str, value: object) -> str:
    return _val(name, value, "String")


def _obj(name: str | None, *body: str, type_name: str = "") -> str:
    named = f" Name='{name}'" if name is not None else ""
    typed = f" TypeName='{type_name}'" if type_name else ""
    return f"<Prop{named} Type='Obj'{typed} Flags='0x0'>{''.join(body)}</Prop>"


def _array(name: str, elements: list[str], prototype: str = "") -> str:
    """An array of objects, with an ArrayElementPrototype (a type description, never data)."""
    values = "".join(f"<Value ID='[{i}]'>{e}</Value>" for i, e in enumerate(elements))
    proto = f"<ArrayElementPrototype Type='Obj' Flags='0x0'>{prototype}</ArrayElementPrototype>"
    return (
        f"<Prop Name='{name}' Type='Array' LBound='[0]' HBound='[{len(elements) - 1}]' "
        f"ElementType='Obj' Flags='0x0'>{proto}{values}</Prop>"
    )


def _limits(low: float | None = None, high: float | None = None, name: str = "Limits") -> str:
    parts = [
        _val("Low", low) if low is not None else "",
        _val("High", high) if high is not None else "",
    ]
    return _obj(name, *parts)


def _meas(
    name: str,
    data: float | str,
    *,
    low: float | None = None,
    high: float | None = None,
    comp: str = "GELE",
    units: str = "V",
    status: str = "Passed",
) -> str:
    """One NI_LimitMeasurement element of a Multiple Numeric Limit Test's Measurement array."""
    return _obj(
        name,
        _limits(low, high),
        _str("Status", status),
        _str("Units", units),
        _str("Comp", comp),
        _val("Data", data),
        type_name="NI_LimitMeasurement",
    )


def _numeric_step(value: float | str, comp: str, low: float | None, high: float | None) -> str:
    return _step(
        "num",
        _val("Numeric", value) + _str("Comp", comp) + _limits(low, high) + _str("Units", "A"),
    )


def _steps_of(body: str, status: str = "Passed", **kwargs: str) -> list[Step]:
    return list(walk(one(_native(_step("s", body, status), **kwargs)).root))


class TestMultipleMeasurements:
    def test_numeric_measurement_array_keeps_each_value_limit_unit_and_status(self) -> None:
        """A Measurement array becomes one ET_MNLT step with one named measurement per
        element, each with its own value, limits, comp, unit and status."""
        array = _array(
            "Measurement",
            [
                _meas("Voltage", 5.02, low=4.9, high=5.1, comp="GELE", units="V"),
                _meas("Current", 0.7, high=0.5, comp="LT", units="A", status="Failed"),
                _meas("Ripple", 12, comp="LOG", units="mV"),
            ],
            prototype=_meas("proto", 0),
        )
        report = one(_native(_step("rails", array, "Failed"), result="Failed"))
        assert validate(report) == []
        (step,) = walk(report.root)
        assert (step.name, step.step_type, step.status) == ("rails", "ET_MNLT", "F")
        got = [
            (m.name, m.value, none(m.low_limit), none(m.high_limit), m.comp_op, m.unit, m.status)
            for m in step.numeric_meas or ()
        ]
        assert got == [
            ("Voltage", 5.02, 4.9, 5.1, "GELE", "V", "P"),
            ("Current", 0.7, 0.5, None, "LT", "A", "F"),  # a single limit goes in lowLimit
            ("Ripple", 12.0, None, None, "LOG", "mV", "P"),
        ]
        assert step.caused_uut_failure is True
        assert report.uut.step_id_caused_uut_failure == step.id

    def test_the_files_measurement_status_wins_over_the_limits(self) -> None:
        """A measurement TestStand marked Failed stays failed though its value is inside the
        limits (the file records the executive's decision), and fails its step."""
        array = _array("Measurement", [_meas("a", 1, low=0, high=2, status="Failed")])
        (step,) = _steps_of(array, "Passed")
        assert [m.status for m in step.numeric_meas or ()] == ["F"]
        assert step.status == "F"

    def test_string_and_boolean_measurement_arrays(self) -> None:
        """MeasName/StringData/StringLimit elements make ET_MSVT, MeasName/PassFail ET_MPFT."""
        strings = _array(
            "Measurement",
            [
                _obj(
                    None,
                    _str("MeasName", "fw"),
                    _str("StringData", "V1.2"),
                    _str("StringLimit", "v1.2"),
                    _str("Comp", "IgnoreCase"),
                    _str("Status", "Passed"),
                ),
                _obj(
                    None,
                    _str("MeasName", "hw"),
                    _str("StringData", "B"),
                    _str("StringLimit", "C"),
                    _str("Comp", "CaseSensitive"),
                    _str("Status", "Failed"),
                ),
            ],
        )
        booleans = _array(
            "Measurement",
            [
                _obj(None, _str("MeasName", "led"), _val("PassFail", "True", "Boolean")),
                _obj(None, _str("MeasName", "fan"), _val("PassFail", "False", "Boolean")),
            ],
        )
        report = one(_native(_step("ids", strings, "Failed") + _step("io", booleans, "Failed")))
        assert validate(report) == []
        ids, io = walk(report.root)
        assert (ids.step_type, ids.status) == ("ET_MSVT", "F")
        assert [(m.name, m.value, m.limit, m.comp_op, m.status) for m in ids.string_meas or ()] == [
            ("fw", "V1.2", "v1.2", "IGNORECASE", "P"),
            ("hw", "B", "C", "CASESENSIT", "F"),
        ]
        assert (io.step_type, io.status) == ("ET_MPFT", "F")
        assert [(m.name, m.status) for m in io.boolean_meas or ()] == [("led", "P"), ("fan", "F")]

    def test_a_measurement_that_is_not_a_number_is_noted_not_invented(self) -> None:
        """An element whose Data is NaN is left out and said so in the step's report text."""
        array = _array("Measurement", [_meas("ok", 1, low=0, high=2), _meas("bad", "NaN")])
        (step,) = _steps_of(array)
        assert [m.name for m in step.numeric_meas or ()] == ["ok"]
        assert "measurement 'bad': value 'NaN' is not a finite number" in str(step.report_text)


ALL_COMPS = [
    # (Comp, value, Low, High, expected low_limit, expected high_limit, expected status)
    ("EQ", 3, 3, None, 3.0, None, "P"),
    ("NE", 3, 3, None, 3.0, None, "F"),
    ("GT", 3, 2, None, 2.0, None, "P"),
    ("GE", 3, 4, None, 4.0, None, "F"),
    ("LT", 3, 4, None, 4.0, None, "P"),
    ("LE", 3, None, 2, 2.0, None, "F"),  # only High set: it is the limit, kept in lowLimit
    ("GTLT", 3, 3, 5, 3.0, 5.0, "F"),
    ("GELE", 3, 3, 5, 3.0, 5.0, "P"),
    ("GELT", 5, 3, 5, 3.0, 5.0, "F"),
    ("GTLE", 5, 3, 5, 3.0, 5.0, "P"),
    ("LTGT", 4, 3, 5, 3.0, 5.0, "F"),
    ("LEGE", 3, 3, 5, 3.0, 5.0, "P"),
    ("LEGT", 5, 3, 5, 3.0, 5.0, "F"),
    ("LTGE", 5, 3, 5, 3.0, 5.0, "P"),
    ("LOG", 3, None, None, None, None, "P"),
]


class TestComparisons:
    @pytest.mark.parametrize(("comp", "value", "low", "high", "lo", "hi", "status"), ALL_COMPS)
    def test_every_numeric_comp_operator(
        self,
        comp: str,
        value: float,
        low: float | None,
        high: float | None,
        lo: float | None,
        hi: float | None,
        status: str,
    ) -> None:
        """Each TestStand Comp keeps its name, its limits in WSJF's fields, and its verdict
        (the step has no Status of its own here, so the limits decide)."""
        body = _val("Numeric", value) + _str("Comp", comp) + _limits(low, high)
        body += _str("Units", "A")
        step = next(s for s in walk(one(_native(_step("n", body, ""))).root))
        (m,) = step.numeric_meas or ()
        assert (m.comp_op, none(m.low_limit), none(m.high_limit), m.status, m.unit) == (
            comp,
            lo,
            hi,
            status,
            "A",
        )
        assert step.status == status

    @pytest.mark.parametrize(
        ("kind", "nominal", "low", "high", "expected"),
        [
            ("Percentage", 10.0, 5.0, 10.0, (9.5, 11.0)),
            ("PPM", 1000.0, 100.0, 200.0, (999.9, 1000.2)),
            ("Delta", -2.0, 0.5, 0.25, (-2.5, -1.75)),
        ],
    )
    def test_eqt_becomes_gele_around_the_nominal(
        self, kind: str, nominal: float, low: float, high: float, expected: tuple[float, float]
    ) -> None:
        """EQT (equal within a threshold) maps to GELE with nominal -/+ the thresholds."""
        body = (
            _val("Numeric", nominal)
            + _str("Comp", "EQT")
            + _obj("Limits", _val("Low", 0), _val("High", 0), _str("ThresholdType", kind))
            + _obj("RawLimits", _val("Nominal", nominal), _val("Low", low), _val("High", high))
        )
        (step,) = _steps_of(body)
        (m,) = step.numeric_meas or ()
        assert m.comp_op == "GELE"
        assert (m.low_limit, m.high_limit) == pytest.approx(expected)
        assert m.status == "P"

    def test_eqt_without_a_threshold_type_uses_the_written_limits(self) -> None:
        """An EQT whose Limits already hold the actual bounds (no ThresholdType) uses them."""
        body = _val("Numeric", 4) + _str("Comp", "EQT") + _limits(3.5, 4.5)
        (m,) = _steps_of(body)[0].numeric_meas or ()
        assert (m.comp_op, m.low_limit, m.high_limit) == ("GELE", 3.5, 4.5)

    def test_limits_that_do_not_fit_the_operator_are_logged_and_said(self) -> None:
        """GELE with only a low limit, or with low above high, cannot be a GELE measurement:
        the value is kept as LOG with the file's status, and the step's text says why."""
        missing = _val("Numeric", 1) + _str("Comp", "GELE") + _limits(0)
        swapped = _val("Numeric", 1) + _str("Comp", "GELE") + _limits(5, 3)
        report = one(_native(_step("m", missing, "Failed") + _step("s", swapped, "Failed")))
        assert validate(report) == []
        for step in walk(report.root):
            (m,) = step.numeric_meas or ()
            assert (m.comp_op, m.value, m.status, step.status) == ("LOG", 1.0, "F", "F")
            assert "recorded as LOG" in given(step.report_text)
        assert "GELE needs low= and high=" in given(report.root.children[0].report_text)
        assert "low 5.0 is above high 3.0" in given(report.root.children[1].report_text)

    def test_string_step_with_limit_and_comp(self) -> None:
        """A String Value Test keeps Limits.String and IgnoreCase."""
        body = _str("String", "ABC") + _obj("Limits", _str("String", "abc"))
        body += _str("Comp", "IgnoreCase")
        (step,) = _steps_of(body)
        (m,) = step.string_meas or ()
        assert (step.step_type, m.value, m.limit, m.comp_op, m.status) == (
            "ET_SVT",
            "ABC",
            "abc",
            "IGNORECASE",
            "P",
        )


class TestOtherPayloads:
    def test_chart_with_plots_and_measurements(self) -> None:
        """A Chart (labels, units, type, Plots of 2-D PlotData: row 0 x, row 1 y) makes a
        WATS_XYGMNLT step carrying the series and the Measurement array."""
        data = "".join(
            f"<Value ID='[{r}][{c}]'>{v}</Value>"
            for r, row in enumerate([[0, 1, 2], [0.5, 1.5, 2.5]])
            for c, v in enumerate(row)
        )
        plot = _obj(
            None,
            _str("PlotName", "gain"),
            _str("PlotDataType", "XYG"),
            "<Prop Name='PlotData' Type='Array' LBound='[0][0]' HBound='[1][2]' "
            f"ElementType='Number' Flags='0x0'>{data}</Prop>",
            type_name="WATS_Chart_Plots",
        )
        chart = _obj(
            "Chart",
            _str("ChartLabel", "Frequency response"),
            _str("Xlabel", "f"),
            _str("Xunit", "Hz"),
            _str("Ylabel", "gain"),
            _str("Yunit", "dB"),
            _str("ChartType", "LineLogX"),
            _array("Plots", [plot]),
        )
        array = _array("Measurement", [_meas("peak", 2.5, low=2, high=3, units="dB")])
        report = one(_native(_step("sweep", chart + array)))
        assert validate(report) == []
        (step,) = walk(report.root)
        assert (step.step_type, step.status) == ("WATS_XYGMNLT", "P")
        c = given(step.chart)
        assert (c.label, c.x_label, c.x_unit, c.y_label, c.y_unit, c.chart_type) == (
            "Frequency response",
            "f",
            "Hz",
            "gain",
            "dB",
            "LineLogX",
        )
        (series,) = c.series or ()
        assert (series.name, series.data_type) == ("gain", "XYG")
        assert series.xdata == "0.0;1.0;2.0"
        assert series.ydata == "0.5;1.5;2.5"
        assert [(m.name, m.value, m.low_limit, m.high_limit) for m in step.numeric_meas or ()] == [
            ("peak", 2.5, 2.0, 3.0)
        ]

    def test_message_popup_button_and_response(self) -> None:
        """ButtonHit and Response make a MessagePopup step with the file's status."""
        body = _val("ButtonHit", 2) + _str("Response", "serial ok")
        (step,) = _steps_of(body, "Done")
        assert step.step_type == "MessagePopup"
        assert step.status == "D"
        popup = given(step.message_popup)
        assert (popup.button, popup.response) == (2, "serial ok")

    def test_call_executable_exit_code(self) -> None:
        """ExitCode makes a CallExecutable step with the code and the file's status."""
        (step,) = _steps_of(_val("ExitCode", 3), "Failed")
        assert (step.step_type, step.status) == ("CallExecutable", "F")
        call = given(step.call_exe)
        assert call.exit_code == 3.0

    def test_property_loader_counts_become_additional_results(self) -> None:
        """NumPropertiesRead/Applied (WSJF has no property-loader field) go to additional
        results, the step keeping its TestStand type."""
        body = _val("NumPropertiesRead", 12) + _val("NumPropertiesApplied", 10)
        body += _obj("TS", _str("StepType", "NI_PropertyLoader"))
        step = _steps_of(body, "Done")[0]
        assert (step.step_type, step.status) == ("NI_PropertyLoader", "D")
        (group,) = step.additional_results or ()
        assert group.name == "PropertyLoader"
        assert [(p.name, p.type, p.value) for p in group.props or ()] == [
            ("NumPropertiesRead", "Number", "12"),
            ("NumPropertiesApplied", "Number", "10"),
        ]

    def test_additional_results_as_object_and_as_array(self) -> None:
        """AdditionalResults (an Obj of props, or an Array of them) become the step's
        additional results, objects and arrays kept as trees."""
        obj = _obj(
            "AdditionalResults",
            _val("Temperature", 23.5),
            _obj("Fixture", _str("Id", "FX-7"), _val("Cycles", 1200)),
        )
        arr = (
            "<Prop Name='AdditionalResults' Type='Array' LBound='[0]' HBound='[0]' "
            "ElementType='Obj' Flags='0x0'><Value ID='[0]'>"
            "<Prop Name='Samples' Type='Array' LBound='[0]' HBound='[1]' ElementType='Number'>"
            "<Value ID='[0]'>1.5</Value><Value ID='[1]'>2.5</Value></Prop></Value></Prop>"
        )
        report = one(_native(_step("a", obj, "Done") + _step("b", arr, "Done")))
        assert validate(report) == []
        first, second = walk(report.root)
        temp, fixture = first.additional_results or ()
        assert (temp.name, [(p.name, p.type, p.value) for p in temp.props or ()]) == (
            "Temperature",
            [("Temperature", "Number", "23.5")],
        )
        assert [(p.name, p.value) for p in fixture.props or ()] == [
            ("Id", "FX-7"),
            ("Cycles", "1200"),
        ]
        (samples,) = second.additional_results or ()
        (prop,) = samples.props or ()
        array = given(prop.array)
        assert [(i.text, i.value.value if i.value else None) for i in array.indexes or ()] == [
            ("[0]", "1.5"),
            ("[1]", "2.5"),
        ]

    def test_xml_string_is_attached_and_attached_file_data_described(self) -> None:
        """XMLString becomes a stepdata.xml attachment; AttachedFileData (a file on the
        station that a sandboxed converter cannot read) is kept as a description."""
        body = _str("XMLString", "&lt;data a='1'/&gt;") + _obj(
            "AttachedFileData",
            _str("FileName", "scope.png"),
            _str("MIMEtype", "image/png"),
            _str("FullFileName", "C:\\tmp\\scope.png"),
        )
        (step,) = _steps_of(body, "Done")
        att = given(step.attachment)
        assert (att.name, att.content_type) == ("stepdata.xml", "text/xml")
        assert base64.b64decode(str(att.data)) == b"<data a='1'/>"
        (described,) = step.additional_results or ()
        assert described.name == "AttachedFileData"
        assert ("FileName", "scope.png") in [(p.name, p.value) for p in described.props or ()]

    def test_skipped_steps_carry_no_measurement(self) -> None:
        """A skipped step keeps its status and type but not the values TestStand left in it."""
        (step,) = _steps_of(_val("Numeric", 0) + _limits(1, 2) + _str("Comp", "GELE"), "Skipped")
        assert step.status == "S"
        assert step.numeric_meas is UNSET

    def test_a_skipped_chart_step_stays_a_valid_chart_step(self) -> None:
        """A skipped WATS chart step (no Chart recorded) keeps its type with an empty chart."""
        body = _obj("TS", _str("StepType", "WATS_XYGMNLT"))
        report = one(_native(_step("sweep", body, "Skipped")))
        assert validate(report) == []
        (step,) = walk(report.root)
        assert (step.step_type, step.status) == ("WATS_XYGMNLT", "S")
        assert given(step.chart).series is UNSET

    def test_an_error_keeps_its_code_and_message(self) -> None:
        """Error.Occurred gives the step its error code and message and status E."""
        error = _obj(
            "Error",
            _val("Code", -17502),
            _str("Msg", "instrument timeout"),
            _val("Occurred", "True", "Boolean"),
        )
        report = one(_native(_step("dmm", error, "Error"), result="Error"))
        (step,) = walk(report.root)
        assert (step.status, step.error_code, step.error_message) == (
            "E",
            -17502,
            "instrument timeout",
        )
        assert report.result == "E"

    def test_uut_result_wins_and_root_agrees(self) -> None:
        """UUTResult Failed with passing steps: the report and its root say F, and validate;
        UUTResult Passed with a failing step: P, and no step is blamed for a UUT failure."""
        failed = one(_native(_step("a", _val("PassFail", "True", "Boolean")), result="Failed"))
        assert (failed.result, failed.root.status) == ("F", "F")
        assert validate(failed) == []
        passed = one(_native(_step("a", _val("PassFail", "False", "Boolean"), "Failed")))
        assert (passed.result, passed.root.status) == ("P", "P")
        assert passed.uut.step_id_caused_uut_failure is UNSET
        assert validate(passed) == []


class TestUutAndTime:
    def test_misc_uut_info_sub_units_and_uut_fields(self) -> None:
        """MiscUUTResult's Misc_UUT_Info are misc infos, UUT_Part_Info sub-units (the arrays'
        prototypes ignored); socket, loop index, batch SN, comment, fixture go to the uut."""
        misc = _obj(
            "MiscUUTResult",
            _array(
                "UUT_Part_Info",
                [
                    _obj(
                        None,
                        _str("Part_Type", "PCBA"),
                        _str("Part_Number", "PCB-1"),
                        _str("Part_Serial_Number", "S-77"),
                        _str("Part_Revision_Number", "C"),
                    ),
                    _obj(None, _str("Part_Type", "empty")),  # no pn/sn: not a sub-unit
                ],
                prototype=_str("Part_Number", "PROTO"),
            ),
            _array(
                "Misc_UUT_Info",
                [
                    _obj(None, _str("Description", "Firmware"), _str("Data_String", "2.1.0")),
                    _obj(None, _str("Description", "Boots"), _val("Data_Numeric", 3)),
                ],
                prototype=_str("Description", "PROTO"),
            ),
        )
        uut = (
            misc
            + _val("TestSocketIndex", 2)
            + _val("UUTLoopIndex", 4)
            + _val("BatchFailCount", 1)
            + _str("BatchSerialNumber", "B-9")
            + _str("Comment", "retest")
            + _str("UUT_Fixture_ID", "FX-1")
        )
        report = one(_native(_step("a", "", "Done"), uut))
        assert validate(report) == []
        assert [(m.description, m.text, m.numeric) for m in report.misc_infos or ()] == [
            ("Firmware", "2.1.0", UNSET),
            ("Boots", UNSET, 3),
        ]
        assert [(u.part_type, u.pn, u.sn, u.rev) for u in report.sub_units or ()] == [
            ("PCBA", "PCB-1", "S-77", "C")
        ]
        u = report.uut
        assert (u.test_socket_index, u.batch_loop_index, u.batch_fail_count) == (2, 4, 1)
        assert (u.batch_sn, u.comment, u.fixture_id) == ("B-9", "retest", "FX-1")

    def test_local_start_is_read_in_the_timezone_argument(self, samples_dir: Path) -> None:
        """StartDate/StartTime (local, no offset) take the timezone argument's offset."""
        data = sample(samples_dir, "TsWithoutWats.xml")
        oslo = one(data, args=TestStandArguments(timezone="Europe/Oslo"))
        assert oslo.start == "2022-07-01T15:47:48.927000+02:00"
        assert given(oslo.start_utc).startswith("2022-07-01T13:47")
        chicago = one(data, args=TestStandArguments(timezone="America/Chicago"))
        assert chicago.start == "2022-07-01T15:47:48.927000-05:00"

    def test_default_timezone_is_the_stations(self, samples_dir: Path) -> None:
        """Without the argument the local start gets the station's own UTC offset."""
        report = one(sample(samples_dir, "TsWithoutWats.xml"))
        local = dt.datetime(2022, 7, 1, 15, 47, 48, 927000).astimezone()
        assert dt.datetime.fromisoformat(str(report.start)) == local

    def test_an_explicit_offset_wins_over_the_argument(self, samples_dir: Path) -> None:
        """The AddOn's ReportInfo Start carries +02:00: kept whatever the timezone argument."""
        data = sample(samples_dir, "TSWithWats.xml")
        report = one(data, args=TestStandArguments(timezone="America/Chicago"))
        assert report.start.startswith("2022-06-23T10:55:04.37")
        assert report.start.endswith("+02:00")

    def test_addon_steps_start_at_engine_start_plus_their_start_time(
        self, samples_dir: Path
    ) -> None:
        """The AddOn dump's EngineStarted (UTC) plus each result's TS.StartTime seconds is the
        step's start, written in the report start's offset; native reports have no engine
        start, so their steps have none."""
        report = one(sample(samples_dir, "TSWithWats.xml"))
        root, step = report.root.walk()
        # 08:51:29.994Z + 214.3985775 s and + 214.4463569 s
        assert given(root.start).startswith("2022-06-23T10:55:04.39257")  # float seconds
        assert given(root.start).endswith("+02:00")
        assert step.start == "2022-06-23T10:55:04.440357+02:00"
        native = one(sample(samples_dir, "TsWithoutWats.xml"))
        assert {s.start for s in native.root.walk()} == {UNSET}

    def test_an_unknown_timezone_is_refused(self) -> None:
        """A timezone argument that names no IANA zone is refused with the arguments."""
        with pytest.raises(ValueError, match="'Mars/Base' is not an IANA time zone"):
            TestStandArguments(timezone="Mars/Base")

    def test_station_location_purpose_and_sequence_file(self, samples_dir: Path) -> None:
        """StationInfo Location/Purpose win over the arguments; the root names the sequence
        file and version the main sequence ran."""
        report = one(sample(samples_dir, "TSWithWats.xml"))
        assert (report.location, report.purpose, report.machine_name) == (
            "Norautron Horten",
            "PCBA Test",
            "VIC-PCBA-003",
        )
        native = one(sample(samples_dir, "TsWithoutWats.xml"))
        call = given(native.root.seq_call)
        assert (call.name, call.version) == ("MainSequence", "21.0.0.49156")
        assert str(call.path).endswith("Computer Motherboard Test Sequence.seq")
        assert native.uut.test_socket_index == -1


class TestReportsAndSequences:
    def test_one_report_per_uut_report_element(self) -> None:
        """A Reports file with two UUT reports and a batch report holding a third gives three
        UUT reports, in file order (the batch report itself is none)."""
        first = _native(_step("a", "", "Done")).decode("iso-8859-1")
        body = first.split("<Reports>\n", 1)[1].rsplit("</Reports>", 1)[0]
        second = body.replace("SN-\xe9", "SN-2").replace("UUTResult='Passed'", "UUTResult='Failed'")
        third = body.replace("SN-\xe9", "SN-3")
        data = (
            "<?xml version='1.0' encoding='iso-8859-1'?>\n<Reports>\n"
            f"{body}<Report Type='Batch' Title='Batch Report'>{third}</Report>{second}"
            "</Reports>\n"
        ).encode("iso-8859-1")
        reports = convert(data)
        assert [(r.sn, r.result) for r in reports] == [
            ("SN-\xe9", "P"),
            ("SN-3", "P"),
            ("SN-2", "F"),
        ]
        assert all(validate(r) == [] for r in reports)

    def test_nested_sequence_call_names_its_file_and_version_and_loops_are_kept(self) -> None:
        """A SequenceCall step names the called sequence, its file and version; TestStand's
        loop counters go to the step's loop block."""
        inner = _step("inner", _val("PassFail", "True", "Boolean"))
        call = (
            "<Value><Prop Type='TEResult'>"
            + _str("Status", "Passed")
            + _obj(
                "TS",
                _str("StepName", "Board tests"),
                _val("NumLoops", 3),
                _val("NumPassed", 2),
                _val("NumFailed", 1),
                _val("EndingLoopIndex", 2),
                _obj(
                    "SequenceCall",
                    _str("SequenceFile", "C:\\seq\\board.seq"),
                    _str("Sequence", "BoardMain"),
                    _str("SequenceFileVersion", "1.4.0"),
                    "<Prop Name='ResultList' Type='Array'>" + inner + "</Prop>",
                ),
            )
            + "</Prop></Value>"
        )
        report = one(_native(call))
        seq, leaf = walk(report.root)
        info = given(seq.seq_call)
        assert (seq.name, seq.step_type, info.name, info.path, info.version) == (
            "Board tests",
            "SequenceCall",
            "BoardMain",
            "C:\\seq\\board.seq",
            "1.4.0",
        )
        loop = given(seq.loop)
        assert (loop.num, loop.passed, loop.failed, loop.ending_index) == (3, 2, 1, 2)
        assert (leaf.name, leaf.step_type, leaf.status) == ("inner", "ET_PFT", "P")

    def test_unknown_comp_lets_the_limits_decide_and_a_string_without_limit_logs(self) -> None:
        """A Comp TestStand does not define is not invented: the limits decide (GELE here);
        a string comparison without its limit is kept as LOG and said."""
        numeric = _val("Numeric", 1) + _str("Comp", "WITHIN") + _limits(0, 2)
        text = _str("String", "abc") + _str("Comp", "CaseSensitive")
        report = one(_native(_step("n", numeric) + _step("s", text)))
        n, s = walk(report.root)
        (m,) = n.numeric_meas or ()
        assert (m.comp_op, m.low_limit, m.high_limit, m.status) == ("GELE", 0.0, 2.0, "P")
        (sm,) = s.string_meas or ()
        assert (sm.comp_op, sm.value) == ("LOG", "abc")
        assert "CASESENSIT without a limit; recorded as LOG" in given(s.report_text)


class TestMemory:
    def test_memory_grows_with_the_steps_not_with_the_xml(self, samples_dir: Path) -> None:
        """Each result is turned into its step and its elements let go while the file is
        parsed: 60 more results of XML add far less memory than 5 times their bytes (the
        whole element tree costs about 12 times)."""
        data = sample(samples_dir, "TsWithoutWats.xml")
        listed = data.index(b"Name='ResultList'")
        start = data.index(b"<Value ID='[0]'>", listed)
        element = data[start : data.index(b"<Value ID='[1]'>", start)]

        def peak(copies: int) -> tuple[int, int]:
            grown = data[:start] + element * copies + data[start:]
            tracemalloc.start()
            try:
                (report,) = convert(grown)
                _, most = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert len(report.root.walk()) == 18 + copies
            return len(grown), most

        small_size, small_peak = peak(20)
        big_size, big_peak = peak(80)
        assert big_peak - small_peak < 5 * (big_size - small_size)
