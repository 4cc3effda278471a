"""Deterministic report ids: UUIDv5 over namespace, converter, content hash and index."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from converters import content_hash, report_id

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
