"""The parent's last word on a worker's answer: bound it, decode each report, give it its id.

The worker validated the reports next to the converter (``_check``), but anything in the worker
can forge an answer, so nothing it checked is believed. Before any report is decoded, the answer
is held to what one file may cost the node: at most ``max_reports_per_file`` reports, and at most
``max_values_per_report`` JSON values in each (counted as the ``,``, ``{`` and ``[`` bytes, an
upper bound found at C speed, so a forged answer of a million tiny steps is refused before it
becomes a million objects). Then the reports are decoded as data (msgspec, typed: no code of the
converter runs), and the ids are assigned from the bytes the parent sent, with the converter
name the parent recorded, so no converter can get an id wrong or choose one. Only a converter
the parent knows keeps source ids (``info.keeps_source_ids``: the built-in WSJF and WSXF
converters).

Giving a report its id does not need a decode and a re-encode when the report begins the way the
worker's encoder writes one, ``{"type":"T","id":"<36 characters of UUID text>",``: the id's text is
then replaced in place, a substitution that cannot change the document's structure, and the
result is what gets the typed decode. That decode must also find the new id, so a second ``"id"``
key further on (the last one wins) sends the report down the general path instead: decode, set
the id, encode.
"""

from __future__ import annotations

import re
import uuid

import msgspec
import trio

from pywats_actors.report import ReportDecodeError, decode_report, encode_report

from ._identity import NIL_UUID, report_id
from ._protocol import ConverterInfo, Done
from ._results import Converted, ConvertedReport, Rejected, Timings
from ._settings import PoolSettings

__all__ = ["finish", "identify_reports"]

_IN_THREAD = 256 * 1024

# ``{"type":"T","id":"`` or ``{"type":"R","id":"``, then the id's text and its closing quote.
_ID_START = 18
_ID_END = _ID_START + 36
_ID_TEXT = re.compile(
    rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_HEADS = (b'{"type":"T","id":"', b'{"type":"R","id":"')


async def finish(
    done: Done,
    info: ConverterInfo,
    *,
    name: str,
    sha256: str,
    namespace: uuid.UUID,
    detected: bool,
    attempts: int,
    started: float,
    queued: float,
    settings: PoolSettings | None = None,
    scores: dict[str, float] | None = None,
) -> Converted | Rejected:
    """Turn a worker's ``Done`` into ``Converted``, or ``Rejected``: ``too_large`` when it
    holds more reports or values than ``settings`` allow, ``invalid_output`` when a report is
    not valid WSJF. ``scores``: the detection's across domains (else the worker's, checked).

    Large outputs are processed in a worker thread so the event loop keeps running.
    """
    finish_start = trio.current_time()
    limits = settings if settings is not None else PoolSettings()
    too_large = _too_large(done.reports, limits)
    if too_large is not None:
        return Rejected(
            name, sha256, "too_large", too_large, converter=done.converter, scores=scores
        )
    size = sum(len(raw) for raw in done.reports)
    if size >= _IN_THREAD:
        outcome = await trio.to_thread.run_sync(
            identify_reports, done.reports, info, sha256, namespace
        )
    else:
        outcome = identify_reports(done.reports, info, sha256, namespace)
    if isinstance(outcome, _Invalid):
        return Rejected(
            name,
            sha256,
            "invalid_output",
            outcome.reason,
            where=outcome.where,
            detail=outcome.detail,
            converter=done.converter,
            scores=scores if scores is not None else done.scores,
        )
    now = trio.current_time()
    timings = Timings(
        total=now - started, queued=queued, worker=done.seconds, finish=now - finish_start
    )
    return Converted(
        name=name,
        sha256=sha256,
        converter=done.converter,
        converter_name=info.name,
        converter_version=info.version,
        reports=tuple(outcome),
        detected=detected,
        attempts=attempts,
        timings=timings,
        scores=(scores if scores is not None else done.scores) if detected else None,
    )


def _too_large(reports: list[bytes], settings: PoolSettings) -> str | None:
    """Why the answer costs more than one file may (``None``: it does not)."""
    if len(reports) > settings.max_reports_per_file:
        return (
            f"the converter made {len(reports)} reports of the file; the limit is "
            f"{settings.max_reports_per_file} ([conversion] max_reports_per_file)"
        )
    limit = settings.max_values_per_report
    for index, raw in enumerate(reports):
        if len(raw) <= limit:  # the count below is at most the length
            continue
        values = raw.count(b",") + raw.count(b"{") + raw.count(b"[")
        if values > limit:
            label = f"report {index}" if len(reports) > 1 else "the report"
            return (
                f"{label} holds more than {limit} JSON values (about {values}); the limit is "
                "max_values_per_report"
            )
    return None


class _Invalid(msgspec.Struct, frozen=True):
    reason: str
    where: str | None
    detail: str | None


def identify_reports(
    reports: list[bytes], info: ConverterInfo, sha256: str, namespace: uuid.UUID
) -> list[ConvertedReport] | _Invalid:
    """Decode each report and give it its final id.

    The worker has already validated the reports (``_check``); decoding here is typed, so what
    comes back from the sandbox cannot be anything but a report. A converter that
    ``keeps_source_ids`` keeps a report's own (non-nil) GUID, and its bytes are passed on
    untouched; every other report gets ``report_id(namespace, converter name, sha256, index)``
    (written in place of the id the worker wrote when the bytes allow it, see the module's
    docstring, else by decoding and re-encoding the report).
    """
    out: list[ConvertedReport] = []
    for index, raw in enumerate(reports):
        label = f"report {index}" if len(reports) > 1 else "the report"
        if not info.keeps_source_ids:
            new_id = report_id(namespace, info.name, sha256, index)
            wsjf = _with_id(raw, new_id)
            if wsjf is not None:
                try:
                    report = decode_report(wsjf)
                except ReportDecodeError as exc:
                    # the same document as ``raw`` but for the id's text: as invalid as ``raw``
                    return _Invalid(f"{label} is not valid WSJF: {exc.message}", exc.path, None)
                if report.id == new_id:
                    out.append(ConvertedReport(new_id, index, wsjf))
                    continue
        try:
            report = decode_report(raw)
        except ReportDecodeError as exc:
            return _Invalid(f"{label} is not valid WSJF: {exc.message}", exc.path, None)
        keep = info.keeps_source_ids and report.id != NIL_UUID
        if not keep:
            report = msgspec.structs.replace(
                report, id=report_id(namespace, info.name, sha256, index)
            )
        wsjf = raw.removeprefix(b"\xef\xbb\xbf") if keep else encode_report(report)
        out.append(ConvertedReport(report.id, index, wsjf, kept_source_id=keep))
    return out


def _with_id(raw: bytes, new_id: uuid.UUID) -> bytes | None:
    """``raw`` with ``new_id`` in place of its id's text, when it begins as the worker's encoder
    writes a report (type, then id); ``None`` otherwise."""
    if (
        raw[_ID_END : _ID_END + 1] == b'"'
        and raw[:_ID_START] in _HEADS
        and _ID_TEXT.fullmatch(raw, _ID_START, _ID_END) is not None
    ):
        return b"".join((raw[:_ID_START], str(new_id).encode(), raw[_ID_END:]))
    return None
