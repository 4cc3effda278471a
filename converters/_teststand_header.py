"""The header of a TestStand report: its start time, and the UUT's misc infos, sub-units and
additional data.

TestStand writes local times without an offset (``StartDate``/``StartTime``), read in the
``timezone`` argument's zone or the station's; the AddOn's ``ReportInfo Start`` and
``EngineStarted`` carry their offsets. ``MiscUUTResult`` holds the WATS misc infos
(``Misc_UUT_Info``) and sub-units (``UUT_Part_Info``).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from pywats_actors.report import ReportBuilder

from ._junit_xml import Node
from ._teststand_props import additional_data, cut, element_props, number, prop, props, text

__all__ = ["add_uut_extras", "engine_start_of", "start_of", "zone_of"]

_MISC_LIMIT = 100
_INT32 = 2**31 - 1


def zone_of(name: str | None) -> dt.tzinfo | None:
    """The time zone named by the ``timezone`` argument (None: the station's local zone; the
    name was checked with the arguments)."""
    return None if name is None else zoneinfo.ZoneInfo(name)


def add_uut_extras(builder: ReportBuilder, uut: Node, station: Node | None) -> None:
    """``MiscUUTResult``: ``Misc_UUT_Info`` as misc infos, ``UUT_Part_Info`` as sub-units; the
    UUT's and the station's ``AdditionalData`` as additional data."""
    misc = prop(uut, "MiscUUTResult")
    for element in element_props(prop(misc, "Misc_UUT_Info")):
        description = text(element, "Description")
        value = text(element, "Data_String")
        numeric = number(element, "Data_Numeric")
        whole = int(numeric) if numeric is not None and abs(numeric) < _INT32 else None
        if description and (value or whole is not None):
            builder.add_misc_info(
                cut(description, _MISC_LIMIT),
                text=cut(value, _MISC_LIMIT) if value else None,
                numeric=whole,
            )
    for element in element_props(prop(misc, "UUT_Part_Info")):
        part_pn = text(element, "Part_Number")
        part_sn = text(element, "Part_Serial_Number")
        if part_pn and part_sn:
            builder.add_sub_unit(
                part_type=cut(text(element, "Part_Type") or "Unknown", 50),
                pn=cut(part_pn),
                sn=cut(part_sn),
                rev=cut(text(element, "Part_Revision_Number") or "") or None,
            )
    for holder in (uut, station):
        for member in props(prop(holder, "AdditionalData")):
            builder.add_additional_data(additional_data(member))


def start_of(report: Node, info: dict[str, str], zone: dt.tzinfo | None) -> dt.datetime | None:
    """The start: ReportInfo ``Start`` (its own offset, else ``zone``), else the local
    StartDate/StartTime in ``zone`` (the station's when None)."""
    given = _iso(info.get("Start"))
    if given is not None:
        return _aware(given, zone)
    date = prop(report, "StartDate")
    time = prop(report, "StartTime")
    year = number(date, "Year")
    if year is None:
        found = re.search(r"\b\d{4}\b", text(date, "Text") or text(date, "ShortText") or "")
        year = float(found.group()) if found else None
    parts = [
        year,
        number(date, "Month"),
        number(date, "MonthDay"),
        number(time, "Hours"),
        number(time, "Minutes"),
        number(time, "Seconds"),
    ]
    if any(p is None for p in parts):
        return None
    y, mo, d, h, mi, s = (int(p or 0) for p in parts)
    ms = int(number(time, "Milliseconds") or 0)
    try:
        return _aware(dt.datetime(y, mo, d, h, mi, s, ms * 1000), zone)
    except (ValueError, OverflowError):
        return None


def engine_start_of(info: dict[str, str]) -> dt.datetime | None:
    """When the TestStand engine started (the AddOn's ``ReportInfo EngineStarted``, in UTC), in
    the offset of its ``Start``; None when it is not there or not an ISO time with an offset."""
    moment = _iso(info.get("EngineStarted"))
    if moment is None or moment.tzinfo is None:
        return None
    start = _iso(info.get("Start"))
    return moment if start is None or start.tzinfo is None else moment.astimezone(start.tzinfo)


def _iso(raw: str | None) -> dt.datetime | None:
    """An ISO 8601 time as TestStand writes it (seven decimals, ``Z``), or None."""
    if not raw:
        return None
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", raw.strip().replace("Z", "+00:00"))
    try:
        return dt.datetime.fromisoformat(trimmed)
    except ValueError:
        return None


def _aware(moment: dt.datetime, zone: dt.tzinfo | None) -> dt.datetime:
    """``moment`` with its own offset, else in ``zone``, else in the station's local zone."""
    if moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=zone) if zone is not None else moment.astimezone()
