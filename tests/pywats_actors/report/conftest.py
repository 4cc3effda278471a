"""Fixtures for the report tests: the real WSJF exports, a known-good minimal report, and an honest
JSON tree comparison."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ..._reports import COMPLETE_REPORT
from ._samples import json_difference


@pytest.fixture
def wsjf_dir(samples_dir: Path) -> Path:
    """The folder of real WSJF server exports."""
    return samples_dir / "wsjf"


@pytest.fixture
def minimal_uut() -> dict[str, Any]:
    """A fresh copy of the known-good minimal UUT report, as a JSON tree to edit."""
    return copy.deepcopy(COMPLETE_REPORT)


@pytest.fixture
def assert_same_json() -> Callable[[bytes | str, bytes | str], None]:
    """Assert that two JSON documents are the same tree (see :func:`json_difference`)."""

    def check(expected: bytes | str, actual: bytes | str) -> None:
        difference = json_difference(json.loads(expected), json.loads(actual))
        assert difference is None, difference

    return check
