"""The in-circuit tester's verdict put on a report the builder rolled up from its steps.

An ICT log states the board's result itself (GR228x's end character, Spectrum's ``BOARD
PASSED``); the report follows it even when a step's own limits say otherwise, so the report
result, the root step's status and the failure markers must agree with that verdict.
"""

from __future__ import annotations

import msgspec

from pywats_actors.report import ReportResult, Step, UUTReport

__all__ = ["with_verdict"]


def with_verdict(report: UUTReport, result: ReportResult) -> UUTReport:
    """``report`` with ``result`` as its result and root status; unless the result is failed,
    no step is marked as the cause of a UUT failure."""
    root = msgspec.structs.replace(report.root, status=result.value)
    uut = report.uut
    if result != ReportResult.FAILED:
        root = _no_cause(root)
        uut = msgspec.structs.replace(uut, step_id_caused_uut_failure=msgspec.UNSET)
    return msgspec.structs.replace(report, result=result.value, root=root, uut=uut)


def _no_cause(step: Step) -> Step:
    """``step`` and its children without ``caused_uut_failure`` markers."""
    children = step.steps
    if children:
        step = msgspec.structs.replace(step, steps=tuple(_no_cause(child) for child in children))
    if step.caused_uut_failure is True:
        step = msgspec.structs.replace(step, caused_uut_failure=msgspec.UNSET)
    return step
