"""A file refused by a limit says, in its error sidecar, which setting to raise."""

from __future__ import annotations

import pytest

from converters import OutOfMemory, TimedOut
from pywats_actors.node._pipeline import describe_failure


class TestLimitHints:
    @pytest.mark.parametrize(
        ("result", "kind", "key"),
        [
            (TimedOut("f", "0" * 64, "wall", 60.0, "", "csv", 2), "timed_out", "timeout"),
            (TimedOut("f", "0" * 64, "cpu", 60.0, "", "csv", 2), "timed_out", "cpu_seconds"),
            (
                OutOfMemory("f", "0" * 64, "rss", 1 << 30, 0, "", None, 2),
                "out_of_memory",
                "memory_mb",
            ),
            (
                OutOfMemory("f", "0" * 64, "address_space", 2 << 30, 0, "", None, 2),
                "out_of_memory",
                "memory_mb",
            ),
        ],
    )
    def test_the_reason_names_the_config_key(
        self, result: TimedOut | OutOfMemory, kind: str, key: str
    ) -> None:
        """Timed out and out of memory name the [conversion] key that sets the limit."""
        got_kind, reason, _ = describe_failure(result)
        assert got_kind == kind
        assert reason.endswith(f"; raise [conversion] {key}")
