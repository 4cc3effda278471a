"""The STDF V4 converter (``stdf``): one UUT report per part, streamed as each part ends.

STDF (Standard Test Data Format) is the binary datalog of semiconductor testers; one file
holds a lot or a wafer. The file is read record by record (gzip too, see ``_stdf_records``):
the MIR and SDR give the header, a PIR opens a part on its (head, site), the test records of
that head and site become its steps (``_stdf_steps``), and its PRR closes it: the report is
built and yielded then, so only the parts in progress are held, whatever the file's size.
Multi-site testers interleave parts of several sites; each (head, site) has its own.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Literal

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
from ._junit_steps import cut
from ._sdk import API_VERSION, Converter, ConverterOutput
from ._stdf_records import GZIP_MAGIC, Fields, far_signature, records
from ._stdf_steps import TestSteps

__all__ = ["StdfArguments", "StdfConverter"]

_FAR, _MIR, _MRR, _SDR, _PMR = 0x000A, 0x010A, 0x0114, 0x0150, 0x013C
_WIR, _WRR, _PIR, _PRR = 0x020A, 0x0214, 0x050A, 0x0514
_PTR, _MPR, _FTR, _DTR = 0x0F0A, 0x0F0F, 0x0F14, 0x321E
_MAX_OPEN = 1024  # parts open at once (PIR without its PRR yet)
_MAX_HELD = 400_000  # test results held over all open parts
_NAME = 100
_NO_COORD = -32768


class StdfArguments(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How an STDF file maps to UUT reports (the file's own values come first).

    Attributes:
        part_number: the part number when the MIR has no ``PART_TYP``.
        revision: the revision when the MIR has no ``DSGN_REV``.
        process_code: the test operation code.
        station: the machine name when the MIR has no ``NODE_NAM``.
        location: the station's location.
        purpose: the station's purpose.
        operator: the operator when the MIR has no ``OPER_NAM``.
        sequence_name: the root sequence's name when the MIR has no ``JOB_NAM``.
        sequence_version: its version when the MIR has no ``JOB_REV``.
        timezone: the IANA time zone the start time is shown in (STDF times are UTC epoch
            seconds, so this changes only the offset shown); ``None``: the station's.
        serial_number: where a part's serial number comes from: ``auto`` (``PART_ID``, else
            wafer and X/Y, else lot and part count), ``part_id``, ``wafer_xy`` or ``lot``; a
            choice the file cannot give falls back along the ``auto`` order.
        scaling: ``base`` (values in base units, as STDF stores them) or ``display`` (scaled
            by ``RES_SCAL`` with an SI prefix on the unit, as the tester shows them).
        sequence_separator: when set (``": "``), a ``TEST_TXT`` of the form
            ``<sequence><separator><test>`` puts the step in a sequence of that name.
        max_steps: the most test results one part may have (steps, and each MPR result);
            more rejects the file (a report must stay under the node's
            ``max_values_per_report``).
        max_text: characters kept of a datalog (DTR) line.
    """

    part_number: str = "stdf"
    revision: str = "1"
    process_code: int = 10
    station: str = "stdf"
    location: str = "Unknown"
    purpose: str = "Production"
    operator: str | None = None
    sequence_name: str = "STDF"
    sequence_version: str | None = None
    timezone: str | None = None
    serial_number: Literal["auto", "part_id", "wafer_xy", "lot"] = "auto"
    scaling: Literal["base", "display"] = "base"
    sequence_separator: str | None = None
    max_steps: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 20_000
    max_text: Annotated[int, msgspec.Meta(ge=20, le=100_000)] = 2000

    def __post_init__(self) -> None:
        """Check the time zone exists.

        Raises:
            ValueError: ``timezone`` is not a known IANA zone.
        """
        if self.timezone is not None:
            _zone(self.timezone)


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timezone: unknown time zone {name!r}") from None


@dataclass
class _Sequence:
    name: str
    steps: list[Step] = field(default_factory=list)


