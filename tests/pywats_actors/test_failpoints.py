"""Named failpoints: off by default, and each action does what it says."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from pywats_actors._failpoints import (
    EXIT_CODE,
    FAILPOINTS,
    FailpointError,
    configure_failpoints,
    failpoint,
    failpoint_hits,
)


@pytest.fixture(autouse=True)
def _off_afterwards() -> Iterator[None]:
    yield
    configure_failpoints(os.environ.get("PYWATS_FAILPOINTS"))


class TestRules:
    def test_off_does_nothing(self) -> None:
        """With no rules every failpoint passes silently and counts nothing."""
        configure_failpoints(None)
        for name in FAILPOINTS:
            failpoint(name)
            assert failpoint_hits(name) == 0

    def test_error_raises_an_oserror(self) -> None:
        """``error`` raises FailpointError, an OSError naming the failpoint."""
        configure_failpoints("disposal.move=error")
        with pytest.raises(FailpointError, match=r"disposal\.move") as info:
            failpoint("disposal.move")
        assert isinstance(info.value, OSError)
        failpoint("spool.commit")  # another name is untouched

    def test_error_factory(self) -> None:
        """A place may say what its ``error`` looks like."""
        configure_failpoints("spool.commit=error")
        with pytest.raises(KeyError):
            failpoint("spool.commit", lambda: KeyError("disk"))

    def test_nth_pass_only(self) -> None:
        """``@N`` fires on the N-th pass and on no other."""
        configure_failpoints("spool.mark_sent=error@3")
        failpoint("spool.mark_sent")
        failpoint("spool.mark_sent")
        with pytest.raises(FailpointError):
            failpoint("spool.mark_sent")
        failpoint("spool.mark_sent")
        assert failpoint_hits("spool.mark_sent") == 4

    def test_probability(self) -> None:
        """``%P`` fires on about P of the passes."""
        configure_failpoints("pipeline.committed=error%0.5")
        fired = 0
        for _ in range(2000):
            try:
                failpoint("pipeline.committed")
            except FailpointError:
                fired += 1
        assert 800 < fired < 1200

    @pytest.mark.parametrize(
        "text",
        [
            "spool.comit=kill",
            "spool.commit",
            "spool.commit=explode",
            "spool.commit=kill@0",
            "spool.commit=kill%1.5",
            "spool.commit=kill@x",
        ],
    )
    def test_bad_rules_are_refused(self, text: str) -> None:
        """A typo cannot silently test nothing: every malformed rule is a ValueError."""
        with pytest.raises(ValueError):
            configure_failpoints(text)


class TestProcessActions:
    @pytest.mark.parametrize(("action", "code"), [("kill", -signal.SIGKILL), ("exit", EXIT_CODE)])
    def test_kill_and_exit_end_the_process(self, action: str, code: int) -> None:
        """``kill`` and ``exit`` end the process at the failpoint; nothing after it runs."""
        script = (
            "from pywats_actors._failpoints import failpoint\n"
            "failpoint('sender.answered')\n"
            "print('after')\n"
        )
        env = {**os.environ, "PYWATS_FAILPOINTS": f"sender.answered={action}"}
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=30
        )
        assert done.returncode == code
        assert "after" not in done.stdout
