"""The tests' sample WSJF reports: a small valid one (the client, emulator, converter and node
tests), and the same with one step of each kind and a misc info (the report model's tests).

The converter tests' plug-ins run in sandboxed workers that cannot import the ``tests`` package
and may read only their own folder: they load this file by its path from beside them (it lives
with them for that reason; ``tests/_reports.py`` re-exports it for every other test), so it must
need nothing but the standard library.
"""

from __future__ import annotations

import copy
from typing import Any

NIL_ID = "00000000-0000-0000-0000-000000000000"
"""The nil report id: "give this report an id" to the converter pool."""

MINIMAL_REPORT: dict[str, Any] = {
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
    "root": {
        "id": 1,
        "group": "M",
        "stepType": "SequenceCall",
        "name": "MainSequence Callback",
        "status": "P",
        "totTime": 3.25,
        "seqCall": {"path": "station_agent", "name": "MainSequence Callback", "version": "1.0"},
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
            }
        ],
    },
}


def _complete() -> dict[str, Any]:
    report = copy.deepcopy(MINIMAL_REPORT)
    root = report.pop("root")
    report["miscInfos"] = [{"description": "FirmwareVersion", "text": "2.4.1"}]
    root["seqCall"]["version"] = "1.0.0"
    root["steps"] += [
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
    ]
    report["root"] = root
    return report


COMPLETE_REPORT: dict[str, Any] = _complete()
"""The minimal complete UUT of docs/spec "wats-protocol" section 2.14, validated by pywats-api:
:data:`MINIMAL_REPORT` with a misc info and a boolean and a string step. Copy it before
changing it."""


def minimal_report(sn: str | None = None, *, report_id: str | None = None) -> dict[str, Any]:
    """A fresh copy of :data:`MINIMAL_REPORT` (change it freely), with another serial number
    and id when given."""
    report = copy.deepcopy(MINIMAL_REPORT)
    if sn is not None:
        report["sn"] = sn
    if report_id is not None:
        report["id"] = report_id
    return report


def built_report(
    n: int, *, id_label: str | None = None, sn: str | None = None
) -> tuple[bytes, str]:
    """A valid WSJF report built with the ReportBuilder (serial ``SN-<n>``, one numeric step),
    and its id. With *id_label* the id is a UUIDv5 of ``"<id_label>-<n>"`` (the same every
    run), else a fresh random one."""
    import uuid

    from pywats_actors.report import ReportBuilder, encode_report

    b = ReportBuilder(
        pn="PCBA-7",
        sn=sn or f"SN-{n}",
        rev="B",
        process_code=10,
        machine_name="station-9",
        location="line 1",
        purpose="ICT",
        report_id=uuid.uuid5(uuid.NAMESPACE_DNS, f"{id_label}-{n}") if id_label else None,
    )
    b.root.numeric("Vcc", 3.3, low=3.0, high=3.6, unit="V")
    return encode_report(b.build()), str(b.id)
