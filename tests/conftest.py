"""Fixtures shared by the whole test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLES = REPO_ROOT.parent / "shared" / "samples"


@pytest.fixture
def samples_dir() -> Path:
    """The shared folder of real public test-result files; skips the test when it is absent."""
    if not SAMPLES.is_dir():
        pytest.skip(f"shared samples folder not found at {SAMPLES}")
    return SAMPLES
