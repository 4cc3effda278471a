"""WSXF (WATS Standard XML Format): read a WATS XML report with the report model's own reader.

The document is read by :func:`pywats_actors.report.decode_wsxf`, which parses it safely
(expat, DOCTYPE and ENTITY declarations refused, so no entity expansion and no external entity;
at most 64 MiB, 200 levels of nesting and 1 Mi characters per attribute): this module adds no
second parser. Each ``<Report>`` of the document becomes one report and keeps its own GUID
(``keeps_source_ids``, as WSJF does). Every report is validated before it is returned, so a
broken rule is rejected here with the report's path rather than by the server, and two reports of
one document that claim one GUID are rejected here rather than by the spool.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

import msgspec

from pywats_actors.report import Report, ReportDecodeError, decode_wsxf, validate

from ._check import checked
from ._errors import FileRejected
from ._sdk import API_VERSION, Converter, ConverterOutput

__all__ = ["WsxfArguments", "WsxfConverter"]

_BOM = b"\xef\xbb\xbf"
# The namespace URIs of WSXF and of its legacy name WRML, as they appear in a document's head.
_NAMESPACE_RE = re.compile(rb"http://wats\.virinco\.com/schemas/WATS/Report/(?:wsxf|wrml)\b")
# The root element: ``<Reports`` with or without a prefix, followed by a space, ``>`` or ``/``.
_ROOT_RE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?Reports[\s>/]")


class WsxfArguments(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The WSXF converter takes no arguments: a WSXF report is complete (its header, process
    and steps are required by the format), and an unknown argument is a configuration error."""


class WsxfConverter(Converter[WsxfArguments]):
    """WATS Standard XML Format: decode with the report model, validate, keep the GUID."""

    name: ClassVar[str] = "wsxf"
    version: ClassVar[str] = "1.0"
    api_version: ClassVar[int] = API_VERSION
    patterns: ClassVar[tuple[str, ...]] = ("*.xml", "*.wsxf")
    Arguments: ClassVar[type[msgspec.Struct]] = WsxfArguments
    keeps_source_ids: ClassVar[bool] = True

    def detect(self, head: bytes, name: str) -> float:
        """0.95 for XML whose head holds the WSXF (or WRML) namespace and a ``Reports`` element;
        0.3 for XML that names the namespace without that root (a document about WSXF, not one);
        0.0 for anything else."""
        if not head.removeprefix(_BOM).lstrip().startswith(b"<"):
            return 0.0
        if _NAMESPACE_RE.search(head) is None:
            return 0.0
        return 0.95 if _ROOT_RE.search(head) else 0.3

    def convert(self, data: bytes, name: str, args: WsxfArguments) -> Sequence[ConverterOutput]:
        """Return one validated report per ``<Report>`` element, each with its own GUID.

        Raises:
            FileRejected: the document is not well-formed XML (``where`` gives the line and
                column), declares a DTD or entities, is too large or nested too deeply, is not
                ``<Reports>`` in the WSXF or WRML namespace, holds no ``<Report>``, holds a
                repair (UUR) report or a value of the wrong type (``where`` is the element path),
                a report breaks a rule of the report model (``where`` is its JSON path), or two
                reports share one ID (``where`` is the second one's ``ID`` attribute).
        """
        try:
            reports: list[Report] = decode_wsxf(data)
        except ReportDecodeError as exc:
            raise FileRejected(f"invalid WSXF: {exc.message}", where=exc.path) from None
        if not reports:
            raise FileRejected("the WSXF document holds no <Report> element", where="Reports")
        first_of: dict[object, int] = {}
        for index, report in enumerate(reports):
            earlier = first_of.setdefault(report.id, index)
            if earlier != index:
                raise FileRejected(
                    f"report {index} has the ID of report {earlier} ({report.id}); each report "
                    "keeps its own ID, so two reports cannot share one",
                    where=f"Reports/Report[{index}]@ID",
                )
            problems = validate(report)
            if problems:
                first = problems[0]
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                where = first.path if len(reports) == 1 else f"Report[{index}]: {first.path}"
                raise FileRejected(f"invalid WSXF report: {first.message}{more}", where=where)
            checked(report)  # decoded and validated: the worker need not check it again
        return reports
