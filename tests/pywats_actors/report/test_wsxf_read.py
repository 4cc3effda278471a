"""Tests of decode_wsxf: the server's WSXF export reads as its WSJF twin, and bad documents are
refused with a path that names the element."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from pywats_actors.report import (
    UNSET,
    ReportDecodeError,
    UUTReport,
    decode_report,
    decode_wsxf,
    encode_wsxf,
    timestamp_ticks,
    validate,
    value_or_none,
)

from ._wsxf import ABSENT, WSJF_TWIN, WSXF_SAMPLE, differences, general, tree, wsxf_view

WSXF = "http://wats.virinco.com/schemas/WATS/Report/wsxf"
WRML = "http://wats.virinco.com/schemas/WATS/Report/wrml"
MINIMAL = (
    f'<Reports xmlns="{WSXF}">'
    '<Report type="UUT" ID="5F0C6A2E-8D1B-4C7A-9E3F-2B6D4A1C9E70" '
    'Start="2026-03-02T14:05:00.000+01:00" Start_utc="2026-03-02T13:05:00.000Z" Result="Passed" '
    'SN="SN1" PN="PN1" Rev="A" MachineName="ST-1" Location="Line 2" Purpose="Production">'
    '<Process Code="10"/>'
    '<Step Id="1" Group="Main" Name="Main" StepType="SequenceCall" Status="Passed">{steps}</Step>'
    "</Report></Reports>"
)


def minimal(steps: str = "") -> bytes:
    return MINIMAL.format(steps=steps).encode()


def one(data: bytes) -> UUTReport:
    reports = decode_wsxf(data)
    assert len(reports) == 1
    report = reports[0]
    assert isinstance(report, UUTReport)
    return report


def refusal(data: bytes) -> ReportDecodeError:
    with pytest.raises(ReportDecodeError) as caught:
        decode_wsxf(data)
    return caught.value


@pytest.fixture
def wsxf_sample(samples_dir: Path) -> bytes:
    """The server's WSXF export of the FAT report."""
    return (samples_dir / "wsxf" / WSXF_SAMPLE).read_bytes()


@pytest.fixture
def twins(samples_dir: Path, wsxf_sample: bytes) -> tuple[UUTReport, UUTReport]:
    """The FAT report decoded from its WSJF export and from its WSXF export."""
    wsjf = decode_report((samples_dir / "wsjf" / WSJF_TWIN).read_bytes())
    assert isinstance(wsjf, UUTReport)
    return wsjf, one(wsxf_sample)


