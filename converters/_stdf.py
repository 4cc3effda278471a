"""The STDF V4 converter (``stdf``): one UUT report per part, streamed as each part ends.

STDF (Standard Test Data Format) is the binary datalog of semiconductor testers; one file
holds a lot or a wafer. The file is read record by record (gzip too, see ``_stdf_records``):
the MIR and SDR give the header, a PIR opens a part on its (head, site), the test records of
that head and site become its steps (``_stdf_steps``), and its PRR closes it: the report is
built and yielded then, so only the parts in progress are held, whatever the file's size.
Multi-site testers interleave parts of several sites; each (head, site) has its own.
"""

from __future__ import annotations

import zlib
import zoneinfo
from collections.abc import Iterator, Sequence
from typing import Annotated, ClassVar, Literal

import msgspec

from pywats_actors.report import Step, UUTReport

from ._errors import FileRejected
from ._junit_steps import cut
from ._sdk import API_VERSION, Converter, ConverterOutput
from ._stdf_records import GZIP_MAGIC, Fields, far_signature, records
from ._stdf_report import Lot, Part, add_step, build_report, read_mir, read_sdr
from ._stdf_steps import TestSteps
from ._timezone import check_timezone

__all__ = ["StdfArguments", "StdfConverter"]

# REC_TYP << 8 | REC_SUB of the records read; every other record is skipped by its length.
_MIR, _SDR, _PMR, _WIR = 0x010A, 0x0150, 0x013C, 0x020A
_PIR, _PRR, _PTR, _MPR, _FTR, _DTR = 0x050A, 0x0514, 0x0F0A, 0x0F0F, 0x0F14, 0x321E
_MAX_OPEN = 1024  # parts open at once (PIR without its PRR yet)
_MAX_HELD = 400_000  # test results held over all open parts


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
        check_timezone(self.timezone)


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
        zone = zoneinfo.ZoneInfo(args.timezone) if args.timezone is not None else None
        steps = TestSteps(display=args.scaling == "display", separator=args.sequence_separator)
        lot = Lot()
        parts: dict[tuple[int, int], Part] = {}
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
                held = _hold(part, count, held, args.max_steps, last, where)
                add_step(part, sequence, step)
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
                parts[head, site] = Part(offset)
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
                yield build_report(part, f, head, site, done, lot, name, args, zone, where)
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
                    held = _hold(parts[last], 1, held, args.max_steps, last, where)
                    add_step(parts[last], None, step)
            elif kind == _MIR:
                lot.mir = read_mir(Fields(body, order))
                lot.misc = None
            elif kind == _SDR:
                lot.sdr = read_sdr(Fields(body, order))
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


def _hold(
    part: Part, count: int, held: int, most: int, where_part: tuple[int, int], where: str
) -> int:
    """Count ``count`` more results in ``part``; returns the new total held in open parts.

    Raises:
        FileRejected: the part has more than ``most`` results, or the open parts together
            more than ``_MAX_HELD``.
    """
    part.count += count
    if part.count > most:
        head, site = where_part
        raise FileRejected(
            f"the part on head {head} site {site} has more than {most} test results "
            "(argument max_steps)",
            where=where,
        )
    held += count
    if held > _MAX_HELD:
        raise FileRejected(f"more than {_MAX_HELD} test results in unfinished parts", where=where)
    return held


def _gunzip_head(head: bytes) -> bytes:
    """The first bytes of a gzip stream's content (as many as ``head`` yields, up to 64)."""
    try:
        return zlib.decompressobj(31).decompress(head, 64)
    except zlib.error:
        return b""
