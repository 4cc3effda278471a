"""Shared by the WSXF tests: what WSXF does not carry, the report as WSXF sees it, and a tree diff
that lists every difference (not just the first)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from pywats_actors.report import (
    BooleanMeasurement,
    CallExecutableInfo,
    Chart,
    ChartSeries,
    LoopInfo,
    MessagePopupInfo,
    MiscInfo,
    NumericMeasurement,
    Report,
    SequenceCallInfo,
    Step,
    StringMeasurement,
    SubUnit,
    UUTInfo,
    UUTReport,
    parse_timestamp,
)

WSXF_SAMPLE = "uut-wsxf-export.xml"
WSJF_TWIN = "uut-wsjf-export.json"
UUT_SAMPLES = ("uut-wsjf-export.json", "new_report_example.json")

# Every model field of a test report that the WSXF mapping (protocol notes section 4) has no place
# for, by class. ``unknown_fields`` is never carried either. docs/reports.md lists the same.
NOT_CARRIED: dict[type[msgspec.Struct], frozenset[str]] = {
    UUTReport: frozenset(
        {"process_code_format", "assets", "asset_stats", "binary_data", "additional_data"}
    ),
    UUTInfo: frozenset(
        {
            "exec_time_format",
            "test_socket_index_format",
            "batch_fail_count_format",
            "batch_loop_index",
            "batch_loop_index_format",
            "error_code_format",
            "ref_uurs",
        }
    ),
    MiscInfo: frozenset({"numeric_format", "id"}),
    SubUnit: frozenset({"idx", "parent_idx", "replaced_idx", "failures"}),
    Step: frozenset(
        {
            "start",
            "tot_time_format",
            "error_code_format",
            "ts_guid",
            "caused_seq_failure",
            "interactive_exe_num",
            "interactive_exe_num_format",
            "attachment",
            "additional_results",
        }
    ),
    LoopInfo: frozenset(),
    SequenceCallInfo: frozenset(),
    NumericMeasurement: frozenset({"value_format", "low_limit_format", "high_limit_format"}),
    StringMeasurement: frozenset(),
    BooleanMeasurement: frozenset(),
    Chart: frozenset(),
    ChartSeries: frozenset(),
    MessagePopupInfo: frozenset({"button_format"}),
    CallExecutableInfo: frozenset({"exit_code_format"}),
}


def wsxf_view(report: Report) -> Report:
    """``report`` as it comes back from WSXF: the fields of :data:`NOT_CARRIED` and unknown keys
    dropped, ``null`` and empty lists absent (XML has neither), a misc info's empty text absent
    (it is the element's text), and ``startUTC`` computed from ``start`` when absent."""
    seen = _view(report)
    assert isinstance(seen, UUTReport)
    if isinstance(seen.start_utc, UnsetType):
        seen = msgspec.structs.replace(seen, start_utc=_utc_of(seen.start))
    return seen


def _view(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_view(item) for item in value) or UNSET
    if not isinstance(value, msgspec.Struct):
        return UNSET if value is None else value
    dropped = NOT_CARRIED[type(value)]
    changes: dict[str, Any] = {"unknown_fields": {}}
    for field in msgspec.structs.fields(value):
        if field.name in dropped:
            changes[field.name] = UNSET
        elif field.name != "unknown_fields":
            changes[field.name] = _view(getattr(value, field.name))
    if isinstance(value, MiscInfo) and changes["text"] == "":
        changes["text"] = UNSET
    return msgspec.structs.replace(value, **changes)


def _utc_of(start: str) -> str:
    moment = parse_timestamp(start).astimezone(dt.UTC).replace(tzinfo=None)
    fraction = re.search(r"\.[0-9]+", start)
    return moment.isoformat(timespec="seconds") + (fraction.group() if fraction else "") + "Z"


ABSENT = "<absent>"


def tree(report: Report) -> Any:
    """The report as a JSON tree (what ``encode_report`` would write, parsed back)."""
    return msgspec.json.decode(msgspec.json.encode(report))


def differences(expected: Any, actual: Any, path: str = "$") -> Iterator[tuple[str, Any, Any]]:
    """Every leaf where two JSON trees differ, as ``(path, expected, actual)``; an absent key is
    :data:`ABSENT`. Lists of different lengths are one difference."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(expected.keys() | actual.keys()):
            yield from differences(
                expected.get(key, ABSENT), actual.get(key, ABSENT), f"{path}.{key}"
            )
    elif isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for index, (left, right) in enumerate(zip(expected, actual, strict=True)):
            yield from differences(left, right, f"{path}[{index}]")
    elif type(expected) is not type(actual) or expected != actual:
        yield path, expected, actual


def general(path: str) -> str:
    """``path`` with indexes and step nesting folded: ``$.root.steps[*].numericMeas[*].unit``."""
    path = re.sub(r"\[\d+\]", "[*]", path)
    return re.sub(r"(\.steps\[\*\])+", ".steps[*]", path)


def strings(value: Any) -> Iterator[str]:
    """Every string in a report's JSON tree, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
