"""What a converter gives back, checked and sent: the worker's side of one job's answer.

A job's reports are encoded as WSJF, checked next to the converter (``check_report``) and sent
ahead of the answer in ``Part`` frames (:class:`Sender`), so the worker never holds every report
of a large file; then :func:`answer` sends ``Done``, or ``Refused`` with what went wrong: the
converter raised (``rejected``, with its reason and location), ran out of memory, returned
something that is not a report (``invalid_output``), or, for a file, found no report. A
conversion and a scheduled converter's poll answer the same way.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import msgspec

from pywats_actors.report import UURReport, UUTReport, encode_report

from ._check import check_report, noting_validated
from ._errors import FileRejected
from ._folder import is_folder_converter, is_unit, unpack_unit
from ._protocol import Done, Part, Poll, Refused, Request, write_frame_sync
from ._sandbox import cpu_used

__all__ = [
    "BadOutput",
    "Sender",
    "answer",
    "outputs",
    "reap_children",
    "refused",
    "stream",
]

DETAIL_LIMIT = 8192  # characters of a traceback kept in a refusal
PART_BYTES = 1 << 20  # reports are sent ahead of the answer in parts of about this size


def answer(
    request: Request | Poll,
    started: float,
    converter: str,
    produce: Callable[[], Iterator[object]],
    out: int,
    *,
    scores: dict[str, float] | None = None,
    empty_ok: bool = False,
    extra: Callable[[], dict[str, Any]] = dict,
) -> Done | Refused:
    """Stream what ``produce()`` yields as the answer to ``request``: ``Done`` (with
    ``extra()``'s fields) or ``Refused`` saying why. ``empty_ok``: no report is an answer too
    (a poll that found nothing new), not ``no_reports``."""
    sender = Sender(out, request.job)
    common: dict[str, Any] = {"converter": converter, "scores": scores}
    try:
        with noting_validated() as noted:
            invalid = stream(produce(), noted, sender)
    except MemoryError:
        return refused(
            request,
            started,
            kind="out_of_memory",
            reason="the converter ran out of memory (address-space limit)",
            **common,
        )
    except BadOutput as exc:
        return refused(request, started, kind="invalid_output", reason=str(exc), **common)
    except Exception as exc:
        reason, where = describe(exc)
        detail = "".join(traceback.format_exception(exc))[-DETAIL_LIMIT:]
        return refused(
            request,
            started,
            kind="rejected",
            reason=reason,
            where=where,
            detail=detail,
            **common,
        )
    if invalid is not None:
        return refused(
            request,
            started,
            kind="invalid_output",
            reason=invalid[0],
            where=invalid[1],
            detail=invalid[2],
            **common,
        )
    if not sender.count and not empty_ok:
        return refused(
            request,
            started,
            kind="no_reports",
            reason="the converter found no report in the file",
            **common,
        )
    return Done(
        job=request.job,
        reports=sender.pending,
        seconds=time.perf_counter() - started,
        cpu_total=cpu_used(),
        children_left=reap_children(),
        **common,
        **extra(),
    )


class Sender:
    """Sends a conversion's reports ahead of its answer, in ``Part`` frames of about
    ``PART_BYTES``; what is left over goes in ``Done``. A file with one small report costs no
    frame more than before, and the worker never holds every report of a large file."""

    def __init__(self, fd: int, job: int) -> None:
        self._fd = fd
        self._job = job
        self._size = 0
        self.pending: list[bytes] = []
        self.count = 0

    def add(self, raw: bytes) -> None:
        self.pending.append(raw)
        self.count += 1
        self._size += len(raw)
        if self._size >= PART_BYTES:
            write_frame_sync(self._fd, Part(job=self._job, reports=self.pending))
            self.pending = []
            self._size = 0


def outputs(instance: Any, request: Request, args: Any) -> Iterator[object]:
    """The converter's reports, one at a time: from ``convert_iter()`` when it has one (made
    as they are read), else from the list ``convert()`` returns.

    Raises:
        BadOutput: it returned something else than a list (an iterator for ``convert_iter``).
    """
    if is_folder_converter(instance):
        files = unpack_unit(request.data, repr(getattr(instance, "name", "this converter")))
        outputs = instance.convert_folder(files, request.name, args)
        if isinstance(outputs, bytes | str | Mapping) or not isinstance(outputs, Sequence):
            kind = type(outputs).__name__
            raise BadOutput(f"convert_folder() must return a list of reports, not {kind}")
        return iter(outputs)
    if is_unit(request.data):
        raise FileRejected(
            f"{getattr(instance, 'name', 'this converter')!r} converts single files, not a "
            'folder unit; watch the folder with unit = "file" or use a folder converter'
        )
    stream = getattr(instance, "convert_iter", None)
    if callable(stream):
        outputs = stream(request.data, request.name, args)
        if isinstance(outputs, bytes | str | Mapping) or not isinstance(outputs, Iterable):
            kind = type(outputs).__name__
            raise BadOutput(f"convert_iter() must return an iterator of reports, not {kind}")
        return iter(outputs)
    outputs = instance.convert(request.data, request.name, args)
    if isinstance(outputs, bytes | str | Mapping) or not isinstance(outputs, Sequence):
        raise BadOutput(f"convert() must return a list of reports, not {type(outputs).__name__}")
    return iter(outputs)


_END = object()


def stream(
    outputs: Iterator[object], noted: list[object], sender: Sender
) -> tuple[str, str | None, str | None] | None:
    """Encode, check and send every report of ``outputs`` as it comes; the first problem with
    a report (``(reason, where, detail)``) ends it. Reports the converter validated itself
    (objects in ``noted``, see :func:`noting_validated`) are not checked again.

    Raises:
        BadOutput: an output that is not a report.
    """
    prechecked: dict[int, object] = {}  # holds them, so their identities stay theirs
    index = 0
    item = next(outputs, _END)
    while item is not _END:
        following = next(outputs, _END)  # one ahead: "the report" or "report 0"
        for output in noted:
            prechecked[id(output)] = output
        noted.clear()
        raw = encode_output(item, index)
        if prechecked.pop(id(item), None) is not item:
            several = index > 0 or following is not _END
            problem = check_report(raw, f"report {index}" if several else "the report")
            if problem is not None:
                return problem
        sender.add(raw)
        index += 1
        item = following
    return None


def refused(request: Request | Poll, started: float, **fields: Any) -> Refused:
    return Refused(
        job=request.job,
        seconds=time.perf_counter() - started,
        cpu_total=cpu_used(),
        children_left=reap_children(),
        **fields,
    )


class BadOutput(Exception):
    """The converter returned something that is not a list of reports."""


def encode_output(item: object, index: int) -> bytes:
    """One report as WSJF bytes.

    Raises:
        BadOutput: ``item`` is not a report, bytes or a mapping that encodes as JSON.
    """
    if isinstance(item, UUTReport | UURReport):
        return encode_report(item)
    if isinstance(item, bytes | bytearray | memoryview):
        return bytes(item)
    if isinstance(item, Mapping):
        try:
            return msgspec.json.encode(item)
        except (TypeError, msgspec.EncodeError) as exc:
            raise BadOutput(f"report {index} cannot be encoded as JSON: {exc}") from None
    raise BadOutput(
        f"report {index} is a {type(item).__name__}; expected a report, bytes or a dict"
    )


def describe(exc: Exception) -> tuple[str, str | None]:
    """The reason and location to report; a plain exception's location is in its traceback."""
    if isinstance(exc, FileRejected):
        return exc.reason, exc.where
    return f"{type(exc).__name__}: {exc}", None


def reap_children() -> bool:
    """Reap finished children; True if some are still running (the converter left them)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True
