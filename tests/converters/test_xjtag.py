"""The XJTAG converter: .xjlog archives and plain XML run logs to UUT reports."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest

from converters import FileRejected, XjtagArguments, XjtagConverter
from pywats_actors.report import UUTReport, validate

XJLOG = "55804022_XJT_2019-06-20_12-55-57_lumi_Pass.xjlog"
PLAIN = "567567_14_29_24_17_06_2020_Pass.xml"
ARGS = XjtagArguments()


def convert(data: bytes, name: str = "run.xjlog") -> list[UUTReport]:
    reports = XjtagConverter().convert(data, name, ARGS)
    assert all(isinstance(report, UUTReport) for report in reports)
    return reports  # type: ignore[return-value]


def sample(samples_dir: Path, name: str) -> bytes:
    return (samples_dir / "xjtag" / name).read_bytes()


def zipped(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, blob in members.items():
            archive.writestr(name, blob)
    return out.getvalue()


RUN = (
    b'<testrun datetime="2020-01-02T03:04:05.1234567Z"><testgroup name="G">'
    b'<testfunction name="F"><result value="Failed" /><time-taken>1500</time-taken>'
    b"</testfunction></testgroup></testrun>"
)


def rejected(data: bytes, name: str = "run.xjlog") -> FileRejected:
    started = time.monotonic()
    with pytest.raises(FileRejected) as caught:
        XjtagConverter().convert(data, name, ARGS)
    assert time.monotonic() - started < 5
    assert caught.value.where
    return caught.value


class TestSamples:
    def test_the_xjlog_archive_converts_with_its_readme_facts(self, samples_dir: Path) -> None:
        """The zip's Run 1.xml is one passing report; serial from the log, part from Info.xml."""
        (report,) = convert(sample(samples_dir, XJLOG), XJLOG)
        assert validate(report) == []
        assert report.sn == "55804022"
        assert report.pn == "BA-852-978T-ISS-03AB"
        assert report.result == "P"
        assert report.start is not None
        assert report.start.startswith("2019-06-20T11:55:57")
        groups = report.root.steps or ()
        assert groups[0].name == "Check Chain"
        assert (groups[0].steps or ())[0].name == "CheckChain"

    def test_the_plain_xml_log_converts(self, samples_dir: Path) -> None:
        """The BOM-prefixed plain log is one passing report with step times from time-taken."""
        (report,) = convert(sample(samples_dir, PLAIN), PLAIN)
        assert validate(report) == []
        assert report.sn == "567567"
        assert report.pn == "xjtag"
        assert report.result == "P"
        first = (report.root.steps or ())[0]
        assert first.name == "Enter Serial Number"
        assert (first.steps or ())[0].tot_time == pytest.approx(4.231)

    @pytest.mark.parametrize("name", [XJLOG, PLAIN])
    def test_detect_scores_its_samples_high(self, samples_dir: Path, name: str) -> None:
        data = sample(samples_dir, name)
        assert XjtagConverter().detect(data[:8192], name) >= 0.9

    def test_detect_scores_every_other_sample_low(self, samples_dir: Path) -> None:
        """Every file under the shared samples outside xjtag/ scores below 0.5."""
        converter = XjtagConverter()
        checked = 0
        for path in sorted(samples_dir.rglob("*")):
            if path.is_file() and "xjtag" not in path.relative_to(samples_dir).parts:
                head = path.read_bytes()[:8192]
                assert converter.detect(head, path.name) < 0.5, path
                checked += 1
        assert checked > 10


class TestMapping:
    def test_a_failed_function_fails_the_report_and_keeps_its_time(self) -> None:
        (report,) = convert(RUN, "12345.xml")
        assert validate(report) == []
        assert report.result == "F"
        assert report.sn == "12345"
        step = ((report.root.steps or ())[0].steps or ())[0]
        assert step.status == "F"
        assert step.tot_time == pytest.approx(1.5)

    def test_each_run_of_an_archive_is_a_report_in_run_order(self) -> None:
        other = RUN.replace(b'value="Failed"', b'value="Passed"')
        data = zipped({"Run 2.xml": other, "Run 1.xml": RUN, "Info.xml": b"<LogFileInfo/>"})
        assert [r.result for r in convert(data)] == ["F", "P"]

    def test_serial_number_argument_wins(self) -> None:
        args = XjtagArguments(serial_number="SN9")
        (report,) = XjtagConverter().convert(RUN, "a.xml", args)
        assert report.sn == "SN9"  # type: ignore[union-attr]


class TestRejected:
    def test_garbage(self) -> None:
        assert "not well-formed" in rejected(b"\x00\x01garbage", "x.xml").reason

    def test_truncated_zip(self, samples_dir: Path) -> None:
        data = sample(samples_dir, XJLOG)
        assert "zip" in rejected(data[: len(data) // 2]).reason

    def test_a_zip_bomb_is_refused_without_expanding_it(self) -> None:
        """A member that inflates past the 64 MiB budget is refused, whatever it declares."""
        bomb = zipped({"Run 1.xml": b"<" + b"a" * (80 * 1024 * 1024)})
        assert len(bomb) < 1024 * 1024
        assert "expands to more than" in rejected(bomb).reason

    def test_a_bomb_that_lies_about_its_size_is_refused(self) -> None:
        """A member declaring 100 bytes but inflating to 80 MiB is refused, not expanded."""
        raw = bytearray(zipped({"Run 1.xml": b"<" + b"a" * (80 * 1024 * 1024)}))
        raw[22:26] = (100).to_bytes(4, "little")  # local header: uncompressed size
        central = raw.rfind(b"PK\x01\x02")
        raw[central + 24 : central + 28] = (100).to_bytes(4, "little")
        assert "damaged archive member" in rejected(bytes(raw)).reason

    def test_too_many_members(self) -> None:
        data = zipped({f"m{i}": b"" for i in range(300)} | {"Run 1.xml": RUN})
        assert "members" in rejected(data).reason

    def test_an_encrypted_member(self) -> None:
        raw = bytearray(zipped({"Run 1.xml": RUN}))
        raw[6] |= 1  # local header flag
        central = raw.rfind(b"PK\x01\x02")
        raw[central + 8] |= 1  # central directory flag
        assert "encrypted" in rejected(bytes(raw)).reason

    def test_an_archive_without_a_run(self) -> None:
        assert "Run N.xml" in rejected(zipped({"Info.xml": b"<LogFileInfo/>"})).reason

    def test_wrong_xml(self) -> None:
        error = rejected(b"<testsuite><testcase/></testsuite>", "x.xml")
        assert "<testrun>" in error.reason

    def test_a_run_without_functions(self) -> None:
        assert "testfunction" in rejected(b"<testrun/>", "x.xml").reason

    def test_billion_laughs_is_refused_quickly(self) -> None:
        laughs = (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            + b"".join(
                f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">'.encode() if i else b""
                for i in range(1, 10)
            ).replace(b"&lol0;", b"&lol;")
            + b"]><testrun>&lol9;</testrun>"
        )
        assert "DOCTYPE" in rejected(zipped({"Run 1.xml": laughs})).reason
