"""Fixtures for the spool tests: a wall clock the test drives, and reports to enqueue."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from pywats_actors.spool import SourceInfo, SpoolItem, SpoolSettings

T0 = 1_750_000_000.0
DAY = 86_400.0


class WallClock:
    """A wall clock that stands still until the test moves it (read from the writer thread)."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_item(n: int, *, size: int = 200, report_id: str | None = None) -> SpoolItem:
    """Report number *n*: a deterministic id (unless given) and a body of *size* bytes."""
    rid = report_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"report-{n}"))
    body = (f'{{"id":"{rid}","n":{n},"pad":"'.encode() + b"x" * size)[: size - 2] + b'"}'
    return SpoolItem(
        report_id=rid,
        body=body,
        source=SourceInfo(
            path=f"/station/in/result-{n}.xml",
            content_hash=f"sha256:{n:064x}",
            converter="teststand-xml",
            converter_version="1.0",
        ),
    )


@pytest.fixture
def wall() -> WallClock:
    """A wall clock at a fixed epoch time that only the test moves."""
    return WallClock()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Where the spool's database goes."""
    return tmp_path / "spool.db"


@pytest.fixture
def settings() -> SpoolSettings:
    """Default settings without the free-space reserve (CI disks may be small)."""
    return SpoolSettings(reserve_free_bytes=0)
