"""WSJF pass-through: validate a WATS JSON report and pass it on losslessly, GUID included.

A valid file is passed on as the very bytes it holds (a UTF-8 byte order mark dropped), so
nothing the model does not know is lost. A file that lacks a header field the arguments can supply
(``processCode``, ``machineName``, ``location``, ``purpose``), uses pyWATS's aliases
(``partNumber``, ``serialNumber``, ``partRevision``) or has no ``id`` is completed, then
re-encoded; a file without an ``id`` gets the pool's deterministic one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any, ClassVar

import msgspec

from pywats_actors.report import Report, ReportDecodeError, decode_report, validate

from ._check import checked
from ._errors import FileRejected
from ._sdk import API_VERSION, Converter, ConverterOutput

__all__ = ["WsjfArguments", "WsjfConverter"]

_BOM = b"\xef\xbb\xbf"
_TYPE_RE = re.compile(rb'"type"\s*:\s*"[TR]"')
_BODY_RE = re.compile(rb'"(?:root|uur)"\s*:\s*\{')
_HEADER_KEYS = (b'"pn"', b'"sn"', b'"processCode"', b'"partNumber"', b'"serialNumber"')
_ALIASES = {"partNumber": "pn", "serialNumber": "sn", "partRevision": "rev"}
_NIL = str(uuid.UUID(int=0))


class WsjfArguments(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Defaults for header fields a WSJF file may lack (used only when the key is absent).

    Attributes:
        process_code: ``processCode`` (WATS's default test operation is 10).
        machine_name: ``machineName``, the station.
        location: ``location``.
        purpose: ``purpose``.
        accept_aliases: read ``partNumber``/``serialNumber``/``partRevision`` as
            ``pn``/``sn``/``rev`` (pyWATS writes them).
    """

    process_code: int | None = None
    machine_name: str | None = None
    location: str | None = None
    purpose: str | None = None
    accept_aliases: bool = True


class WsjfConverter(Converter[WsjfArguments]):
    """WATS Standard JSON Format: validate and pass through, keeping the report's GUID."""

    name: ClassVar[str] = "wsjf"
    version: ClassVar[str] = "1.0"
    api_version: ClassVar[int] = API_VERSION
    patterns: ClassVar[tuple[str, ...]] = ("*.json", "*.wsjf")
    Arguments: ClassVar[type[msgspec.Struct]] = WsjfArguments
    keeps_source_ids: ClassVar[bool] = True

    def detect(self, head: bytes, name: str) -> float:
        """0.95 for ``"type": "T"|"R"`` with a ``root``/``uur`` object, 0.7 for the type with
        WSJF header keys, 0.1 for any other JSON object (a fallback, below the threshold)."""
        if not head.removeprefix(_BOM).lstrip().startswith(b"{"):
            return 0.0
        if _TYPE_RE.search(head):
            if _BODY_RE.search(head):
                return 0.95
            if sum(key in head for key in _HEADER_KEYS) >= 2:
                return 0.7
        return 0.1

    def convert(self, data: bytes, name: str, args: WsjfArguments) -> Sequence[ConverterOutput]:
        """Return the file's own bytes when it is valid WSJF, or the completed report."""
        data = data.removeprefix(_BOM)
        try:
            report = decode_report(data)
            output: bytes | Report = data
            nil_id_inserted = False
        except ReportDecodeError as exc:
            report, nil_id_inserted = _completed(data, args, exc)
            output = report
        problems = [p for p in validate(report) if not (nil_id_inserted and p.path == "$.id")]
        if problems:
            first = problems[0]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise FileRejected(f"invalid WSJF: {first.message}{more}", where=first.path)
        checked(output)  # decoded and validated (its id included): the worker need not again
        return [output]


def _completed(data: bytes, args: WsjfArguments, error: ReportDecodeError) -> tuple[Any, bool]:
    """Fill in what the arguments allow and decode again.

    Raises:
        FileRejected: the file is not a JSON object, or still not a WSJF report.
    """
    try:
        tree = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise FileRejected(f"not valid JSON: {exc}", where="$") from None
    if not isinstance(tree, dict):
        raise FileRejected("a WSJF file holds one JSON object", where="$")
    changed = False
    if args.accept_aliases:
        for alias, key in _ALIASES.items():
            if alias in tree and key not in tree:
                tree[key] = tree.pop(alias)
                changed = True
    for key, value in (
        ("processCode", args.process_code),
        ("machineName", args.machine_name),
        ("location", args.location),
        ("purpose", args.purpose),
    ):
        if value is not None and key not in tree:
            tree[key] = value
            changed = True
    nil_id = "id" not in tree
    if nil_id:
        tree["id"] = _NIL
        changed = True
    if not changed:
        raise FileRejected(f"not a WSJF report: {error.message}", where=error.path) from None
    try:
        return decode_report(msgspec.json.encode(tree)), nil_id
    except ReportDecodeError as exc:
        raise FileRejected(f"not a WSJF report: {exc.message}", where=exc.path) from None
