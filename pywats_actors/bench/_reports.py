"""The bench's one sample report: a small valid WSJF UUT report, with as many numeric steps as a
suite asks for. (Package code may not import the tests' fixture, so the bench has its own.)"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

__all__ = ["NAMESPACE", "NIL_ID", "minimal_report", "wsjf_reports"]

NIL_ID = "00000000-0000-0000-0000-000000000000"
"""The nil report id: "give this report an id" to the converter pool."""

NAMESPACE = uuid.UUID("00000000-0000-4000-8000-00000000beef")
"""The station namespace of the converter pools the suites run."""

_MINIMAL: dict[str, Any] = {
    "type": "T",
    "id": NIL_ID,
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
    "root": {
        "id": 1,
        "group": "M",
        "stepType": "SequenceCall",
        "name": "MainSequence Callback",
        "status": "P",
        "totTime": 3.25,
        "seqCall": {"path": "bench", "name": "MainSequence Callback", "version": "1.0"},
        "steps": [],
    },
}


def minimal_report(*, report_id: str = NIL_ID, steps: int = 0) -> dict[str, Any]:
    """A fresh valid WSJF report as a JSON tree, with *steps* numeric steps (5 V within
    4.75..5.25)."""
    report = copy.deepcopy(_MINIMAL)
    report["id"] = report_id
    report["root"]["steps"] = [
        {
            "id": index + 2,
            "group": "M",
            "stepType": "ET_NLT",
            "name": f"Voltage {index}",
            "status": "P",
            "totTime": 0.01,
            "numericMeas": [
                {
                    "compOp": "GELE",
                    "status": "P",
                    "unit": "V",
                    "value": 5.0,
                    "lowLimit": 4.75,
                    "highLimit": 5.25,
                }
            ],
        }
        for index in range(steps)
    ]
    return report


def wsjf_reports(count: int, steps: int) -> list[tuple[str, bytes]]:
    """*count* encoded reports with *steps* numeric steps each and unique ids: [(id, bytes)]."""
    text = json.dumps(minimal_report(report_id="%s", steps=steps))
    reports = []
    for _ in range(count):
        report_id = str(uuid.uuid4())
        reports.append((report_id, (text % report_id).encode()))
    return reports
