"""The worker's check of a converter's output, and the outputs a built-in converter checked
itself (the worker does not check those very objects twice)."""

from __future__ import annotations

import uuid

import msgspec
import pytest

from converters import FileRejected, _worker_output, validate_arguments
from converters._check import check_reports, noting_validated, validated
from converters._csv import CsvConverter
from converters._csv_args import CsvArguments
from converters._wsjf import WsjfArguments, WsjfConverter
from pywats_actors.report import Report, ReportInvalid, decode_report, encode_report

from .plugins.misbehaving import wsjf

CSV = (
    b"SerialNumber,TestDate,StepName,Value,LowLimit,HighLimit\n"
    b"SN-1,2024-05-01T10:00:00+02:00,Vcc,3.3,3,3.6\n"
    b"SN-2,2024-05-01T10:01:00+02:00,Vcc,3.1,3,3.6\n"
)
SOME_ID = uuid.UUID("00000000-0000-4000-8000-0000000000aa")


def _raw(sn: str = "SN-1", **changes: object) -> bytes:
    return msgspec.json.encode({**wsjf(sn), **changes})


def _report(sn: str = "SN-1", **changes: object) -> Report:
    return decode_report(_raw(sn, **changes))


def _stream(outputs: list[object], noted: list[object]) -> tuple[list[bytes], set[int]]:
    """Run ``outputs`` through the worker's own streaming of reports: the reports it would send
    (as WSJF bytes), and the indexes of those it did not check again."""
    checked: list[bytes] = []
    real_check = _worker_output.check_report

    def spy(raw: bytes, label: str) -> tuple[str, str | None, str | None] | None:
        checked.append(raw)
        return real_check(raw, label)

    sender = _worker_output.Sender(-1, 1)  # small reports: nothing is written before the answer
    original, _worker_output.check_report = _worker_output.check_report, spy
    try:
        problem = _worker_output.stream(iter(outputs), noted, sender)
    finally:
        _worker_output.check_report = original
    assert problem is None
    encoded = sender.pending
    skipped = {i for i, raw in enumerate(encoded) if not any(raw is c for c in checked)}
    return encoded, skipped


def _without_id(reports: object) -> list[bytes]:
    assert isinstance(reports, list)
    return [encode_report(msgspec.structs.replace(r, id=SOME_ID)) for r in reports]


class TestValidated:
    def test_outside_a_worker_it_validates_and_notes_nothing(self) -> None:
        """validated() raises on an invalid report and returns a valid one as it is."""
        report = _report()
        assert validated(report) is report
        with pytest.raises(ReportInvalid, match="result"):
            validated(_report(result="X"))

    def test_the_id_is_not_the_converters_business(self) -> None:
        """The parent gives every report its id, so a nil id is fine, as for the worker."""
        report = _report(id=str(uuid.UUID(int=0)))
        assert validated(report) is report

    def test_only_reports_validated_during_the_conversion_are_noted(self) -> None:
        """Inside noting_validated() the validated objects are collected; an invalid one is not,
        and nothing is collected once the block is left."""
        good = _report()
        with noting_validated() as noted:
            validated(good)
            with pytest.raises(ReportInvalid):
                validated(_report(result="X"))
        assert noted == [good]
        validated(_report())
        assert noted == [good]


class TestWorkerSkipsWhatWasValidated:
    def test_only_the_very_objects_validated_are_skipped(self) -> None:
        """The worker does not check again the very objects validated; an equal copy, bytes or
        a dict is checked as always."""
        good = _report()
        copy = _report()
        with noting_validated() as noted:
            validated(good)
            encoded, skip = _stream([good, copy, encode_report(good), wsjf("X")], noted)
        assert skip == {0}
        assert len(encoded) == 4

    def test_check_reports_skips_only_what_it_is_told(self) -> None:
        """A skipped index is not checked; every other report still is."""
        bad, good = _raw("SN-1", result="X"), _raw("SN-2")
        assert check_reports([bad, good], skip={0}) is None
        problem = check_reports([bad, good], skip={1})
        assert problem is not None
        assert problem[1] == "$.result"

    def test_the_csv_converter_validates_what_it_builds(self) -> None:
        """The CSV converter's reports are validated by it (so noted in a worker) and encode
        to reports the worker's own check accepts."""
        args = validate_arguments(
            "csv", CsvArguments, {"defaults": {"station": "st", "part_number": "PN-1"}}
        )
        with noting_validated() as noted:
            reports = CsvConverter().convert(CSV, "f.csv", args)
            encoded, skip = _stream(list(reports), noted)
        assert skip == {0, 1}
        assert check_reports(encoded) is None

    def test_the_csv_converter_reuses_what_depends_on_its_arguments(self) -> None:
        """Same arguments object, same prepared state; other arguments, prepared afresh; the
        reports do not depend on it."""
        args = validate_arguments(
            "csv", CsvArguments, {"defaults": {"station": "st", "part_number": "PN-1"}}
        )
        other = validate_arguments(
            "csv", CsvArguments, {"defaults": {"station": "st", "part_number": "PN-1"}}
        )
        converter = CsvConverter()
        first = _without_id(converter.convert(CSV, "f.csv", args))
        prepared = converter._prepared
        again = _without_id(converter.convert(CSV, "f.csv", args))
        assert converter._prepared is prepared
        other_args = _without_id(converter.convert(CSV, "f.csv", other))
        assert converter._prepared is not prepared
        fresh = _without_id(CsvConverter().convert(CSV, "f.csv", args))
        assert first == again == other_args == fresh

    def test_the_wsjf_pass_through_declares_the_bytes_it_checked(self) -> None:
        """The WSJF converter decodes and validates the file to pass it on: the very bytes it
        returns are skipped by the worker; a completed report (re-encoded) as well; a file it
        refuses is not noted."""
        args = validate_arguments("wsjf", WsjfArguments, {"machine_name": "st"})
        own = _raw(id=str(SOME_ID))
        incomplete = msgspec.json.encode({k: v for k, v in wsjf("SN-2").items() if k != "id"})
        converter = WsjfConverter()
        with noting_validated() as noted:
            passed = converter.convert(own, "a.json", args)
            completed = converter.convert(incomplete, "b.json", args)
            with pytest.raises(FileRejected):
                converter.convert(_raw(result="X"), "c.json", args)
        assert passed == [own]
        assert noted == [passed[0], completed[0]]
        encoded, skip = _stream([*passed, *completed], noted)
        assert skip == {0, 1}
        assert check_reports(encoded) is None