@dataclass
class _Part:
    """A part between its PIR and PRR: its steps in order (top level or in sequences)."""

    offset: int
    items: list[Step | _Sequence] = field(default_factory=list)
    count: int = 0


@dataclass
class _Lot:
    """File-level data: the MIR's fields, the SDR's, the current wafer per head."""

    mir: dict[str, str | int] = field(default_factory=dict)
    sdr: dict[str, str] = field(default_factory=dict)
    wafers: dict[int, tuple[str, int]] = field(default_factory=dict)
    misc: tuple[MiscInfo, ...] | None = None


class StdfConverter(Converter[StdfArguments]):
    """STDF V4 datalogs (plain or gzip) mapped to one UUT report per part."""

    name: ClassVar[str] = "stdf"
    version: ClassVar[str] = "1.0"
    api_version: ClassVar[int] = API_VERSION
    patterns: ClassVar[tuple[str, ...]] = ("*.stdf", "*.std", "*.stdf.gz", "*.std.gz")
    Arguments: ClassVar[type[msgspec.Struct]] = StdfArguments

    def detect(self, head: bytes, name: str) -> float:
        """0.95 for a FAR record of STDF V4 at offset 0 (after un-gzipping the head), 0.6
        for a FAR of another version (rejected with a clear message), else 0."""
        if head.startswith(GZIP_MAGIC):
            head = _gunzip_head(head)
        signature = far_signature(head)
        if signature is None:
            return 0.0
        return 0.95 if signature[2] == 4 else 0.6

    def convert(self, data: bytes, name: str, args: StdfArguments) -> Sequence[ConverterOutput]:
        """One report per part, in the order the parts end: :meth:`convert_iter`'s, in a list.

        Raises:
            FileRejected: see :meth:`convert_iter`.
        """
        return list(self.convert_iter(data, name, args))

    def convert_iter(self, data: bytes, name: str, args: StdfArguments) -> Iterator[UUTReport]:
        """Each part's report, yielded when its PRR is read.

        Raises:
            FileRejected: not STDF V4, a damaged gzip stream, a record cut short, a PRR or a
                second PIR that does not fit the open parts, a part without its PRR at the
                end, too many results in a part, or no part at all; ``where`` names the
                record's byte offset (in the uncompressed data).
        """
        zone = _zone(args.timezone) if args.timezone is not None else None
        steps = TestSteps(display=args.scaling == "display", separator=args.sequence_separator)
        lot = _Lot()
        parts: dict[tuple[int, int], _Part] = {}
        pins: dict[int, str] = {}
        held = 0
        done = 0
        last: tuple[int, int] | None = None
        for typ, sub, offset, body, order in records(data):
            kind = typ << 8 | sub
            where = f"byte {offset}"
            if kind in (_PTR, _MPR, _FTR):
                if kind == _PTR:
                    head, site, sequence, step = steps.ptr(body, order, where)
                    count = 1
                elif kind == _MPR:
                    head, site, sequence, step, count = steps.mpr(Fields(body, order), where, pins)
                else:
                    head, site, sequence, step = steps.ftr(Fields(body, order), where)
                    count = 1
                part = parts.get((head, site))
                if part is None:
                    continue  # outside a part: it only set the test's defaults
                last = (head, site)
                part.count += count
                held += count
                if part.count > args.max_steps:
                    raise FileRejected(
                        f"the part on head {head} site {site} has more than "
                        f"{args.max_steps} test results (argument max_steps)",
                        where=where,
                    )
                if held > _MAX_HELD:
                    raise FileRejected(
                        f"more than {_MAX_HELD} test results in unfinished parts", where=where
                    )
                _add(part, sequence, step)
            elif kind == _PIR:
                f = Fields(body, order)
                head, site = f.u1() or 0, f.u1() or 0
                if (head, site) in parts:
                    raise FileRejected(
                        f"PIR for head {head} site {site}, whose part (PIR at byte "
                        f"{parts[head, site].offset}) has no PRR yet",
                        where=where,
                    )
                if len(parts) >= _MAX_OPEN:
                    raise FileRejected(f"more than {_MAX_OPEN} parts open at once", where=where)
                parts[head, site] = _Part(offset)
                last = (head, site)
            elif kind == _PRR:
                f = Fields(body, order)
                head, site = f.u1() or 0, f.u1() or 0
                part = parts.pop((head, site), None)
                if part is None:
                    raise FileRejected(
                        f"PRR for head {head} site {site} without its PIR", where=where
                    )
                held -= part.count
                done += 1
                yield _report(part, f, head, site, done, lot, name, args, zone, where)
            elif kind == _DTR and last is not None and last in parts:
                text = Fields(body, order).cn()
                if text:
                    step = Step(
                        id=0,
                        group="M",
                        step_type="Action",
                        name="Datalog",
                        status="D",
                        report_text=cut(text, args.max_text),
                    )
                    _add(parts[last], None, step)
            elif kind == _MIR:
                lot.mir = _mir(Fields(body, order))
                lot.misc = None
            elif kind == _SDR:
                lot.sdr = _sdr(Fields(body, order))
                lot.misc = None
            elif kind == _WIR:
                f = Fields(body, order)
                head = f.u1() or 0
                f.u1()
                start = f.u4() or 0
                lot.wafers[head] = (f.cn() or "", start)
            elif kind == _PMR:
                f = Fields(body, order)
                index = f.u2()
                f.u2()
                channel, physical, logical = f.cn(), f.cn(), f.cn()
                label = logical or channel or physical
                if index is not None and label:
                    pins[index] = cut(label, 60)
        if parts:
            (head, site), part = next(iter(parts.items()))
            raise FileRejected(
                f"the part on head {head} site {site} has no PRR (truncated file?)",
                where=f"byte {part.offset}",
            )
        if done == 0:
            raise FileRejected("no part (PIR/PRR) in the file", where="byte 0")


