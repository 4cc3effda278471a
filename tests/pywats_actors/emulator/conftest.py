"""Fixtures for the emulator tests: a running emulator, an httpx client on it, valid reports."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from pywats_actors.emulator import Emulator, open_emulator

from ..._reports import minimal_report

TOKEN = "emulator-test-token"
AUTH = {"Authorization": f"Basic {TOKEN}"}


def make_report(report_id: str | None = None, **changes: Any) -> dict[str, Any]:
    """A valid WSJF report as a dict (a fresh id unless given) with top-level *changes*."""
    report = minimal_report(report_id=report_id or str(uuid.uuid4()))
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
