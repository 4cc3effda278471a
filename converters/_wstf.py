"""The WATS Standard Text Format converter (``wstf``): tab-separated sections, one report per UUT.

A WSTF file holds one or more UUTs, each::

    --Header-Start--
    SerialNumber<TAB>SN-1             (Key<TAB>Value lines; an unknown key is a misc info)
    Subunit<TAB>Description<TAB>PN<TAB>SN<TAB>Rev
    --Step-Data-Start--
    StepType<TAB>StepName<TAB>...     (an optional column header row, then step rows)
    --Step-Data-End--
    UUTStatus<TAB>Passed              (optional footer: UUTStatus, ErrorCode, ExecutionTime...)
    --UUT-End--                       (also written "-- UUT-End--")

The file is read line by line and each UUT's report is yielded at its ``--UUT-End--``, so memory
holds one UUT at a time however many the file has. Step rows are made into steps by
:mod:`._wstf_steps`; numbers, statuses and times are read by :mod:`._wstf_values`.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterator, Sequence
from typing import ClassVar

import msgspec

from pywats_actors.report import (
    UUTReport,
)

from ._errors import FileRejected
from ._sdk import API_VERSION, Converter, ConverterOutput
from ._timezone import check_timezone
from ._wstf_uut import Uut
from ._wstf_values import check_culture

__all__ = ["WstfArguments", "WstfConverter"]

_MAX_LINE = 4 << 20  # bytes; a Series row of 10000 points fits many times over
_CODE_PAGES = {"65001": "utf-8", "28591": "latin-1", "1200": "utf-16-le", "1201": "utf-16-be"}


class WstfArguments(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Values used when a WSTF header lacks them, and how to read the file.

    Attributes:
        operation_type_code: the process code when the header has no OperationTypeCode.
        part_number: the part number when the header has no PartNumber (``None``: such a file
            is rejected).
        revision: the revision when the header has no Revision.
        operator: the operator when the header has no OperatorName.
        station_name: the machine name when the header has no StationName (``None``: this
            computer's host name).
        location: the station's location.
        purpose: the station's purpose.
        sequence_name: the root sequence's name when the header has no SoftwareName.
        sequence_version: its version when the header has no SoftwareVersion.
        culture_code: the .NET culture the station wrote numbers in (``de-DE`` writes a
            decimal comma).
        file_encoding: the text encoding (a Python codec name, or a Windows code page number
            such as ``1252``); a UTF-8 or UTF-16 byte order mark overrides it.
        timezone: the IANA time zone of StartDateTime when the header has no UTCStartDateTime
            (``None``: the station's local time zone).
    """

    operation_type_code: int = 10
    part_number: str | None = None
    revision: str = "1"
    operator: str | None = None
    station_name: str | None = None
    location: str = "Unknown"
    purpose: str = "Production"
    sequence_name: str | None = None
    sequence_version: str | None = None
    culture_code: str = "en-US"
    file_encoding: str = "cp1252"
    timezone: str | None = None

    def __post_init__(self) -> None:
        """Check the culture, the encoding and the time zone.

        Raises:
            ValueError: one of them is unknown.
        """
        check_culture(self.culture_code)
        try:
            if not codecs.lookup(_codec(self.file_encoding))._is_text_encoding:
                raise LookupError(self.file_encoding)
        except LookupError:
            raise ValueError(
                f"file_encoding {self.file_encoding!r} is not a known encoding"
            ) from None
        check_timezone(self.timezone)


