"""OpenHTF JSON test records (``json_factory.OutputToJSON``) to UUT reports.

The mapping is :func:`openhtf_report`, a function of the decoded record (a mapping, or any
msgspec Struct) so an OpenHTF output callback can reuse it without writing a file; the
converter only decodes the JSON (with msgspec) and calls it. Validator strings are parsed by
:mod:`._openhtf_limits`. Small attachments ride on steps; log records are left out.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar

import msgspec
from msgspec import UNSET

from pywats_actors.report import (
    MiscInfo,
    ReportInvalid,
    SequenceCallInfo,
    Step,
    UUTInfo,
    UUTReport,
    format_timestamp,
)

from ._check import validated
from ._errors import FileRejected
from ._openhtf_limits import Path, attachment_step, measurement_step
from ._sdk import API_VERSION, Converter, ConverterOutput

__all__ = ["OpenHtfArguments", "OpenHtfConverter", "openhtf_report"]

_RESULTS = {"PASS": "P", "FAIL": "F", "ERROR": "E", "TIMEOUT": "T", "ABORTED": "T"}
_PHASE_STATUS = {"PASS": "P", "FAIL": "F", "SKIP": "S", "ERROR": "E"}
_BOM = b"\xef\xbb\xbf"
_MISC_LIMIT = 100
_KEY_RE = re.compile(rb'"(dut_id|start_time_millis|end_time_millis|phases|station_id)"\s*:')


class OpenHtfArguments(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Header values an OpenHTF record does not carry, or may lack.

    Attributes:
        part_number: ``pn`` when the record's ``metadata`` has no ``part_number``.
        revision: ``rev`` when the metadata has no ``revision``.
        process_code: ``processCode`` (OpenHTF has no notion of it; WATS's default test is 10).
        machine_name: ``machineName`` when the record has no ``station_id``.
        location: ``location``.
        purpose: ``purpose``.
        trigger_as_setup: put OpenHTF's built-in ``trigger_phase`` in the setup group.
        attachment_limit: attachments of at most this many bytes (decoded) are kept, each as
            a step of its phase; larger ones are named in a step without their data. 0 keeps
            none.
    """

    part_number: str | None = None
    revision: str = ""
    process_code: int = 10
    machine_name: str | None = None
    location: str = "Unknown"
    purpose: str = "Production"
    trigger_as_setup: bool = True
    attachment_limit: Annotated[int, msgspec.Meta(ge=0)] = 65536


class OpenHtfConverter(Converter[OpenHtfArguments]):
    """OpenHTF JSON test record: one UUT report per file."""

    name: ClassVar[str] = "openhtf"
    version: ClassVar[str] = "1.0"
    api_version: ClassVar[int] = API_VERSION
    patterns: ClassVar[tuple[str, ...]] = ("*.json",)
    Arguments: ClassVar[type[msgspec.Struct]] = OpenHtfArguments

    def detect(self, head: bytes, name: str) -> float:
        """0.95 for a JSON object with ``dut_id``, ``start_time_millis`` and one more record
        key (``end_time_millis``, ``phases``, ``station_id``), 0.3 for two of them, else 0."""
        if not head.removeprefix(_BOM).lstrip().startswith(b"{"):
            return 0.0
        keys = {match.group(1) for match in _KEY_RE.finditer(head)}
        if {b"dut_id", b"start_time_millis"} <= keys and len(keys) >= 3:
            return 0.95
        return 0.3 if len(keys) >= 2 else 0.0

    def convert(self, data: bytes, name: str, args: OpenHtfArguments) -> Sequence[ConverterOutput]:
        """Decode the record and map it with :func:`openhtf_report`.

        Raises:
            FileRejected: not JSON, not an OpenHTF record, or a field of the wrong type;
                ``where`` is the JSON path.
        """
        try:
            record = msgspec.json.decode(data.removeprefix(_BOM))
        except msgspec.DecodeError as exc:
            raise FileRejected(f"not valid JSON: {exc}", where="$") from None
        return [openhtf_report(record, args)]


