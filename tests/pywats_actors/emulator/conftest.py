"""Fixtures for the emulator tests: a running emulator, an httpx client on it, valid reports."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from pywats_actors.emulator import Emulator, open_emulator

TOKEN = "emulator-test-token"
AUTH = {"Authorization": f"Basic {TOKEN}"}

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


def make_report(report_id: str | None = None, **changes: Any) -> dict[str, Any]:
    """A valid WSJF report as a dict (a fresh id unless given) with top-level *changes*."""
    report = copy.deepcopy(MINIMAL_REPORT)
    report["id"] = report_id or str(uuid.uuid4())
    report.update(changes)
    return report


@pytest.fixture
def report() -> Callable[..., dict[str, Any]]:
    """The factory of valid WSJF reports (as dicts)."""
    return make_report


def encode(report: dict[str, Any]) -> bytes:
    return json.dumps(report).encode()


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """A fault-free emulator on an ephemeral loopback port, with the test token."""
    async with open_emulator(token=TOKEN, seed=1) as emu:
        yield emu


@pytest.fixture
async def http(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """A plain httpx client on the emulator, sending the test token."""
    async with httpx.AsyncClient(base_url=emulator.url, headers=AUTH, timeout=5.0) as client:
        yield client