class WstfConverter(Converter[WstfArguments]):
    """WATS Standard Text Format files mapped to one UUT report per UUT."""

    name: ClassVar[str] = "wstf"
    version: ClassVar[str] = "1.0"
    api_version: ClassVar[int] = API_VERSION
    patterns: ClassVar[tuple[str, ...]] = ("*.txt",)
    Arguments: ClassVar[type[msgspec.Struct]] = WstfArguments

    def detect(self, head: bytes, name: str) -> float:
        """0.95 when ``--Header-Start--`` is one of the first five non-blank lines, 0.4 when it
        is elsewhere in the head, else 0."""
        text = head[:65536].decode(_bom_codec(head) or "latin-1", "replace").lstrip("\ufeff")
        if "--Header-Start--" not in text:
            return 0.0
        lines = [line.strip() for line in text.splitlines() if line.strip()][:5]
        return 0.95 if "--Header-Start--" in lines else 0.4

    def convert(self, data: bytes, name: str, args: WstfArguments) -> Sequence[ConverterOutput]:
        """Every report :meth:`convert_iter` yields, in a list."""
        return list(self.convert_iter(data, name, args))

    def convert_iter(self, data: bytes, name: str, args: WstfArguments) -> Iterator[UUTReport]:
        """One report per UUT, each yielded at its ``--UUT-End--``.

        Raises:
            FileRejected: bytes that do not decode, text outside a UUT, a header line without a
                TAB, a bad header value, an unknown step type, an unbalanced EndSequenceCall, a
                value that is not a number, a UUT without ``--UUT-End--`` (a truncated file), or
                values that make an invalid report; ``where`` names the line.
        """
        uut: Uut | None = None
        count = 0
        line = 0
        for line, text in _lines(data, args.file_encoding):
            stripped = text.strip()
            if not stripped:
                continue
            marker = stripped.replace(" ", "").lower() if stripped.startswith("--") else ""
            where = f"line {line}"
            if marker == "--header-start--":
                if uut is not None:
                    raise FileRejected(
                        f"--Header-Start-- before the --UUT-End-- of the UUT at line {uut.line}",
                        where=where,
                    )
                uut = Uut(line, args)
            elif uut is None:
                raise FileRejected(
                    f"expected --Header-Start--, found {stripped[:40]!r}", where=where
                )
            elif marker == "--uut-end--":
                yield uut.report(line)
                count += 1
                uut = None
            else:
                uut.add(text, marker, line)
        if uut is not None:
            raise FileRejected(
                f"the UUT that starts at line {uut.line} has no --UUT-End-- (truncated file?)",
                where=f"line {line}",
            )
        if count == 0:
            raise FileRejected("no --Header-Start--: not a WSTF file", where="line 1")


def _codec(encoding: str) -> str:
    """A Python codec name for ``encoding``: a Windows code page number (``1252``) or a name."""
    name = encoding.strip()
    if name.isdigit():
        return _CODE_PAGES.get(name, f"cp{name}")
    return name


def _bom_codec(data: bytes) -> str | None:
    """The encoding a byte order mark announces, if any."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def _lines(data: bytes, encoding: str) -> Iterator[tuple[int, str]]:
    """The file's lines, numbered from 1, each decoded when it is reached (the text of the
    whole file is never held, except for a UTF-16 file, which is decoded at once).

    Raises:
        FileRejected: bytes that do not decode, a NUL character, or a line over 4 MiB.
    """
    codec = _bom_codec(data) or _codec(encoding)
    plain = _plain(codec)
    if "\n".encode(plain) != b"\n" or "-".encode(plain) != b"-":  # not ASCII-compatible
        try:
            whole = data.decode(codec)
        except UnicodeDecodeError as exc:
            raise FileRejected(
                f"the file is not {codec} text: {exc.reason} (argument file_encoding)",
                where=f"byte {exc.start}",
            ) from None
        for number, text in enumerate(io.StringIO(whole, newline=None), 1):
            yield _checked(number, text.lstrip("\ufeff"))
        return
    view = memoryview(data)
    start = 0
    number = 0
    while start < len(data):
        number += 1
        end = data.find(b"\n", start, start + _MAX_LINE + 1)
        if end < 0:
            end = len(data)
            if end - start > _MAX_LINE:
                raise FileRejected(f"a line longer than {_MAX_LINE} bytes", f"line {number}")
        try:
            text = codecs.decode(view[start:end], codec if number == 1 else plain)
        except UnicodeDecodeError as exc:
            raise FileRejected(
                f"the file is not {codec} text: {exc.reason} (argument file_encoding)",
                where=f"line {number}",
            ) from None
        start = end + 1
        yield _checked(number, text)


def _plain(codec: str) -> str:
    """The codec for lines after the first (a byte order mark is only at the start)."""
    return "utf-8" if codec == "utf-8-sig" else codec


def _checked(number: int, text: str) -> tuple[int, str]:
    """The numbered line, its line break removed.

    Raises:
        FileRejected: a NUL character (binary data).
    """
    if "\x00" in text:
        raise FileRejected("binary data (a NUL byte), not WSTF text", f"line {number}")
    return number, text.rstrip("\r\n")
