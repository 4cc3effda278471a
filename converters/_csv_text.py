"""Reading a delimited text file: decoding (whole, or checked a chunk at a time when large),
the delimiter (given or guessed from the first line that counts), and comment lines."""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterable

from ._csv_args import CsvArguments
from ._errors import FileRejected

__all__ = ["Text", "find_delimiter", "guess_delimiter", "is_comment"]

_DELIMITERS = ("\t", ";", ",", "|")


def guess_delimiter(line: str) -> str | None:
    counts = {d: line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])  # ties: the earlier in _DELIMITERS
    return best if counts[best] else None


_TEXT_CHUNK = 1 << 20  # bytes decoded at a time to check a large file
_SMALL_FILE = 256 * 1024  # bytes: a file this small is decoded whole and parsed once


class Text:
    """The file's text, read on demand. A small file (the usual one: a unit per file) is decoded
    whole and its rows are parsed once; a large one is never held as text: it is decoded a line
    at a time from its bytes, on each pass.

    Raises:
        FileRejected: an unknown (or not a text) encoding, or bytes that do not decode; then
            ``where`` is the offset of the first bad byte.
    """

    def __init__(self, data: bytes, encoding: str) -> None:
        self._data = data
        self._encoding = encoding
        self.whole: str | None = None
        if len(data) <= _SMALL_FILE:
            self.whole = _decode(data, encoding)
        else:
            _check_text(data, encoding)

    def lines(self) -> Iterable[str]:
        """The lines, each with its end (``\\n``, ``\\r\\n`` or ``\\r``), as ``csv`` wants."""
        if self.whole is not None:
            return io.StringIO(self.whole, newline="")
        return io.TextIOWrapper(io.BytesIO(self._data), encoding=self._encoding, newline="")


def _decode(data: bytes, encoding: str) -> str:
    try:
        return bytes(data).decode(encoding)
    except UnicodeDecodeError as exc:
        raise FileRejected(
            f"the file is not {encoding} text: {exc.reason}", where=f"byte {exc.start}"
        ) from None
    except LookupError:
        raise FileRejected(f"unknown encoding {encoding!r} (argument encoding)") from None


def _check_text(data: bytes, encoding: str) -> None:
    """Check that the whole file decodes, a chunk at a time (no text is kept); raises as
    :class:`Text`."""
    try:
        if not codecs.lookup(encoding)._is_text_encoding:
            raise LookupError(encoding)
    except LookupError:
        raise FileRejected(f"unknown encoding {encoding!r} (argument encoding)") from None
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with memoryview(data) as view:
            for start in range(0, len(view), _TEXT_CHUNK):
                decoder.decode(view[start : start + _TEXT_CHUNK])
        decoder.decode(b"", True)
    except UnicodeDecodeError as exc:
        _decode(data, encoding)  # raises, with the position in the whole file
        raise FileRejected(f"the file is not {encoding} text: {exc.reason}") from None


def find_delimiter(text: Text, args: CsvArguments) -> str:
    """The delimiter given, or guessed from the first line that is not skipped, blank or a
    comment (lines counted as ``str.splitlines`` counts them).

    Raises:
        FileRejected: the file has no such line, or the line tells no delimiter.
    """
    first: str | None = None
    index = 0
    for piece in (text.whole,) if text.whole is not None else text.lines():
        for line in piece.splitlines():
            if index >= args.skip_lines and line.strip() and not is_comment(line, args):
                first = line
                break
            index += 1
        if first is not None:
            break
    if first is None:
        raise FileRejected("the file is empty")
    delimiter = args.delimiter or guess_delimiter(first)
    if delimiter is None:
        raise FileRejected(
            "cannot tell the delimiter from the first line; set the delimiter argument",
            where=f"line {args.skip_lines + 1}",
        )
    return delimiter


def is_comment(text: str, args: CsvArguments) -> bool:
    return args.comment_prefix is not None and text.lstrip().startswith(args.comment_prefix)
