"""Tests of encode_wsxf: reports go to WSXF and back with nothing lost that WSXF can carry, text
is escaped so it reads back exactly, and what WSXF cannot express is refused by name."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pywats_actors.report import (
    UNSET,
    Chart,
    ChartSeries,
    LoopInfo,
    MiscInfo,
    NumericMeasurement,
    Step,
    UUTInfo,
    UUTReport,
    decode_report,
    decode_wsxf,
    encode_wsxf,
    timestamp_ticks,
)
from pywats_actors.report._wsxf_xml import MAX_DEPTH

from ._strategies import HEADER_TEXT, STARTS, make_builder, programs, run
from ._wsxf import (
    ABSENT,
    UUT_SAMPLES,
    WSXF_SAMPLE,
    differences,
    strings,
    tree,
    wsxf_view,
)

WSXF = "{http://wats.virinco.com/schemas/WATS/Report/wsxf}"
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def built(**changes: Any) -> UUTReport:
    builder = make_builder()
    builder.root.numeric("Supply voltage", 5.02, unit="V", low=4.75, high=5.25)
    return msgspec.structs.replace(builder.build(), **changes)


def with_root_child(report: UUTReport, **fields: Any) -> UUTReport:
    step = Step(id=2, group="M", step_type="Action", name="a", status="D")
    child = msgspec.structs.replace(step, **fields)
    return msgspec.structs.replace(
        report, root=msgspec.structs.replace(report.root, steps=(child,))
    )


def back(report: UUTReport) -> UUTReport:
    [decoded] = decode_wsxf(encode_wsxf([report]))
    assert isinstance(decoded, UUTReport)
    return decoded


class TestRoundTrip:
    @pytest.mark.parametrize("name", UUT_SAMPLES)
    def test_wsjf_samples_keep_everything_wsxf_carries(self, samples_dir: Path, name: str) -> None:
        """A real WSJF export comes back from WSXF as its WSXF view: every carried field exactly,
        nothing else."""
        report = decode_report((samples_dir / "wsjf" / name).read_bytes())
        assert isinstance(report, UUTReport)
        assert back(report) == wsxf_view(report)

    def test_wsxf_sample_is_stable(self, samples_dir: Path) -> None:
        """The server's WSXF export decoded, encoded and decoded again is the same reports, and
        encoding those again gives the same bytes."""
        first = decode_wsxf((samples_dir / "wsxf" / WSXF_SAMPLE).read_bytes())
        data = encode_wsxf(first)
        second = decode_wsxf(data)
        assert second == first
        assert encode_wsxf(second) == data

    def test_several_reports_in_one_document(self) -> None:
        """Reports come back in the order given."""
        reports = [built(sn="A"), built(sn="B"), built(sn="C")]
        assert decode_wsxf(encode_wsxf(reports)) == reports

    def test_no_reports(self) -> None:
        """An empty sequence is an empty <Reports> that reads back as no reports."""
        assert decode_wsxf(encode_wsxf([])) == []

    @settings(max_examples=150, deadline=None)
    @given(program=st.lists(programs(), max_size=6), start=STARTS, sn=HEADER_TEXT)
    def test_built_reports_round_trip(
        self, program: list[tuple[Any, ...]], start: dt.datetime, sn: str
    ) -> None:
        """Whatever a test executive builds comes back from WSXF as its WSXF view (empty
        sequences lose only their empty step list), unless it holds text XML cannot carry,
        which is refused."""
        builder = make_builder(start=start, sn=sn)
        for instruction in program:
            run(builder.root, instruction)
        report = builder.build()
        if any(NOT_XML.search(text) for text in strings(tree(report))):
            with pytest.raises(ValueError, match=r"cannot be written in XML 1\.0"):
                encode_wsxf([report])
        else:
            assert back(report) == wsxf_view(report)
            lost = list(differences(tree(report), tree(back(report))))
            assert all(
                path.endswith(".steps") and (was, now) == ([], ABSENT) for path, was, now in lost
            ), lost


class TestEncode:
    def test_document_shape(self) -> None:
        """<Reports> in the WSXF namespace, UTF-8 declared, the header in Report attributes,
        then UUT, Process, the steps."""
        data = encode_wsxf([built()])
        assert data.startswith(b'<?xml version="1.0" encoding="utf-8"?><Reports xmlns=')
        root = ET.fromstring(data)
        assert root.tag == f"{WSXF}Reports"
        [report] = root
        assert [child.tag.removeprefix(WSXF) for child in report] == ["UUT", "Process", "Step"]
        assert report.attrib["type"] == "UUT"
        assert report.attrib["Result"] == "Passed"
        assert report.attrib["ID"] == "5f0c6a2e-8d1b-4c7a-9e3f-2b6d4a1c9e70"
        limit = report.find(f"{WSXF}Step/{WSXF}Step/{WSXF}NumericLimit")
        assert limit is not None
        assert limit.attrib == {
            "NumericValue": "5.02",
            "Units": "V",
            "CompOperator": "GELE",
            "HighLimit": "5.25",
            "LowLimit": "4.75",
            "Status": "Passed",
        }

    @pytest.mark.parametrize(
        "text",
        ["<&>\"'", "tab\there", "two\nlines", "cr\r\nlf", "  padded  ", "", "é → 😀", "]]>"],
    )
    def test_text_reads_back_exactly(self, text: str) -> None:
        """Markup characters, tabs, line breaks, carriage returns and edge spaces survive, in
        attributes and in element text."""
        report = with_root_child(built(), name=text, report_text=text, error_message=text)
        report = msgspec.structs.replace(
            report,
            sn=text or "x",
            uut=UUTInfo(comment=text),
            misc_infos=(MiscInfo(description=text, text=text or UNSET),),
        )
        assert back(report) == report

    @pytest.mark.parametrize(
        ("value", "spelled"),
        [(500.0, "500"), (0.1, "0.1"), (-0.0, "-0"), (1e300, "1e+300"), (float("inf"), "INF")],
    )
    def test_numbers_are_spelled_as_xs_double(self, value: float, spelled: str) -> None:
        """The shortest text that reads back as the same double, in the XML Schema spelling."""
        measurement = NumericMeasurement(status="P", comp_op="LOG", value=value)
        report = with_root_child(built(), step_type="ET_NLT", numeric_meas=(measurement,))
        assert f'NumericValue="{spelled}"'.encode() in encode_wsxf([report])
        assert back(report) == report

    def test_null_and_absent_both_leave_the_attribute_out(self) -> None:
        """XML has no null: a None field is written like an absent one and reads back absent."""
        report = with_root_child(built(), loop=LoopInfo(idx=None, num=3, passed=None))
        assert b'<Loop num="3"/>' in encode_wsxf([report])
        assert back(report) == with_root_child(built(), loop=LoopInfo(num=3))

    def test_missing_start_utc_is_computed(self) -> None:
        """WSXF requires Start_utc: without startUTC it is the start instant in UTC, with as
        many fractional digits."""
        report = built(start="2026-01-30T22:01:41.4707353+01:00", start_utc=UNSET)
        assert b'Start_utc="2026-01-30T21:01:41.4707353Z"' in encode_wsxf([report])
        decoded = back(report)
        assert isinstance(decoded.start_utc, str)
        assert timestamp_ticks(decoded.start_utc) == timestamp_ticks(report.start)

    def test_start_utc_cannot_be_computed_without_an_offset(self) -> None:
        """A start without offset and no startUTC is refused: the instant is unknown."""
        with pytest.raises(ValueError, match=r"no UTC offset - at \$\.start"):
            encode_wsxf([built(start="2026-01-30T22:01:41", start_utc=UNSET)])


class TestEncodeRefusals:
    def test_repair_report(self, samples_dir: Path) -> None:
        """A repair (UUR) report is refused: the WSXF mapping covers test reports only."""
        repair = decode_report((samples_dir / "wsjf" / "uur_example.json").read_bytes())
        with pytest.raises(ValueError, match=r"report 0 is a repair \(UUR\) report"):
            encode_wsxf([repair])

    @pytest.mark.parametrize("character", ["\x00", "\x01", "\x1f", "\ud800", "\ufffe", "\uffff"])
    def test_character_xml_cannot_hold(self, character: str) -> None:
        """Text with a character XML 1.0 cannot hold is refused, naming its JSON path."""
        report = with_root_child(built(), name=f"bad{character}name")
        with pytest.raises(ValueError) as caught:
            encode_wsxf([built(), report])
        message = str(caught.value)
        assert message.startswith("report 1 cannot be written as WSXF: the character U+")
        assert message.endswith("cannot be written in XML 1.0 - at $.root.steps[0].name")

    def test_character_xml_cannot_hold_in_element_text(self) -> None:
        """The same holds for element text, e.g. a chart's data or a report text."""
        report = with_root_child(built(), report_text="a\x07b")
        with pytest.raises(ValueError, match=r"U\+0007 .* at \$\.root\.steps\[0\]\.reportText"):
            encode_wsxf([report])

    @pytest.mark.parametrize(
        ("changes", "path", "word"),
        [
            ({"status": "X"}, "$.root.steps[0].status", "StepResult"),
            ({"group": "m"}, "$.root.steps[0].group", "StepGroup"),
            ({"id": "2"}, "$.root.steps[0].id", "integer"),
        ],
    )
    def test_value_without_a_wsxf_spelling(
        self, changes: dict[str, Any], path: str, word: str
    ) -> None:
        """A value WSXF has no spelling for is refused by its JSON path (validate() reports these
        too)."""
        report = with_root_child(built(), **changes)
        with pytest.raises(ValueError, match=re.escape(f"- at {path}")) as caught:
            encode_wsxf([report])
        assert word in str(caught.value)

    def test_report_result_without_a_word(self) -> None:
        """The report result "D" (pyWATS's Done) has no ReportResult word in WSXF."""
        with pytest.raises(ValueError, match=r"ReportResult .* at \$\.result"):
            encode_wsxf([built(result="D")])

    def test_step_tree_deeper_than_read(self) -> None:
        """The deepest step tree written (a chart at the bottom) reads back; one level more is
        refused rather than written."""
        chart = Chart(series=(ChartSeries(data_type="XYG", xdata="0;1", ydata="2;3"),))
        step = Step(id=1, group="M", step_type="WATS_XYGMNLT", name="c", status="P", chart=chart)
        sequence = Step(id=1, group="M", step_type="SequenceCall", name="s", status="P")
        for _ in range(MAX_DEPTH - 6):
            step = msgspec.structs.replace(sequence, steps=(step,))
        deepest = built(root=step)
        assert back(deepest) == deepest
        too_deep = built(root=msgspec.structs.replace(sequence, steps=(step,)))
        with pytest.raises(ValueError, match="nest more than"):
            encode_wsxf([too_deep])
