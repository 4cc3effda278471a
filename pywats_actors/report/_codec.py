"""WSJF bytes <-> report model, losslessly.

Decoding takes one of two paths:

* the fast path, for the usual document: one typed msgspec decode. Every model Struct forbids
  unknown keys, so success proves nothing was dropped;
* the slow path, when the fast path fails or the text could hide the reserved key ``$unknown``: an
  untyped decode, a walk that moves each object's unknown keys under ``$unknown`` (refusing the
  reserved key itself), and the typed decode of the result. A genuine type error is reported from
  that typed decode, so its path is the path in the caller's document.

Encoding is one msgspec encode; only when some object carries ``unknown_fields`` does a second pass
put those keys back in their objects.

Everything goes through the module-level ``Encoder``/``Decoder`` objects below: a msgspec decoder is
built once per target type, never per call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from ._base import UNKNOWN_FIELDS_KEY, WsjfObject
from ._errors import ReportDecodeError
from ._model import Report, UURReport, UUTReport
from ._walk import struct_schema

__all__ = ["decode_report", "encode_report", "has_unknown_fields"]

_REPORT_DECODER = msgspec.json.Decoder(Report)
_RAW_DECODER = msgspec.json.Decoder()
_ENCODER = msgspec.json.Encoder()

_UTF8_BOM = b"\xef\xbb\xbf"
_RESERVED_KEY_JSON = f'"{UNKNOWN_FIELDS_KEY}"'.encode()
_REPORT_CLASSES: Mapping[str, type[WsjfObject]] = {"T": UUTReport, "R": UURReport}


def decode_report(data: bytes | str) -> Report:
    """Decode one WSJF document into a :class:`UUTReport` or :class:`UURReport`.

    Keys the model does not know are kept in the owning object's ``unknown_fields``; a leading
    UTF-8 byte order mark (as written by some .NET tools) is ignored. Decoding checks JSON syntax,
    JSON types and the presence of the identifying fields; everything else is
    :func:`~pywats_actors.report.validate`'s job.

    Raises:
        ReportDecodeError: malformed JSON, a value of the wrong type, a missing required key, an
            unknown ``type``, or the reserved key ``$unknown``. ``.path`` locates the value.
    """
    if isinstance(data, str):
        try:
            data = data.encode()
        except UnicodeEncodeError as exc:
            raise ReportDecodeError("$", f"text is not encodable as UTF-8: {exc.reason}") from None
    data = data.removeprefix(_UTF8_BOM)
    try:
        if _RESERVED_KEY_JSON not in data and b"\\u" not in data:
            try:
                report: Report = _REPORT_DECODER.decode(data)
            except msgspec.DecodeError:
                pass  # an unknown key, or a genuine error that the slow path reports
            else:
                return report
        return _decode_keeping_unknown_fields(data)
    except RecursionError:
        raise ReportDecodeError("$", "the document is nested too deeply") from None


def encode_report(report: Report) -> bytes:
    """Encode a report as WSJF JSON (UTF-8, compact, no byte order mark).

    Absent (``UNSET``) fields are left out and ``None`` fields are written as ``null``, so a decoded
    report is written back key for key. ``unknown_fields`` are written back into their objects; a
    known key wins over an unknown key of the same name (``validate`` reports that clash).
    """
    data = _ENCODER.encode(report)
    if _RESERVED_KEY_JSON in data:
        tree = _RAW_DECODER.decode(data)
        _put_back_unknown_fields(tree)
        data = _ENCODER.encode(tree)
    return data


def has_unknown_fields(report: Report) -> bool:
    """True when some object of ``report`` carries ``unknown_fields`` (one fast encode)."""
    return _RESERVED_KEY_JSON in _ENCODER.encode(report)


# -- the slow path ---------------------------------------------------------------------------------


def _decode_keeping_unknown_fields(data: bytes) -> Report:
    try:
        tree = _RAW_DECODER.decode(data)
    except msgspec.DecodeError as exc:
        raise ReportDecodeError("$", str(exc)) from None
    kind = tree.get("type") if isinstance(tree, dict) else None
    if isinstance(kind, str) and kind in _REPORT_CLASSES:
        _move_unknown_keys(tree, _REPORT_CLASSES[kind], "$")
    try:
        report: Report = _REPORT_DECODER.decode(_ENCODER.encode(tree))
        return report
    except msgspec.ValidationError as exc:
        raise _decode_error(exc) from None


def _move_unknown_keys(obj: dict[str, Any], cls: type[WsjfObject], path: str) -> None:
    """Move the keys ``cls`` does not know under ``$unknown``, in ``obj`` and its children."""
    schema = struct_schema(cls)
    unknown = {key: value for key, value in obj.items() if key not in schema.known_keys}
    for key, value in unknown.items():
        _refuse_reserved_key(value, f"{path}.{key}")
        del obj[key]
    if UNKNOWN_FIELDS_KEY in unknown:
        raise ReportDecodeError(path, f"the key {UNKNOWN_FIELDS_KEY!r} is reserved")
    for child in schema.children:
        value = obj.get(child.key)
        if child.is_list and isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    _move_unknown_keys(item, child.cls, f"{path}.{child.key}[{index}]")
        elif not child.is_list and isinstance(value, dict):
            _move_unknown_keys(value, child.cls, f"{path}.{child.key}")
    if unknown:
        obj[UNKNOWN_FIELDS_KEY] = unknown


def _refuse_reserved_key(value: Any, path: str) -> None:
    if isinstance(value, dict):
        if UNKNOWN_FIELDS_KEY in value:
            raise ReportDecodeError(path, f"the key {UNKNOWN_FIELDS_KEY!r} is reserved")
        for key, item in value.items():
            _refuse_reserved_key(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_reserved_key(item, f"{path}[{index}]")


def _put_back_unknown_fields(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _put_back_unknown_fields(item)
    elif isinstance(node, dict):
        unknown = node.pop(UNKNOWN_FIELDS_KEY, None)
        for value in node.values():
            _put_back_unknown_fields(value)
        if isinstance(unknown, dict):
            for key, value in unknown.items():
                node.setdefault(key, value)


def _decode_error(exc: msgspec.ValidationError) -> ReportDecodeError:
    """Split msgspec's "<message> - at `<path>`" into a :class:`ReportDecodeError`."""
    message, separator, path = str(exc).rpartition(" - at `")
    if not separator:
        return ReportDecodeError("$", str(exc))
    return ReportDecodeError(path.removesuffix("`"), message)