def _gunzip_head(head: bytes) -> bytes:
    """The first bytes of a gzip stream's content (as many as ``head`` yields, up to 64)."""
    import zlib

    try:
        return zlib.decompressobj(31).decompress(head, 64)
    except zlib.error:
        return b""


def _add(part: _Part, sequence: str | None, step: Step) -> None:
    if sequence is None:
        part.items.append(step)
        return
    items = part.items
    if items and isinstance(items[-1], _Sequence) and items[-1].name == sequence:
        items[-1].steps.append(step)
    else:
        items.append(_Sequence(sequence, [step]))


_MIR_FIELDS = (
    *("LOT_ID", "PART_TYP", "NODE_NAM", "TSTR_TYP", "JOB_NAM", "JOB_REV", "SBLOT_ID"),
    *("OPER_NAM", "EXEC_TYP", "EXEC_VER", "TEST_COD", "TST_TEMP", "USER_TXT", "AUX_FILE"),
    *("PKG_TYP", "FAMLY_ID", "DATE_COD", "FACIL_ID", "FLOOR_ID", "PROC_ID", "OPER_FRQ"),
    *("SPEC_NAM", "SPEC_VER", "FLOW_ID", "SETUP_ID", "DSGN_REV", "ENG_ID", "ROM_COD"),
    *("SERL_NUM", "SUPR_NAM"),
)


def _mir(f: Fields) -> dict[str, str | int]:
    found: dict[str, str | int] = {}
    setup, start = f.u4(), f.u4()
    f.u1()  # STAT_NUM
    mode = f.c1()
    f.c1()  # RTST_COD
    f.c1()  # PROT_COD
    f.u2()  # BURN_TIM
    f.c1()  # CMOD_COD
    for key in _MIR_FIELDS:
        text = f.cn()
        if text is None:
            break
        if text:
            found[key] = text
    if setup:
        found["SETUP_T"] = setup
    if start:
        found["START_T"] = start
    if mode:
        found["MODE_COD"] = mode
    return found


def _sdr(f: Fields) -> dict[str, str]:
    f.u1()
    f.u1()
    count = f.u1() or 0
    f.pos += count  # SITE_NUM array
    found: dict[str, str] = {}
    for key in ("HAND_TYP", "HAND_ID", "CARD_TYP", "CARD_ID", "LOAD_TYP", "LOAD_ID"):
        text = f.cn()
        if text is None:
            break
        if text:
            found[key] = text
    return found


