"""The tests' sample WSJF reports (see ``tests/converters/plugins/_reports.py``, where they live
so that the sandboxed test plug-ins, which may read only their own folder, can load them too)."""

from __future__ import annotations

from .converters.plugins._reports import (
    COMPLETE_REPORT,
    MINIMAL_REPORT,
    NIL_ID,
    built_report,
    minimal_report,
)

__all__ = ["COMPLETE_REPORT", "MINIMAL_REPORT", "NIL_ID", "built_report", "minimal_report"]
