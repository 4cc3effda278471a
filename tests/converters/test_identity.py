"""Deterministic report ids: UUIDv5 over namespace, converter, content hash and index."""

from __future__ import annotations

import hashlib
import uuid

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from converters import content_hash, report_id
from converters._finish import identify_reports
from converters._protocol import ConverterInfo
from pywats_actors.report import decode_report, encode_report

from .plugins.misbehaving import wsjf

NS = uuid.UUID("0b6ac2f1-31b0-4bd5-9a6f-6d3b1c6c2a10")


class TestReportId:
    def test_is_the_documented_uuid5(self) -> None:
        """The id is uuid5(namespace, "<converter>/<sha256>/<index>"), the stable contract."""
        sha = content_hash(b"data")
        assert report_id(NS, "csv", sha, 2) == uuid.uuid5(NS, f"csv/{sha}/2")
        assert report_id(NS, "csv", sha, 2).version == 5

    @given(st.binary(max_size=256), st.integers(0, 10_000))
    def test_same_inputs_same_id(self, data: bytes, index: int) -> None:
        """The same bytes, converter and index always give the same id."""
        sha = content_hash(data)
        assert report_id(NS, "wsjf", sha, index) == report_id(NS, "wsjf", sha, index)

    def test_every_input_matters(self) -> None:
        """Changing the namespace, converter, content or index changes the id."""
        sha, other = content_hash(b"a"), content_hash(b"b")
        base = report_id(NS, "csv", sha, 0)
        assert base != report_id(uuid.uuid4(), "csv", sha, 0)
        assert base != report_id(NS, "wsjf", sha, 0)
        assert base != report_id(NS, "csv", other, 0)
        assert base != report_id(NS, "csv", sha, 1)

    @pytest.mark.parametrize(("sha", "index"), [("abc", 0), ("A" * 64, 0), ("0" * 64, -1)])
    def test_rejects_malformed_inputs(self, sha: str, index: int) -> None:
        """A hash that is not 64 lowercase hex digits, or a negative index, is a ValueError."""
        with pytest.raises(ValueError):
            report_id(NS, "csv", sha, index)

    def test_content_hash_is_sha256_hex(self) -> None:
        """content_hash is the hex SHA-256 of the bytes."""
        assert content_hash(b"x") == hashlib.sha256(b"x").hexdigest()

    @given(
        st.uuids(),
        st.text(min_size=1, max_size=40).filter(lambda s: s < "\ud800" or s.isprintable()),
        st.binary(max_size=64),
        st.integers(0, 1 << 40),
    )
    def test_equals_uuid5_for_any_input(
        self, namespace: uuid.UUID, converter: str, data: bytes, index: int
    ) -> None:
        """Computed without uuid.uuid5, the id is still exactly its value."""
        try:
            name = f"{converter}/{content_hash(data)}/{index}"
            expected = uuid.uuid5(namespace, name)
        except UnicodeEncodeError:
            return  # a name uuid5 cannot hash is not a converter name anyway
        assert report_id(namespace, converter, content_hash(data), index) == expected


INFO = ConverterInfo("alias", "conv", "1", "ref", (), False)
KEEPS = ConverterInfo("wsjf", "wsjf", "1", "wsjf", (), True)
SHA = content_hash(b"the file")


def _old_way(reports: list[bytes], info: ConverterInfo) -> list[tuple[uuid.UUID, bytes]]:
    """What the parent did before writing ids in place: decode, set the id, encode."""
    out = []
    for index, raw in enumerate(reports):
        report = decode_report(raw)
        report = msgspec.structs.replace(report, id=report_id(NS, info.name, SHA, index))
        out.append((report.id, encode_report(report)))
    return out


def _sample(sn: str, kind: str = "T", report_id: str = str(uuid.UUID(int=0))) -> dict[str, object]:
    base = wsjf(sn, report_id=report_id)
    if kind == "R":
        base = {k: v for k, v in base.items() if k not in ("root", "uut")}
        base.update(type="R", uur={}, subUnits=[])
    return base


