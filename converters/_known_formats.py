"""Formats seen on test stations that no built-in converter reads, known by their signatures.

When auto-detection finds no converter for a file, naming what the file most likely is tells an
operator what to do next (install or write a plug-in, change the station's export) instead of
leaving a list of low scores to puzzle over. The checks look at the head only, with plain byte
tests: this runs in the node's own process, on bytes nobody vouches for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["KnownFormat", "looks_like"]

_PLUGIN = "a converter plug-in can: see 'Writing converters' in docs/converters.md"


@dataclass(frozen=True, slots=True)
class KnownFormat:
    """A format recognised by its signature.

    Attributes:
        description: what the file looks like, e.g. ``a Keysight i3070 ICT log``.
        advice: what to do about it.
    """

    description: str
    advice: str


_XML_ROOT = re.compile(rb"<(?!\?|!)([A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)")


def _root(head: bytes) -> bytes | None:
    """The local name of the first element of an XML head (``None``: not XML-looking)."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(b"<"):
        return None
    match = _XML_ROOT.search(text, 0, 4096)
    return match.group(2) if match else None


def looks_like(head: bytes, name: str) -> KnownFormat | None:
    """What ``head`` (a file's first bytes) looks like, among the formats no built-in reads;
    ``None`` when it matches none of them."""
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"%PDF-"):
        return KnownFormat("a PDF document", "a report for people, not a test result file")
    if stripped.startswith(b"PK\x03\x04") and b"xl/" in head[:4096]:
        return KnownFormat(
            "an Excel workbook", "export the sheet as CSV and use the `csv` converter"
        )
    if b"{@BATCH|" in head[:4096] or b"{@BLOCK|" in head[:4096]:
        return KnownFormat("a Keysight i3070 ICT log", _PLUGIN)
    if stripped.startswith(b"FAR:"):
        return KnownFormat(
            "an ATDF file (the ASCII form of STDF)",
            "convert it to binary STDF V4 for the `stdf` converter, or " + _PLUGIN,
        )
    lines = stripped[:4096].splitlines()
    if (
        lines
        and lines[0].upper().startswith(b"START;")
        and any(line.upper().startswith((b"ANL;", b"TEST;", b"END;")) for line in lines[1:])
    ):
        return KnownFormat("a SPEA tester log", _PLUGIN)
    root = _root(head)
    if root == b"R" and b"<BI" in head and b"<ST" in head:
        return KnownFormat("a Seica flying-probe XML log", _PLUGIN)
    if root is not None and root.lower() == b"html" and b"TestStand" in head:
        return KnownFormat(
            "a TestStand HTML report",
            "set TestStand's report format to XML or ATML, which the `teststand` and `atml` "
            "converters read",
        )
    return None