class TestSampleCrossCheck:
    def test_every_value_agrees_except_the_known_spellings(
        self, twins: tuple[UUTReport, UUTReport]
    ) -> None:
        """Beyond what WSXF does not carry (and null, which XML cannot say), the two exports
        differ only where the server wrote an empty attribute for a WSJF null or absent key:
        productName, misc info typedef, numeric unit, chart x/y unit, popup response, sequence
        version. Any other difference, a lost or a changed value, fails this test."""
        wsjf, wsxf = twins
        found = {
            (general(path), expected, actual)
            for path, expected, actual in differences(tree(wsxf_view(wsjf)), tree(wsxf))
        }
        assert found == {
            ("$.productName", ABSENT, ""),
            ("$.miscInfos[*].typedef", ABSENT, ""),
            ("$.root.steps[*].numericMeas[*].unit", ABSENT, ""),
            ("$.root.steps[*].chart.xUnit", ABSENT, ""),
            ("$.root.steps[*].chart.yUnit", ABSENT, ""),
            ("$.root.steps[*].messagePopup.response", ABSENT, ""),
            ("$.root.steps[*].seqCall.version", ABSENT, ""),
        }

    def test_the_wsjf_export_holds_nothing_wsxf_drops_but_nulls_and_empty_lists(
        self, twins: tuple[UUTReport, UUTReport]
    ) -> None:
        """What the WSXF view leaves out of the WSJF export is only nulls and empty lists
        (processCodeFormat, batchLoopIndex, assets, assetStats, additionalData...), so the
        comparison above covers every value of the report."""
        wsjf, _ = twins
        dropped = [
            (path, value)
            for path, value, _ in differences(tree(wsjf), tree(wsxf_view(wsjf)))
            if value not in (None, [])
        ]
        assert dropped == []

    def test_header(self, twins: tuple[UUTReport, UUTReport]) -> None:
        """Identity, station, process, result and the uut block are the same values."""
        wsjf, wsxf = twins
        for field in ("pn", "sn", "rev", "result", "process_code", "process_name", "origin"):
            assert getattr(wsxf, field) == getattr(wsjf, field), field
        for field in ("machine_name", "location", "purpose"):
            assert getattr(wsxf, field) == getattr(wsjf, field), field
        assert (wsxf.sn, wsxf.result, wsxf.process_code) == ("FATTest-325", "F", 10)
        assert wsxf.uut.user == "FATOperator"
        assert wsxf.uut.comment == "FAT Comment - can be 500 long"
        assert wsxf.uut.step_id_caused_uut_failure == wsjf.uut.step_id_caused_uut_failure == 5

    def test_the_guid_is_kept_whatever_its_letter_case(
        self, wsxf_sample: bytes, twins: tuple[UUTReport, UUTReport]
    ) -> None:
        """The export writes the GUID in upper case; the report has the same id as its WSJF
        twin, written in lower case."""
        wsjf, wsxf = twins
        assert b'ID="33A2D408-3FC8-480B-B554-6866C77FD91C"' in wsxf_sample
        assert wsxf.id == wsjf.id == uuid.UUID("33a2d408-3fc8-480b-b554-6866c77fd91c")
        assert str(wsxf.id) == "33a2d408-3fc8-480b-b554-6866c77fd91c"

    def test_start_times_are_the_same_instants(self, twins: tuple[UUTReport, UUTReport]) -> None:
        """start and startUTC name the same instants, to the 100 ns tick, in both exports."""
        wsjf, wsxf = twins
        assert isinstance(wsjf.start_utc, str)
        assert isinstance(wsxf.start_utc, str)
        assert timestamp_ticks(wsxf.start) == timestamp_ticks(wsjf.start)
        assert timestamp_ticks(wsxf.start_utc) == timestamp_ticks(wsjf.start_utc)
        assert timestamp_ticks(wsxf.start) == timestamp_ticks(wsxf.start_utc)

    def test_step_tree(self, twins: tuple[UUTReport, UUTReport]) -> None:
        """The 186 steps come in the same order with the same id, group, type, name and status."""
        wsjf, wsxf = twins

        def outline(report: UUTReport) -> list[tuple[object, ...]]:
            return [
                (s.id, s.group, s.step_type, s.name, s.status, len(s.children))
                for s in report.root.walk()
            ]

        assert len(outline(wsxf)) == 186
        assert outline(wsxf) == outline(wsjf)

    def test_measurement_counts_match_the_readme(self, twins: tuple[UUTReport, UUTReport]) -> None:
        """108 numeric, 17 boolean, 21 string measurements, 2 charts, 27 sequence calls, 4
        popups, 4 call-executables, 46 loops, 3 misc infos, 2 sub-units."""
        _, wsxf = twins
        steps = wsxf.root.walk()
        assert sum(len(s.numeric_meas or ()) for s in steps) == 108
        assert sum(len(s.boolean_meas or ()) for s in steps) == 17
        assert sum(len(s.string_meas or ()) for s in steps) == 21
        counts = [
            sum(getattr(s, field) is not UNSET for s in steps)
            for field in ("chart", "seq_call", "message_popup", "call_exe", "loop")
        ]
        assert counts == [2, 27, 4, 4, 46]
        assert len(wsxf.misc_infos or ()) == 3
        assert len(wsxf.sub_units or ()) == 2

    def test_measurements_limits_units_and_operators(
        self, twins: tuple[UUTReport, UUTReport]
    ) -> None:
        """Every numeric measurement has the value, limits, unit, operator and status of its
        twin; all 15 numeric operators occur."""
        wsjf, wsxf = twins
        pairs = [
            (a, b)
            for left, right in zip(wsjf.root.walk(), wsxf.root.walk(), strict=True)
            for a, b in zip(left.numeric_meas or (), right.numeric_meas or (), strict=True)
        ]
        assert len(pairs) == 108
        for a, b in pairs:
            assert (b.value, b.comp_op, b.status) == (a.value, a.comp_op, a.status)
            assert value_or_none(b.low_limit) == value_or_none(a.low_limit)
            assert value_or_none(b.high_limit) == value_or_none(a.high_limit)
            assert b.unit == (value_or_none(a.unit) or "")
        assert len({b.comp_op for _, b in pairs}) == 15

    def test_the_decoded_sample_is_as_valid_as_its_twin(
        self, twins: tuple[UUTReport, UUTReport]
    ) -> None:
        """validate() finds the same (no) problems in both."""
        wsjf, wsxf = twins
        assert validate(wsxf) == validate(wsjf) == []

    def test_the_legacy_wrml_namespace_reads_the_same(self, wsxf_sample: bytes) -> None:
        """A document in the legacy WRML namespace gives the same reports."""
        legacy = wsxf_sample.replace(WSXF.encode(), WRML.encode())
        assert legacy != wsxf_sample
        assert decode_wsxf(legacy) == decode_wsxf(wsxf_sample)

    def test_utf16_reads_the_same(self, wsxf_sample: bytes) -> None:
        """The document may be in any encoding expat knows; UTF-16 with its BOM reads the same."""
        text = wsxf_sample.decode().replace('encoding="utf-8"', 'encoding="utf-16"')
        assert decode_wsxf(text.encode("utf-16")) == decode_wsxf(wsxf_sample)


