"""Shared test data for the report tests: the sample names, a known-good minimal report, and an
honest JSON tree comparison."""

from __future__ import annotations

import math
from typing import Any

WSJF_SAMPLES = ("uut-wsjf-export.json", "new_report_example.json", "uur_example.json")

# The minimal complete UUT of docs/spec "wats-protocol" section 2.14, validated by pywats-api.
MINIMAL_UUT: dict[str, Any] = {
    "type": "T",
    "id": "5f0c6a2e-8d1b-4c7a-9e3f-2b6d4a1c9e70",
    "pn": "DEMO-BOARD-01",
    "sn": "SN000123",
    "rev": "B",
    "processCode": 10,
    "processName": "SW Debug",
    "result": "P",
    "machineName": "STATION-07",
    "location": "Line 2",
    "purpose": "Production",
    "start": "2026-03-02T14:05:00.000+01:00",
    "startUTC": "2026-03-02T13:05:00.000Z",
    "uut": {"user": "operator1", "execTime": 3.25},
    "miscInfos": [{"description": "FirmwareVersion", "text": "2.4.1"}],
    "root": {
        "id": 1,
        "group": "M",
        "stepType": "SequenceCall",
        "name": "MainSequence Callback",
        "status": "P",
        "totTime": 3.25,
        "seqCall": {"path": "station_agent", "name": "MainSequence Callback", "version": "1.0.0"},
        "steps": [
            {
                "id": 2,
                "group": "M",
                "stepType": "ET_NLT",
                "name": "Supply voltage",
                "status": "P",
                "totTime": 0.5,
                "numericMeas": [
                    {
                        "compOp": "GELE",
                        "status": "P",
                        "unit": "V",
                        "value": 5.02,
                        "lowLimit": 4.75,
                        "highLimit": 5.25,
                    }
                ],
            },
            {
                "id": 3,
                "group": "M",
                "stepType": "ET_PFT",
                "name": "LED check",
                "status": "P",
                "totTime": 0.25,
                "booleanMeas": [{"status": "P"}],
            },
            {
                "id": 4,
                "group": "M",
                "stepType": "ET_SVT",
                "name": "Firmware version",
                "status": "P",
                "totTime": 0.1,
                "stringMeas": [
                    {"compOp": "CASESENSIT", "status": "P", "value": "2.4.1", "limit": "2.4.1"}
                ],
            },
        ],
    },
}


def json_difference(expected: Any, actual: Any, path: str = "$") -> str | None:
    """Describe the first difference between two parsed JSON trees, or return ``None``.

    Strict everywhere except number spelling: keys must match exactly (so ``null`` and an absent key
    differ), strings exactly (GUID letter case, timestamp digits and offsets), booleans are not
    numbers, and ``10`` equals ``10.0``. Numbers are compared by value, exactly: msgspec writes the
    shortest text that reads back as the same double, so any change of value is a real difference.
    """
    if isinstance(expected, dict) and isinstance(actual, dict):
        if expected.keys() != actual.keys():
            missing = sorted(expected.keys() - actual.keys())
            extra = sorted(actual.keys() - expected.keys())
            return f"{path}: keys differ (missing {missing}, extra {extra})"
        for key in expected:
            found = json_difference(expected[key], actual[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return f"{path}: {len(expected)} items became {len(actual)}"
        for index, (left, right) in enumerate(zip(expected, actual, strict=True)):
            found = json_difference(left, right, f"{path}[{index}]")
            if found:
                return found
        return None
    if _is_number(expected) and _is_number(actual):
        same = expected == actual or (math.isnan(expected) and math.isnan(actual))
        return None if same else f"{path}: {expected!r} became {actual!r}"
    if type(expected) is not type(actual) or expected != actual:
        return f"{path}: {expected!r} became {actual!r}"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