class TestIdentifyReports:
    def test_ids_written_in_place_are_what_decode_and_encode_gave(self) -> None:
        """For reports as the worker encodes them (type, then id), the in-place id gives the
        very bytes the decode / set id / encode way gave."""
        reports = [
            encode_report(decode_report(msgspec.json.encode(_sample(f"SN-{i}")))) for i in range(3)
        ]
        result = identify_reports(reports, INFO, SHA, NS)
        assert isinstance(result, list)
        assert [(r.id, r.wsjf) for r in result] == _old_way(reports, INFO)
        assert [r.index for r in result] == [0, 1, 2]
        assert not any(r.kept_source_id for r in result)

    def test_a_second_id_key_cannot_win(self) -> None:
        """A document with a second "id" key further on (the last one wins when decoded) is
        re-encoded: the result carries the derived id, once."""
        raw = msgspec.json.encode(_sample("SN-1"))
        forged = raw[:-1] + b',"id":"11111111-1111-4111-8111-111111111111"}'
        result = identify_reports([forged], INFO, SHA, NS)
        assert isinstance(result, list)
        (report,) = result
        assert report.id == report_id(NS, "conv", SHA, 0)
        assert report.wsjf.count(b'"id":"') == 1
        assert decode_report(report.wsjf).id == report.id

    @pytest.mark.parametrize(
        "raw",
        [
            b"\xef\xbb\xbf" + msgspec.json.encode(_sample("SN-1")),  # a byte order mark
            msgspec.json.format(msgspec.json.encode(_sample("SN-1")), indent=2),  # pretty
            msgspec.json.encode({"id": str(uuid.UUID(int=0)), **_sample("SN-1")}),  # id first
            msgspec.json.encode(_sample("SN-1", report_id="not-a-uuid-but-36-characters-long!!")),
        ],
    )
    def test_other_layouts_are_decoded_and_encoded(self, raw: bytes) -> None:
        """Anything that does not begin exactly as the worker writes a report takes the
        general way, with the same outcome as before."""
        result = identify_reports([raw], INFO, SHA, NS)
        if b"not-a-uuid" in raw:
            assert not isinstance(result, list)  # an id that is no UUID is invalid output
            return
        assert isinstance(result, list)
        assert [(r.id, r.wsjf) for r in result] == _old_way([raw], INFO)

    def test_a_repair_report_gets_its_id_in_place_too(self) -> None:
        """UUR reports ("type":"R") are handled the same way."""
        raw = encode_report(decode_report(msgspec.json.encode(_sample("SN-9", kind="R"))))
        assert raw.startswith(b'{"type":"R","id":"')
        result = identify_reports([raw], INFO, SHA, NS)
        assert isinstance(result, list)
        assert [(r.id, r.wsjf) for r in result] == _old_way([raw], INFO)

    def test_invalid_output_is_still_refused(self) -> None:
        """A document that is not a report is refused, with the same path, whichever way."""
        raw = msgspec.json.encode(_sample("SN-1"))
        broken = raw.replace(b'"processCode":10', b'"processCode":"ten"')
        result = identify_reports([broken], INFO, SHA, NS)
        assert not isinstance(result, list)
        assert result.where == "$.processCode"

    def test_kept_source_ids_pass_through_untouched(self) -> None:
        """A converter that keeps source ids keeps a non-nil id and the exact bytes."""
        own = "2b1f5a4e-0c77-4c1e-9d8e-0a2c5e7f9b11"
        raw = msgspec.json.encode(_sample("SN-1", report_id=own))
        result = identify_reports([raw], KEEPS, SHA, NS)
        assert isinstance(result, list)
        assert (str(result[0].id), result[0].wsjf, result[0].kept_source_id) == (own, raw, True)