def _when(epoch: int, zone: zoneinfo.ZoneInfo | None) -> dt.datetime:
    moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return moment.astimezone(zone) if zone is not None else moment.astimezone()


def _lot_misc(lot: _Lot, zone: zoneinfo.ZoneInfo | None) -> tuple[MiscInfo, ...]:
    if lot.misc is not None:
        return lot.misc
    mir, sdr = lot.mir, lot.sdr
    infos: list[MiscInfo] = []
    for key, label in (
        ("TSTR_TYP", "Tester type"),
        ("EXEC_TYP", "Exec type"),
        ("EXEC_VER", "Exec version"),
        ("TST_TEMP", "Test temperature"),
        ("FAMLY_ID", "Family"),
        ("FLOW_ID", "Flow"),
        ("MODE_COD", "Mode"),
        ("SBLOT_ID", "Sublot"),
        ("TEST_COD", "Test code"),
    ):
        value = mir.get(key)
        if value:
            infos.append(MiscInfo(description=label, text=cut(str(value), 100)))
    setup = mir.get("SETUP_T")
    if isinstance(setup, int):
        infos.append(MiscInfo(description="Setup time", text=format_timestamp(_when(setup, zone))))
    for typ, ident, label in (
        ("HAND_TYP", "HAND_ID", "Handler"),
        ("LOAD_TYP", "LOAD_ID", "Load board"),
    ):
        text = " ".join(v for v in (sdr.get(typ), sdr.get(ident)) if v)
        if text:
            infos.append(MiscInfo(description=label, text=cut(text, 100)))
    lot.misc = tuple(infos)
    return lot.misc


def _report(
    part: _Part,
    f: Fields,
    head: int,
    site: int,
    ordinal: int,
    lot: _Lot,
    name: str,
    args: StdfArguments,
    zone: zoneinfo.ZoneInfo | None,
    where: str,
) -> UUTReport:
    """The report of the part whose PRR ``f`` is, its HEAD_NUM and SITE_NUM read.

    Raises:
        FileRejected: the values make an invalid report.
    """
    flags = f.u1() or 0
    f.u2()  # NUM_TEST
    hard, soft = f.u2(), f.u2()
    x, y = f.i2(), f.i2()
    test_t = f.u4()
    part_id, part_txt = f.cn(), f.cn()
    if flags & 0x04:
        result = "T"
    elif flags & 0x10:
        result = "E"
    else:
        result = "F" if flags & 0x08 else "P"
    mir = lot.mir
    wafer, wafer_start = lot.wafers.get(head) or next(iter(lot.wafers.values()), ("", 0))
    has_xy = x is not None and y is not None and _NO_COORD not in (x, y)
    sn = _serial(args, str(mir.get("LOT_ID", "")), part_id, wafer, x, y, has_xy, ordinal, name)
    start_t = mir.get("START_T") or wafer_start or mir.get("SETUP_T")
    start = (
        _when(start_t, zone)
        if isinstance(start_t, int) and start_t
        else dt.datetime.now(zone).astimezone(zone)
    )
    infos = list(_lot_misc(lot, zone))
    if wafer:
        infos.append(MiscInfo(description="Wafer", text=cut(wafer, 100)))
    if has_xy:
        infos.append(MiscInfo(description="X", numeric=x))
        infos.append(MiscInfo(description="Y", numeric=y))
    if part_id:
        infos.append(MiscInfo(description="Part ID", text=cut(part_id, 100)))
    infos.append(MiscInfo(description="Head", numeric=head))
    if hard is not None and hard != 0xFFFF:
        infos.append(MiscInfo(description="Hard bin", numeric=hard))
    if soft is not None and soft != 0xFFFF:
        infos.append(MiscInfo(description="Soft bin", numeric=soft))
    failed: list[int] = []
    ids = iter(range(2, 1 << 31))
    children = [_numbered(item, ids, failed, result == "F") for item in part.items]
    job = str(mir.get("JOB_NAM") or args.sequence_name)
    root = Step(
        id=1,
        group="M",
        step_type="SequenceCall",
        name=cut(job, _NAME),
        status=result,
        seq_call=SequenceCallInfo(
            path=cut(job, _NAME),
            name=cut(job, _NAME),
            version=str(mir.get("JOB_REV") or args.sequence_version or "") or UNSET,
        ),
        steps=tuple(children),
    )
    card = lot.sdr.get("CARD_ID") or lot.sdr.get("LOAD_ID")
    report = UUTReport(
        id=uuid.uuid4(),  # the pool replaces it with the deterministic id
        pn=cut(str(mir.get("PART_TYP") or args.part_number), _NAME),
        sn=sn,
        rev=cut(str(mir.get("DSGN_REV") or args.revision), _NAME),
        process_code=args.process_code,
        result=result,
        machine_name=cut(str(mir.get("NODE_NAM") or args.station), _NAME),
        location=args.location,
        purpose=args.purpose,
        start=format_timestamp(start),
        start_utc=format_timestamp(start, utc=True),
        root=root,
        uut=UUTInfo(
            user=cut(str(mir.get("OPER_NAM") or args.operator or ""), _NAME) or UNSET,
            batch_sn=cut(str(mir.get("LOT_ID") or ""), _NAME) or UNSET,
            fixture_id=cut(card, _NAME) if card else UNSET,
            test_socket_index=site,
            exec_time=test_t / 1000 if test_t else UNSET,
            step_id_caused_uut_failure=failed[0] if failed else UNSET,
            comment=cut(part_txt, 500) if part_txt else UNSET,
        ),
        misc_infos=tuple(infos),
    )
    try:
        return validated(report)
    except ReportInvalid as exc:
        problem = exc.problems[0]
        raise FileRejected(
            f"part {sn} makes an invalid report: {problem.message} ({problem.path})",
            where=where,
        ) from None