class TestDecode:
    def test_a_document_holds_any_number_of_reports(self) -> None:
        """<Reports> with no report is an empty list; with two, two reports in order."""
        assert decode_wsxf(f'<Reports xmlns="{WSXF}"/>'.encode()) == []
        single = minimal().decode()
        report_element = single[single.index("<Report ") : single.index("</Reports>")]
        second = report_element.replace('SN="SN1"', 'SN="SN2"')
        both = single.replace("</Reports>", second + "</Reports>").encode()
        assert [r.sn for r in decode_wsxf(both)] == ["SN1", "SN2"]

    def test_minimal_report(self) -> None:
        """The required attributes and elements make a report; what is not there is absent."""
        report = one(minimal())
        assert report.id == uuid.UUID("5f0c6a2e-8d1b-4c7a-9e3f-2b6d4a1c9e70")
        assert (report.process_code, report.process_name) == (10, UNSET)
        assert report.uut.user is UNSET
        assert report.misc_infos is UNSET
        assert report.root.steps is UNSET
        assert validate(report) == []

    def test_empty_attribute_is_empty_text_and_absent_attribute_is_absent(self) -> None:
        """Units="" is the empty unit; no Units attribute is no unit (XML has no null)."""
        steps = (
            '<Step Id="2" Group="Main" Name="a" StepType="ET_NLT" Status="Passed">'
            '<NumericLimit NumericValue="1" Units="" CompOperator="LOG" Status="Passed"/></Step>'
            '<Step Id="3" Group="Main" Name="b" StepType="ET_NLT" Status="Passed">'
            '<NumericLimit NumericValue="1" CompOperator="LOG" Status="Passed"/></Step>'
        )
        first, second = one(minimal(steps)).root.children
        assert first.numeric_meas
        assert first.numeric_meas[0].unit == ""
        assert second.numeric_meas
        assert second.numeric_meas[0].unit is UNSET

    def test_element_text_is_kept_exactly(self) -> None:
        """ReportText keeps whitespace, line breaks and escaped characters; an empty ReportText
        element is the empty text."""
        steps = (
            '<Step Id="2" Group="Setup" Name="a" StepType="Action" Status="Done">'
            "<ReportText>  two\nlines &amp; a CR&#13;</ReportText></Step>"
            '<Step Id="3" Group="Cleanup" Name="b" StepType="Action" Status="Done">'
            "<ReportText/></Step>"
        )
        first, second = one(minimal(steps)).root.children
        assert first.report_text == "  two\nlines & a CR\r"
        assert (first.group, second.group) == ("S", "C")
        assert second.report_text == ""

    def test_unknown_elements_and_attributes_are_ignored(self) -> None:
        """The server's bookkeeping attributes, unknown elements and elements of other
        namespaces do not change the report."""
        steps = (
            '<Step Id="2" Group="Main" Name="a" StepType="ET_PFT" Status="Passed" StepIndex="0" '
            'Extra="x"><Unknown/><PassFail Status="Passed" MeasIndex="0" MeasOrderNumber="3"/>'
            '<o:Step xmlns:o="urn:other" Id="oops"/></Step>'
        )
        plain = '<Step Id="2" Group="Main" Name="a" StepType="ET_PFT" Status="Passed">'
        plain += '<PassFail Status="Passed"/></Step>'
        assert one(minimal(steps)) == one(minimal(plain))

    def test_pretty_printed_document_reads_the_same(self, wsxf_sample: bytes) -> None:
        """Indentation between elements is not content."""
        pretty = wsxf_sample.replace(b"><Step ", b">\n    <Step ").replace(
            b"></Step>", b">\n</Step>"
        )
        assert pretty != wsxf_sample
        assert decode_wsxf(pretty) == decode_wsxf(wsxf_sample)

    def test_guid_in_braces_and_any_case(self) -> None:
        """A GUID may be in braces and in any letter case; the report's id is the same."""
        data = minimal().replace(
            b"5F0C6A2E-8D1B-4C7A-9E3F-2B6D4A1C9E70", b"{5f0c6a2e-8D1B-4c7a-9E3F-2b6d4a1c9e70}"
        )
        assert one(data).id == one(minimal()).id


