"""The WSXF converter: the server's XML export converts to the same report as its WSJF twin, keeps
its GUID, and hostile or malformed XML is rejected clearly and cheaply."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from converters import (
    Converted,
    FileRejected,
    Rejected,
    WsxfArguments,
    WsxfConverter,
    load_converter,
    open_converter_pool,
)
from pywats_actors.report import UUTReport, decode_report, validate
from tests.pywats_actors.report._wsxf import ABSENT, differences, general, tree, wsxf_view

from .conftest import NAMESPACE, settings

SAMPLE = "uut-wsxf-export.xml"
TWIN = "uut-wsjf-export.json"
SAMPLE_ID = uuid.UUID("33a2d408-3fc8-480b-b554-6866c77fd91c")
NS = b"http://wats.virinco.com/schemas/WATS/Report/wsxf"
ARGS = WsxfArguments()
_MiB = 1024 * 1024

# The server writes an empty attribute where the WSJF export has null or no key; XML cannot say
# "absent" any other way for these attributes. Every other value must agree.
EMPTY_FOR_ABSENT = {
    ("$.productName", ABSENT, ""),
    ("$.miscInfos[*].typedef", ABSENT, ""),
    ("$.root.steps[*].numericMeas[*].unit", ABSENT, ""),
    ("$.root.steps[*].chart.xUnit", ABSENT, ""),
    ("$.root.steps[*].chart.yUnit", ABSENT, ""),
    ("$.root.steps[*].messagePopup.response", ABSENT, ""),
    ("$.root.steps[*].seqCall.version", ABSENT, ""),
}


@pytest.fixture
def sample(samples_dir: Path) -> bytes:
    return (samples_dir / "wsxf" / SAMPLE).read_bytes()


def with_reports(sample: bytes, ids: list[str]) -> bytes:
    """The sample's document with its one ``<Report>`` repeated, the n-th copy with ``ids[n]``."""
    found = re.search(rb"<Report .*</Report>", sample, re.S)
    assert found is not None
    report = found.group()
    copies = [report.replace(b"33A2D408-3FC8-480B-B554-6866C77FD91C", i.encode()) for i in ids]
    return sample[: found.start()] + b"".join(copies) + sample[found.end() :]


def rejected(data: bytes) -> FileRejected:
    with pytest.raises(FileRejected) as info:
        WsxfConverter().convert(data, "f.xml", ARGS)
    return info.value