def _numbered(item: Step | _Sequence, ids: Iterator[int], failed: list[int], mark: bool) -> Step:
    """``item`` with its id (and its steps', depth first); the first failed step is noted in
    ``failed`` and, when ``mark`` (the part failed), marked as the cause."""
    if isinstance(item, Step):
        step_id = next(ids)
        if item.status == "F" and mark and not failed:
            failed.append(step_id)
            return msgspec.structs.replace(item, id=step_id, caused_uut_failure=True)
        return msgspec.structs.replace(item, id=step_id)
    own = next(ids)
    steps = tuple(_numbered(step, ids, failed, mark) for step in item.steps)
    statuses = {step.status for step in steps}
    status = next((s for s in ("T", "E", "F") if s in statuses), "P")
    return Step(
        id=own,
        group="M",
        step_type="SequenceCall",
        name=item.name,
        status=status,
        seq_call=SequenceCallInfo(path=item.name, name=item.name),
        steps=steps,
    )


def _serial(
    args: StdfArguments,
    lot_id: str,
    part_id: str | None,
    wafer: str,
    x: int | None,
    y: int | None,
    has_xy: bool,
    ordinal: int,
    name: str,
) -> str:
    """The part's serial number from the chosen source, falling back in ``auto`` order."""
    choices = {
        "auto": ("part_id", "wafer_xy", "lot"),
        "part_id": ("part_id", "wafer_xy", "lot"),
        "wafer_xy": ("wafer_xy", "part_id", "lot"),
        "lot": ("lot",),
    }[args.serial_number]
    for choice in choices:
        if choice == "part_id" and part_id:
            return cut(part_id, _NAME)
        if choice == "wafer_xy" and has_xy and (wafer or lot_id):
            return cut(f"{wafer or lot_id}_X{x}_Y{y}", _NAME)
    stem = lot_id or name.rsplit("/", 1)[-1].split(".", 1)[0] or "stdf"
    return cut(f"{stem}_{ordinal}", _NAME)
