"""Shared test data for the report tests: the sample names and an honest JSON tree comparison
(the known-good report is ``tests/_reports.py``'s ``COMPLETE_REPORT``)."""

from __future__ import annotations

import math
from typing import Any

WSJF_SAMPLES = ("uut-wsjf-export.json", "new_report_example.json", "uur_example.json")


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
