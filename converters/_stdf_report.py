"""STDF parts as UUT reports: the lot's header (MIR, SDR, WIR) and one part's steps and PRR.

``_stdf`` reads the records and keeps the parts open; this module holds what a part and the
lot carry and builds a part's report when its PRR arrives.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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
from ._stdf_records import Fields

if TYPE_CHECKING:
    from ._stdf import StdfArguments

__all__ = ["Lot", "Part", "add_step", "build_report", "read_mir", "read_sdr"]

_NAME = 100
_NO_COORD = -32768


@dataclass
class _Sequence:
    """Consecutive steps whose ``TEST_TXT`` named the same sequence."""

    name: str
    steps: list[Step] = field(default_factory=list)


@dataclass
class Part:
    """A part between its PIR and PRR: its steps in order (top level or in sequences)."""

    offset: int
    items: list[Step | _Sequence] = field(default_factory=list)
    count: int = 0


@dataclass
class Lot:
    """File-level data: the MIR's fields, the SDR's, the current wafer per head."""

    mir: dict[str, str | int] = field(default_factory=dict)
    sdr: dict[str, str] = field(default_factory=dict)
    wafers: dict[int, tuple[str, int]] = field(default_factory=dict)
    misc: tuple[MiscInfo, ...] | None = None


def add_step(part: Part, sequence: str | None, step: Step) -> None:
    """Append ``step`` to ``part``: at the top level, or in ``sequence`` (a new one unless the
    part's last item is a sequence of that name)."""
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


def read_mir(f: Fields) -> dict[str, str | int]:
    """The MIR's non-empty fields by name (``SETUP_T``/``START_T`` as epoch seconds)."""
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


def read_sdr(f: Fields) -> dict[str, str]:
    """The SDR's non-empty handler, probe card and load board fields by name."""
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
    """UTC epoch seconds as an aware datetime in ``zone`` (None: the station's)."""
    moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return moment.astimezone(zone) if zone is not None else moment.astimezone()


def _lot_misc(lot: Lot, zone: zoneinfo.ZoneInfo | None) -> tuple[MiscInfo, ...]:
    """The misc infos every part of the lot shares (made once per MIR/SDR)."""
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


def build_report(
    part: Part,
    f: Fields,
    head: int,
    site: int,
    ordinal: int,
    lot: Lot,
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