def openhtf_report(record: Any, args: OpenHtfArguments | None = None) -> UUTReport:
    """Map one OpenHTF test record to a UUT report (validated).

    Args:
        record: the record as decoded JSON (a mapping), or a msgspec Struct of the same shape.
        args: header defaults (:class:`OpenHtfArguments`); ``None`` for the defaults.

    Returns:
        The report, with a random id (the converter pool replaces it with its own).

    Raises:
        FileRejected: the record lacks a required field, has one of the wrong type, or makes
            an invalid report; ``where`` is the JSON path.
    """
    args = OpenHtfArguments() if args is None else args
    if isinstance(record, msgspec.Struct):
        record = msgspec.to_builtins(record)
    top = Path("$")
    if not isinstance(record, Mapping):
        raise FileRejected("an OpenHTF test record is a JSON object", where="$")
    for key in ("dut_id", "start_time_millis", "outcome", "phases"):
        if key not in record:
            raise FileRejected(f"not an OpenHTF test record: no {key!r}", where="$")
    sn = top.need(record, "dut_id")
    metadata = top.mapping(record, "metadata")
    meta = top.key("metadata")
    pn = meta.text(metadata, "part_number") or args.part_number
    if not pn:
        raise FileRejected(
            "no part number: the record's metadata has no part_number; set the argument "
            "part_number",
            where="$.metadata",
        )
    station = top.text(record, "station_id") or args.machine_name
    if not station:
        raise FileRejected(
            "no station: the record has no station_id; set the argument machine_name", where="$"
        )
    outcome = top.need(record, "outcome")
    if outcome not in _RESULTS:
        raise FileRejected(
            f"unknown test outcome {outcome!r} (expected one of {', '.join(_RESULTS)})",
            where="$.outcome",
        )
    start_ms = top.millis(record, "start_time_millis", required=True)
    end_ms = top.millis(record, "end_time_millis")
    start = _moment(start_ms)
    phases = top.sequence(record, "phases")
    failed: list[int] = []
    ids = iter(range(2, 1 << 30))
    children = [
        _phase(phase, top.key("phases").index(i), ids, failed, args)
        for i, phase in enumerate(phases)
    ]
    result = _RESULTS[outcome]
    test_name = meta.text(metadata, "test_name") or "OpenHTF test"
    root = Step(
        id=1,
        group="M",
        step_type="SequenceCall",
        name=test_name,
        status=result,
        start=format_timestamp(start),
        tot_time=UNSET if end_ms is None else max(0.0, (end_ms - start_ms) / 1000),
        seq_call=SequenceCallInfo(
            path=test_name, name=test_name, version=meta.text(metadata, "test_version") or UNSET
        ),
        steps=tuple(children),
    )
    report = UUTReport(
        id=uuid.uuid4(),  # the pool replaces it with the deterministic id
        pn=pn,
        sn=sn,
        rev=meta.text(metadata, "revision") or args.revision,
        process_code=args.process_code,
        result=result,
        machine_name=station,
        location=args.location,
        purpose=args.purpose,
        start=format_timestamp(start),
        start_utc=format_timestamp(start, utc=True),
        root=root,
        uut=UUTInfo(
            exec_time=UNSET if end_ms is None else max(0.0, (end_ms - start_ms) / 1000),
            step_id_caused_uut_failure=failed[0] if failed else UNSET,
            comment=_details(record, top) or UNSET,
        ),
        misc_infos=_misc(record, metadata, meta, outcome) or UNSET,
    )
    try:
        validated(report)
    except ReportInvalid as exc:
        problem = exc.problems[0]
        raise FileRejected(
            f"the record makes an invalid report: {problem.message} ({problem.path})", where="$"
        ) from None
    return report


def _moment(millis: float, where: str = "$.start_time_millis") -> dt.datetime:
    """An epoch time in milliseconds as a local, aware datetime.

    Raises:
        FileRejected: the time is out of range.
    """
    try:
        return dt.datetime.fromtimestamp(millis / 1000, dt.UTC).astimezone()
    except (OverflowError, OSError, ValueError):
        raise FileRejected(f"time {millis} ms is out of range", where=where) from None


def _phase(phase: Any, path: Path, ids: Any, failed: list[int], args: OpenHtfArguments) -> Step:
    """One phase as a sequence call of its measurements (in the record's order)."""
    if not isinstance(phase, Mapping):
        raise FileRejected("a phase is a JSON object", where=str(path))
    name = path.need(phase, "name")
    outcome = path.need(phase, "outcome")
    status = _PHASE_STATUS.get(outcome)
    if status is None:
        raise FileRejected(
            f"unknown phase outcome {outcome!r} (expected one of {', '.join(_PHASE_STATUS)})",
            where=f"{path}.outcome",
        )
    own_id = next(ids)
    start_ms = path.millis(phase, "start_time_millis")
    end_ms = path.millis(phase, "end_time_millis")
    measurements = path.mapping(phase, "measurements")
    steps: list[Step] = []
    for key, measurement in measurements.items():
        step = measurement_step(measurement, path.key("measurements").key(key))
        step_id = next(ids)
        caused = step.status == "F" and not failed
        if caused:
            failed.append(step_id)
        steps.append(msgspec.structs.replace(step, id=step_id, caused_uut_failure=caused or UNSET))
    attachments = path.mapping(phase, "attachments")
    for key, attachment in attachments.items():
        steps.append(
            msgspec.structs.replace(
                attachment_step(
                    key, attachment, path.key("attachments").key(key), args.attachment_limit
                ),
                id=next(ids),
            )
        )
    if status in ("F", "E") and not measurements and not failed:
        failed.append(own_id)
    setup = args.trigger_as_setup and name == "trigger_phase"
    return Step(
        id=own_id,
        group="S" if setup else "M",
        step_type="SequenceCall",
        name=name,
        status=status,
        start=UNSET
        if start_ms is None
        else format_timestamp(_moment(start_ms, f"{path}.start_time_millis")),
        tot_time=UNSET
        if start_ms is None or end_ms is None
        else max(0.0, (end_ms - start_ms) / 1000),
        seq_call=SequenceCallInfo(path=name, name=name),
        steps=tuple(steps),
    )


def _details(record: Mapping[str, Any], top: Path) -> str:
    """``outcome_details`` as ``CODE: description`` lines (why a test errored or failed)."""
    lines = []
    for i, detail in enumerate(top.sequence(record, "outcome_details")):
        where = top.key("outcome_details").index(i)
        if not isinstance(detail, Mapping):
            raise FileRejected("an outcome detail is a JSON object", where=str(where))
        code = detail.get("code")
        text = detail.get("description")
        lines.append(": ".join(str(part) for part in (code, text) if part not in (None, "")))
    return "\n".join(line for line in lines if line)


def _misc(
    record: Mapping[str, Any], metadata: Mapping[str, Any], meta: Path, outcome: str
) -> tuple[MiscInfo, ...]:
    infos = [MiscInfo(description="openhtf_outcome", text=outcome)]
    for key in ("test_version", "test_description"):
        text = meta.text(metadata, key)
        if text:
            infos.append(MiscInfo(description=key, text=text[:_MISC_LIMIT]))
    if record.get("marginal") is True:
        infos.append(MiscInfo(description="marginal", text="True"))
    return tuple(infos)
