"""Tests of the safe XML reader under decode_wsxf: hostile and broken documents are refused with a
ReportDecodeError, never an expansion, a file read or a stray exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pywats_actors.report import ReportDecodeError, decode_wsxf
from pywats_actors.report._wsxf_xml import MAX_ATTRIBUTE_CHARS, MAX_DEPTH, MAX_DOCUMENT_BYTES

from ._wsxf import WSXF_SAMPLE

WSXF = "http://wats.virinco.com/schemas/WATS/Report/wsxf"

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE Reports [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Reports xmlns="http://wats.virinco.com/schemas/WATS/Report/wsxf">&lol9;</Reports>
"""


def refusal(data: bytes) -> ReportDecodeError:
    with pytest.raises(ReportDecodeError) as caught:
        decode_wsxf(data)
    return caught.value


@pytest.fixture
def wsxf_sample(samples_dir: Path) -> bytes:
    """The server's WSXF export of the FAT report."""
    return (samples_dir / "wsxf" / WSXF_SAMPLE).read_bytes()


class TestDtdRefused:
    def test_billion_laughs(self) -> None:
        """Nested entity declarations are refused before any expansion."""
        error = refusal(BILLION_LAUGHS)
        assert error.path == "$"
        assert error.message.startswith("DOCTYPE and ENTITY declarations are refused")

    @pytest.mark.parametrize(
        "doctype",
        [
            b'<!DOCTYPE Reports [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
            b'<!DOCTYPE Reports [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]>',
            b'<!DOCTYPE Reports SYSTEM "http://127.0.0.1:9/wsxf.dtd">',
            b"<!DOCTYPE Reports>",
        ],
    )
    def test_external_entities_and_any_doctype(self, doctype: bytes) -> None:
        """External general and parameter entities, an external DTD, even an empty DOCTYPE, are
        refused: nothing is fetched or read."""
        document = doctype + f'<Reports xmlns="{WSXF}">&xxe;</Reports>'.encode()
        error = refusal(document)
        assert (error.path, "DOCTYPE" in error.message) == ("$", True)

    def test_undeclared_entity_is_malformed(self) -> None:
        """Without a DTD an entity reference other than XML's built-in ones is undefined."""
        error = refusal(f'<Reports xmlns="{WSXF}">&xxe;</Reports>'.encode())
        assert error.path == "Reports"
        assert error.message.startswith("malformed XML: undefined entity")


class TestBounds:
    def test_document_too_large(self) -> None:
        """A document over MAX_DOCUMENT_BYTES is refused before it is parsed."""
        data = f'<Reports xmlns="{WSXF}">'.encode() + b" " * MAX_DOCUMENT_BYTES + b"</Reports>"
        error = refusal(data)
        assert error.path == "$"
        assert f"up to {MAX_DOCUMENT_BYTES} bytes" in error.message

    def test_huge_attribute(self, wsxf_sample: bytes) -> None:
        """An attribute value over MAX_ATTRIBUTE_CHARS is refused at its attribute."""
        huge = b'SN="' + b"9" * (MAX_ATTRIBUTE_CHARS + 1) + b'"'
        error = refusal(wsxf_sample.replace(b'SN="FATTest-325"', huge))
        assert error.path == "Reports/Report[0]@SN"
        assert f"up to {MAX_ATTRIBUTE_CHARS}" in error.message

    def test_deep_nesting(self) -> None:
        """Elements nested deeper than MAX_DEPTH are refused at the first one too deep: the
        Step below Reports and MAX_DEPTH - 1 more Steps."""
        depth = MAX_DEPTH + 50
        data = f'<Reports xmlns="{WSXF}">' + "<Step>" * depth + "</Step>" * depth + "</Reports>"
        error = refusal(data.encode())
        assert error.path == "Reports" + "/Step[0]" * MAX_DEPTH
        assert f"more than {MAX_DEPTH} deep" in error.message

    def test_not_bytes(self) -> None:
        """Text is not a document: WSXF is bytes (its encoding is declared inside)."""
        with pytest.raises(TypeError):
            decode_wsxf("<Reports/>")  # type: ignore[arg-type]


class TestBrokenDocuments:
    @pytest.mark.parametrize("data", [b"", b"   ", b"\xff\xfe\x00", b"<", b"not xml", b"<a>"])
    def test_not_a_document(self, data: bytes) -> None:
        """Empty input, garbage and an unclosed element are malformed XML."""
        assert refusal(data).message.startswith("malformed XML")

    def test_truncated(self, wsxf_sample: bytes) -> None:
        """A document cut short is malformed XML, located in the element that was open."""
        error = refusal(wsxf_sample[: len(wsxf_sample) // 2])
        assert error.path.startswith("Reports/Report[0]/Step[0]/")
        assert error.message.startswith("malformed XML: ")

    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=300))
    def test_random_bytes(self, data: bytes) -> None:
        """Random bytes are refused with a ReportDecodeError."""
        with pytest.raises(ReportDecodeError):
            decode_wsxf(data)

    # The fixture is bytes, immutable: sharing it across examples is safe.
    @settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(cut=st.integers(0, 60_000), junk=st.binary(max_size=8), keep=st.integers(0, 60_000))
    def test_damaged_sample(self, wsxf_sample: bytes, cut: int, junk: bytes, keep: int) -> None:
        """The sample with bytes replaced or removed anywhere decodes or is refused with a
        ReportDecodeError; nothing else escapes."""
        cut %= len(wsxf_sample)
        damaged = wsxf_sample[:cut] + junk + wsxf_sample[cut + keep % 64 :]
        error: ReportDecodeError | None = None
        try:
            decode_wsxf(damaged)
        except ReportDecodeError as exc:
            error = exc
        assert error is None or (error.path != "" and error.message != "")