class TestSample:
    def test_the_sample_converts_to_one_valid_report_with_its_guid(self, sample: bytes) -> None:
        """The export is one UUT report, valid, with its own GUID and the README's facts."""
        (report,) = WsxfConverter().convert(sample, SAMPLE, ARGS)
        assert isinstance(report, UUTReport)
        assert validate(report) == []
        assert report.id == SAMPLE_ID
        assert (report.sn, report.pn, report.result) == ("FATTest-325", "FATPartNo", "F")
        assert len(report.misc_infos or ()) == 3
        assert len(report.sub_units or ()) == 2

    async def test_through_the_pool_it_equals_its_wsjf_twin(
        self, samples_dir: Path, sample: bytes
    ) -> None:
        """In the sandbox the WSXF sample keeps its GUID, and its report is the WSJF twin's.

        Compared: the decoded reports, the twin seen through what WSXF can carry (fields WSXF
        has no place for, the ``*Format`` fields, step start times... dropped; null and empty
        lists absent, as XML cannot say them). The only differences allowed are the empty
        attributes the server writes for a WSJF null (EMPTY_FOR_ABSENT); a lost or changed
        value anywhere else fails."""
        twin = decode_report((samples_dir / "wsjf" / TWIN).read_bytes())
        async with open_converter_pool(
            settings(timeout=30.0), converters=["wsxf"], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(60):
                result = await pool.convert(sample, SAMPLE, "wsxf")
        assert isinstance(result, Converted), result
        assert result.ids == (SAMPLE_ID,) == (twin.id,)
        assert result.reports[0].kept_source_id
        converted = decode_report(result.reports[0].wsjf)
        found = {
            (general(path), expected, actual)
            for path, expected, actual in differences(tree(wsxf_view(twin)), tree(converted))
        }
        assert found == EMPTY_FOR_ABSENT

    async def test_auto_detected_in_a_pool_of_wsjf_and_wsxf(self, sample: bytes) -> None:
        """Without naming a converter, the pool picks WSXF for the sample (WSJF scores 0)."""
        async with open_converter_pool(
            settings(timeout=30.0), converters=["wsjf", "wsxf"], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(60):
                result = await pool.convert(sample, SAMPLE)
        assert isinstance(result, Converted), result
        assert result.detected
        assert result.converter == "wsxf"

    def test_a_byte_order_mark_is_accepted(self, sample: bytes) -> None:
        """A UTF-8 byte order mark (written by .NET tools) changes neither score nor report."""
        data = b"\xef\xbb\xbf" + sample
        assert WsxfConverter().detect(data[: 64 * 1024], SAMPLE) >= 0.9
        assert WsxfConverter().convert(data, SAMPLE, ARGS) == WsxfConverter().convert(
            sample, SAMPLE, ARGS
        )

    def test_registered_by_name_and_declaring_kept_ids(self) -> None:
        """``wsxf`` names this class, which declares ``keeps_source_ids`` (the parent reads it
        from the class, as for WSJF; the pool test above shows the id kept)."""
        assert load_converter("wsxf") is WsxfConverter
        assert WsxfConverter.keeps_source_ids is True


class TestSeveralReports:
    async def test_each_report_keeps_its_own_guid_in_bounded_memory(self, sample: bytes) -> None:
        """A 4 MB document of 70 reports converts in a worker held to 160 MiB of address space
        (RLIMIT_AS, a hard bound; an idle worker uses about 50 MiB of RSS, and the document, its
        element tree, 70 report objects and their WSJF fit in the rest); each keeps its GUID."""
        ids = [str(uuid.uuid4()).upper() for _ in range(70)]
        data = with_reports(sample, ids)
        assert len(data) > 3.5 * _MiB
        async with open_converter_pool(
            settings(timeout=60.0, memory_mb=128, address_space_mb=160),
            converters=["wsxf"],
            station_namespace=NAMESPACE,
        ) as pool:
            with trio.fail_after(120):
                result = await pool.convert(data, "many.xml", "wsxf")
        assert isinstance(result, Converted), result
        assert [str(i) for i in result.ids] == [i.lower() for i in ids]
        assert all(r.kept_source_id for r in result.reports)

    async def test_two_reports_with_one_guid_are_rejected(self, sample: bytes) -> None:
        """Two reports claiming one GUID cannot both be kept: the converter rejects the file,
        naming the second report."""
        same = str(uuid.uuid4())
        async with open_converter_pool(
            settings(timeout=30.0), converters=["wsxf"], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(60):
                result = await pool.convert(with_reports(sample, [same, same]), "d.xml", "wsxf")
        assert isinstance(result, Rejected), result
        assert (result.cause, result.where) == ("converter", "Reports/Report[1]@ID")
        assert same in result.reason


class TestRejection:
    @pytest.mark.parametrize(
        ("mutate", "where", "reason"),
        [
            (lambda s: s[:30000], "Reports/Report[0]", "malformed XML: unclosed token (line "),
            (lambda s: s.replace(NS, b"http://example.com/x"), "Reports", "the root element is"),
            (lambda s: b"\x00\x01 not xml \xff", "$", "malformed XML"),
            (lambda s: b"", "$", "malformed XML: no element found"),
            (lambda s: b'<Reports xmlns="' + NS + b'"/>', "Reports", "no <Report> element"),
            (lambda s: s.replace(b'type="UUT"', b'type="UUR"', 1), "Report[0]@type", "UUR"),
            (lambda s: s.replace(b'Result="Failed"', b'Result="Maybe"', 1), "@Result", "Maybe"),
            (lambda s: s.replace(b'SN="FATTest-325"', b'SN=""', 1), "$.sn", "must not be empty"),
        ],
        ids=["truncated", "namespace", "garbage", "empty", "no-report", "uur", "value", "rule"],
    )
    def test_malformed_documents_are_rejected_with_where(
        self, sample: bytes, mutate: Callable[[bytes], bytes], where: str, reason: str
    ) -> None:
        """Truncated XML, a wrong namespace, garbage, an empty file, no report, a repair report,
        a misspelled value and a broken rule each give a FileRejected saying what and where."""
        error = rejected(mutate(sample))
        assert error.where is not None
        assert where in error.where
        assert reason in error.reason

    def test_billion_laughs_is_refused_at_once(self) -> None:
        """A DTD (here entity expansion to 10^9 "lol"s) is refused before any entity expands."""
        entities = b'<!ENTITY l0 "lol">' + b"".join(
            b'<!ENTITY l%d "%s">' % (n, b"&l%d;" % (n - 1) * 10) for n in range(1, 10)
        )
        data = (
            b'<?xml version="1.0"?><!DOCTYPE Reports ['
            + entities
            + b']><Reports xmlns="'
            + NS
            + b'">&l9;</Reports>'
        )
        started = time.perf_counter()
        error = rejected(data)
        assert time.perf_counter() - started < 1.0
        assert "DOCTYPE and ENTITY declarations are refused" in error.reason

    def test_an_external_entity_is_refused(self) -> None:
        """An external entity (file disclosure) is refused the same way, nothing is read."""
        data = (
            b'<!DOCTYPE Reports [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<Reports xmlns="' + NS + b'">&x;</Reports>'
        )
        assert "DOCTYPE" in rejected(data).reason

    def test_a_document_over_64_mib_is_refused_unparsed(self) -> None:
        """The reader's own bound: a document over 64 MiB is refused by its size, quickly."""
        data = b'<Reports xmlns="' + NS + b'">' + b" " * (64 * _MiB) + b"</Reports>"
        started = time.perf_counter()
        error = rejected(data)
        assert time.perf_counter() - started < 1.0
        assert "WSXF documents are read up to 67108864 bytes" in error.reason

    async def test_a_huge_file_is_refused_by_the_pool_before_a_worker_sees_it(
        self, sample: bytes
    ) -> None:
        """Over ``max_input_mb`` (1 MiB here, a stand-in for a 200 MB file), the pool rejects
        the file as too large without converting it."""
        data = with_reports(sample, [str(uuid.uuid4()) for _ in range(40)])
        assert len(data) > 2 * _MiB
        async with open_converter_pool(
            settings(max_input_mb=1), converters=["wsxf"], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(5):
                result = await pool.convert(data, "huge.xml", "wsxf")
        assert isinstance(result, Rejected)
        assert result.cause == "too_large"
        assert "max_input_mb" in result.reason

    async def test_rejected_in_the_pool_with_where(self, sample: bytes) -> None:
        """Through the sandbox, a truncated document is Rejected with the element path."""
        async with open_converter_pool(
            settings(timeout=30.0), converters=["wsxf"], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(60):
                result = await pool.convert(sample[:30000], "cut.xml", "wsxf")
        assert isinstance(result, Rejected)
        assert result.cause == "converter"
        assert result.where is not None
        assert result.where.startswith("Reports/Report[0]")
        assert "unclosed token" in result.reason


def other_samples(samples_dir: Path) -> list[Path]:
    return sorted(
        p for p in samples_dir.rglob("*") if p.is_file() and p != samples_dir / "wsxf" / SAMPLE
    )


class TestDetect:
    def test_the_sample_scores_high(self, sample: bytes) -> None:
        """The export's first 64 KiB (what the pool reads) score >= 0.9."""
        assert WsxfConverter().detect(sample[: 64 * 1024], SAMPLE) >= 0.9

    def test_the_legacy_wrml_namespace_and_a_prefix_score_high(self) -> None:
        """The WRML namespace and a prefixed root are WSXF too."""
        wrml = b'<?xml version="1.0"?><Reports xmlns="http://wats.virinco.com/schemas/WATS/Report/wrml">'
        prefixed = b'<w:Reports xmlns:w="' + NS + b'"><w:Report '
        assert WsxfConverter().detect(wrml, "a.xml") >= 0.9
        assert WsxfConverter().detect(prefixed, "a.xml") >= 0.9

    def test_every_other_sample_scores_below_half(self, samples_dir: Path) -> None:
        """Every other file under the samples (other formats, READMEs, WSJF) scores < 0.5."""
        files = other_samples(samples_dir)
        assert len(files) > 10
        scores = {
            str(p.relative_to(samples_dir)): WsxfConverter().detect(p.read_bytes()[:65536], p.name)
            for p in files
        }
        assert {name: s for name, s in scores.items() if s >= 0.5} == {}

    def test_xml_merely_naming_the_namespace_scores_low(self) -> None:
        """XML that names the WSXF namespace without a Reports element is not WSXF."""
        head = b'<config><schema uri="' + NS + b'"/></config>'
        assert WsxfConverter().detect(head, "c.xml") < 0.5
