"""A small streaming reader of STDF V4 records (the ``stdf`` converter's input layer).

An STDF file is a sequence of records, each a 4-byte header (``REC_LEN`` U2, ``REC_TYP`` U1,
``REC_SUB`` U1) and ``REC_LEN`` bytes of fields. The first record is the FAR (``0, 10``):
its ``REC_LEN`` of 2, written in the file's byte order, tells big-endian (``00 02``) from
little-endian (``02 00``), and its ``CPU_TYPE`` (1 Sun/Motorola, big-endian; 2 PC,
little-endian) says the same; ``STDF_VER`` must be 4.

:func:`records` reads the (possibly gzip-compressed) bytes a chunk at a time and yields each
record's type, byte offset and body, so memory does not grow with the file. :class:`Fields`
decodes a body: every read past the end of the body gives ``None``, because STDF lets a writer
leave out trailing fields (they then take their defaults).
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from collections.abc import Iterator

from ._errors import FileRejected

__all__ = ["GZIP_MAGIC", "Fields", "far_signature", "records"]

GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 16
_FAR_LE = b"\x02\x00\x00\x0a"
_FAR_BE = b"\x00\x02\x00\x0a"
_HEADER = {"<": struct.Struct("<HBB"), ">": struct.Struct(">HBB")}


def far_signature(head: bytes) -> tuple[str, int, int] | None:
    """``(byte order, CPU_TYPE, STDF_VER)`` of a FAR at the start of ``head``, else None."""
    if len(head) < 6:
        return None
    if head.startswith(_FAR_LE):
        return "<", head[4], head[5]
    if head.startswith(_FAR_BE):
        return ">", head[4], head[5]
    return None


def _chunks(data: bytes) -> Iterator[bytes]:
    """The file's uncompressed bytes, a chunk at a time (the whole of a plain file at once).

    Raises:
        FileRejected: the gzip stream is damaged or cut short.
    """
    if not data.startswith(GZIP_MAGIC):
        yield data
        return
    stream = gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb")  # shares, not copies
    while True:
        try:
            chunk = stream.read(_CHUNK)
        except (OSError, EOFError, zlib.error) as exc:
            raise FileRejected(f"damaged gzip stream: {exc}", where="gzip") from None
        if not chunk:
            return
        yield chunk


def records(data: bytes) -> Iterator[tuple[int, int, int, bytes, str]]:
    """``(REC_TYP, REC_SUB, byte offset, body, byte order)`` of every record, FAR first.

    Offsets count uncompressed bytes from the start of the STDF data.

    Raises:
        FileRejected: no FAR at offset 0, an STDF version other than 4, VAX floating point
            (``CPU_TYPE`` 0), a record cut short by the end of the data (``where`` names its
            byte offset), or a damaged gzip stream.
    """
    chunks = _chunks(data)
    buffer = b""
    pos = 0
    base = 0  # offset of buffer[0] in the uncompressed data
    exhausted = False
    order = "<"
    header = _HEADER[order]
    first = True
    while True:
        if len(buffer) - pos < 6 and not exhausted:
            buffer, pos, base, exhausted = _refill(chunks, buffer, pos, base, 6 if first else 4)
        if pos >= len(buffer):
            if first:
                raise FileRejected("empty: no STDF data", where="byte 0")
            return
        offset = base + pos
        if first:
            signature = far_signature(buffer[:6])
            if signature is None:
                raise FileRejected(
                    "not STDF: no FAR record (02 00 00 0A or 00 02 00 0A) at the start",
                    where="byte 0",
                )
            order, cpu, version = signature
            if version != 4:
                raise FileRejected(
                    f"STDF version {version} is not supported (only V4)", where="byte 5"
                )
            if cpu == 0:
                raise FileRejected(
                    "CPU_TYPE 0 (VAX/PDP floating point) is not supported", where="byte 4"
                )
            header = _HEADER[order]
            first = False
        if len(buffer) - pos < 4:
            raise FileRejected(
                f"truncated record header ({len(buffer) - pos} of 4 bytes)",
                where=f"byte {offset}",
            )
        length, typ, sub = header.unpack_from(buffer, pos)
        end = pos + 4 + length
        if end > len(buffer) and not exhausted:
            buffer, pos, base, exhausted = _refill(chunks, buffer, pos, base, 4 + length)
            end = pos + 4 + length
        if end > len(buffer):
            raise FileRejected(
                f"record {typ},{sub} is cut short: {len(buffer) - pos - 4} of its "
                f"{length} bytes (truncated file?)",
                where=f"byte {offset}",
            )
        yield typ, sub, offset, buffer[pos + 4 : end], order
        pos = end


def _refill(
    chunks: Iterator[bytes], buffer: bytes, pos: int, base: int, need: int
) -> tuple[bytes, int, int, bool]:
    """Drop what was consumed and read chunks until ``need`` bytes are buffered or the data
    ends; returns the new buffer, position (0), base offset and whether the data ended."""
    rest = buffer[pos:]
    parts = [rest] if rest else []
    have = len(rest)
    base += pos
    exhausted = False
    while have < need:
        chunk = next(chunks, None)
        if chunk is None:
            exhausted = True
            break
        parts.append(chunk)
        have += len(chunk)
    return b"".join(parts), 0, base, exhausted


class Fields:
    """A cursor over one record's body; a field past the end reads as ``None``.

    Args:
        body: the record's bytes after its header.
        order: ``<`` or ``>``, the file's byte order.
    """

    __slots__ = ("_body", "_order", "pos")

    def __init__(self, body: bytes, order: str) -> None:
        self._body = body
        self._order = order
        self.pos = 0

    def _int(self, fmt: str, size: int) -> int | None:
        if self.pos + size > len(self._body):
            self.pos = len(self._body)
            return None
        value: int = struct.unpack_from(self._order + fmt, self._body, self.pos)[0]
        self.pos += size
        return value

    def u1(self) -> int | None:
        """An unsigned byte."""
        return self._int("B", 1)

    def u2(self) -> int | None:
        """An unsigned 16-bit integer."""
        return self._int("H", 2)

    def u4(self) -> int | None:
        """An unsigned 32-bit integer."""
        return self._int("I", 4)

    def i1(self) -> int | None:
        """A signed byte."""
        return self._int("b", 1)

    def i2(self) -> int | None:
        """A signed 16-bit integer."""
        return self._int("h", 2)

    def i4(self) -> int | None:
        """A signed 32-bit integer."""
        return self._int("i", 4)

    def r4(self) -> float | None:
        """A 32-bit IEEE float."""
        if self.pos + 4 > len(self._body):
            self.pos = len(self._body)
            return None
        value: float = struct.unpack_from(self._order + "f", self._body, self.pos)[0]
        self.pos += 4
        return value

    def c1(self) -> str | None:
        """One character (a space or NUL reads as empty)."""
        if self.pos >= len(self._body):
            return None
        char = chr(self._body[self.pos])
        self.pos += 1
        return "" if char in " \x00" else char

    def cn(self) -> str | None:
        """A string of a length byte and up to 255 bytes (Latin-1; NULs and ends stripped)."""
        body = self._body
        if self.pos >= len(body):
            return None
        size = body[self.pos]
        start = self.pos + 1
        self.pos = min(start + size, len(body))
        return body[start : self.pos].decode("latin-1").replace("\x00", "").strip()

    def skip_bn(self) -> None:
        """Skip a byte string (a length byte and that many bytes)."""
        if self.pos < len(self._body):
            self.pos = min(self.pos + 1 + self._body[self.pos], len(self._body))

    def skip_dn(self) -> None:
        """Skip a bit string (a U2 bit count and its bytes)."""
        bits = self.u2()
        if bits is not None:
            self.pos = min(self.pos + (bits + 7) // 8, len(self._body))

    def array(self, fmt: str, count: int) -> tuple[int | float, ...]:
        """``count`` fixed-size values (``H`` U2, ``f`` R4...); fewer when the body ends."""
        size = struct.calcsize(fmt)
        count = max(0, min(count, (len(self._body) - self.pos) // size))
        values = struct.unpack_from(f"{self._order}{count}{fmt}", self._body, self.pos)
        self.pos += count * size
        return values

    def nibbles(self, count: int) -> tuple[int, ...]:
        """``count`` 4-bit values packed two to a byte, low nibble first."""
        size = min((count + 1) // 2, len(self._body) - self.pos)
        packed = self._body[self.pos : self.pos + size]
        self.pos += size
        out: list[int] = []
        for byte in packed:
            out.append(byte & 0x0F)
            out.append(byte >> 4)
        return tuple(out[:count])