class TestDecodeErrors:
    @pytest.mark.parametrize(
        ("document", "path", "message"),
        [
            (f'<Report xmlns="{WSXF}"/>', "Report", "a WSXF document is <Reports>"),
            ('<Reports xmlns="urn:other"/>', "Reports", "{urn:other}Reports"),
            ("<Reports/>", "Reports", "in the namespace"),
            (f'<Reports xmlns="{WSXF}"><Report ID="x"/></Reports>', "Reports/Report[0]@type", ""),
        ],
    )
    def test_wrong_root_namespace_or_report(self, document: str, path: str, message: str) -> None:
        """The root must be <Reports> in the WSXF or WRML namespace."""
        error = refusal(document.encode())
        assert (error.path, message in error.message) == (path, True)

    def test_missing_required_attribute(self) -> None:
        """A report without SN names the attribute it misses."""
        error = refusal(minimal().replace(b'SN="SN1" ', b""))
        assert error.path == "Reports/Report[0]@SN"
        assert error.message == "the required attribute SN is missing"

    @pytest.mark.parametrize(
        ("old", "new", "path", "message"),
        [
            (b'Result="Passed"', b'Result="Pass"', "Reports/Report[0]@Result", "ReportResult"),
            (b'Start="2026', b'Start="2026-13', "Reports/Report[0]@Start", "date-time"),
            (b'ID="5F0C6A2E', b'ID="ZZ', "Reports/Report[0]@ID", "GUID"),
            (b'Code="10"', b'Code="1_0"', "Reports/Report[0]/Process[0]@Code", "integer"),
            (b'Code="10"', b'Code="\xd9\xa3"', "Reports/Report[0]/Process[0]@Code", "integer"),
            (b'Group="Main"', b'Group="main"', "Reports/Report[0]/Step[0]@Group", "StepGroup"),
            (b'type="UUT"', b'type="UUR"', "Reports/Report[0]@type", "repair (UUR)"),
            (b'type="UUT"', b'type="Test"', "Reports/Report[0]@type", "ReportType"),
        ],
    )
    def test_bad_value(self, old: bytes, new: bytes, path: str, message: str) -> None:
        """A value that is not of its type is refused at its attribute, saying what it should
        be."""
        data = minimal()
        assert old in data
        error = refusal(data.replace(old, new, 1))
        assert error.path == path
        assert message in error.message

    @pytest.mark.parametrize(
        ("measurement", "attribute", "message"),
        [
            ('NumericValue="5OO" CompOperator="LOG" Status="Passed"', "NumericValue", "number"),
            ('NumericValue="infinity" Status="Passed"', "NumericValue", "xs:double"),
            ('NumericValue="1" CompOperator="LOG" Status="Pass"', "Status", "MeasurementResult"),
            ('NumericValue="1" CompOperator="LOG"', "Status", "required"),
        ],
    )
    def test_bad_measurement(self, measurement: str, attribute: str, message: str) -> None:
        """A bad measurement attribute is located down to the element and the attribute."""
        steps = (
            '<Step Id="2" Group="Main" Name="s" StepType="SequenceCall" Status="Passed">'
            '<Step Id="3" Group="Main" Name="a" StepType="Action" Status="Done"/>'
            '<Step Id="4" Group="Main" Name="b" StepType="ET_MNLT" Status="Passed">'
            '<NumericLimit Name="x" NumericValue="1" CompOperator="LOG" Status="Passed"/>'
            f'<NumericLimit Name="y" {measurement}/></Step></Step>'
        )
        error = refusal(minimal(steps))
        assert (
            error.path == f"Reports/Report[0]/Step[0]/Step[0]/Step[1]/NumericLimit[1]@{attribute}"
        )
        assert message in error.message

    def test_bad_boolean(self) -> None:
        """StepCausedUUTFailure is xs:boolean: true, false, 1 or 0."""
        steps = '<Step Id="2" Group="Main" Name="a" StepType="X" Status="Done" '
        steps += 'StepCausedUUTFailure="yes"/>'
        error = refusal(minimal(steps))
        assert error.path == "Reports/Report[0]/Step[0]/Step[0]@StepCausedUUTFailure"
        assert "boolean" in error.message

    def test_missing_process(self) -> None:
        """A report needs its Process element."""
        error = refusal(minimal().replace(b'<Process Code="10"/>', b""))
        assert (error.path, error.message) == (
            "Reports/Report[0]",
            "the required element Process is missing",
        )

    @pytest.mark.parametrize("count", [0, 2])
    def test_one_root_step(self, count: int) -> None:
        """A report has exactly one root Step."""
        data = minimal().decode()
        root = data[data.index("<Step ") : data.index("</Report>")]
        error = refusal(data.replace(root, root * count).encode())
        assert error.path == "Reports/Report[0]"
        assert f"found {count}" in error.message

    def test_duplicate_single_child(self) -> None:
        """A step has at most one Loop; the second is named."""
        steps = '<Step Id="2" Group="Main" Name="a" StepType="X" Status="Done">'
        steps += '<Loop index="0"/><Loop index="1"/></Step>'
        error = refusal(minimal(steps))
        assert error.path == "Reports/Report[0]/Step[0]/Step[0]/Loop[1]"

    def test_malformed_xml_names_the_open_element_and_position(self) -> None:
        """A mismatched end tag is malformed XML, reported in the element being read, with line
        and column."""
        error = refusal(minimal().replace(b"</Step></Report>", b"</Steps></Report>"))
        assert error.path == "Reports/Report[0]/Step[0]"
        assert error.message.startswith("malformed XML: mismatched tag (line 1, column")

    def test_round_trip_of_an_error_free_document(self) -> None:
        """The minimal document encodes and decodes to itself."""
        assert decode_wsxf(encode_wsxf([one(minimal())])) == [one(minimal())]
