"""The per-folder record: degraded after repeated disposal failures, recovered when no file
waits; and the retry backoff's bounds."""

from __future__ import annotations

import pytest

from pywats_actors.node import FolderDegraded, FolderHealth, FolderRecovered
from pywats_actors.node._bus import NodeEvent
from pywats_actors.node._retries import RETRY_CAP, RETRY_FIRST, retry_delay


class TestFolderHealth:
    def test_three_failures_in_a_row_degrade_only_that_folder(self) -> None:
        """Three disposal failures in a row in one folder make it degraded (one event); the
        other folder stays ok."""
        published: list[NodeEvent] = []
        health = FolderHealth(published.append)
        health.failed("a", "/a/1", "disposal", "EACCES")
        health.failed("a", "/a/2", "disposal", "EACCES")
        assert health.status("a").state == "ok"
        health.failed("a", "/a/1", "disposal", "EACCES")
        health.failed("a", "/a/3", "disposal", "EACCES")
        assert health.status("a").state == "degraded"
        assert health.status("a").awaiting_disposal == 3
        assert health.status("b").state == "ok"
        assert [type(e) for e in published] == [FolderDegraded]

    def test_a_success_between_failures_keeps_the_folder_ok(self) -> None:
        """A disposal that succeeds resets the count: scattered failures do not degrade."""
        health = FolderHealth()
        for n in range(5):
            health.failed("a", f"/a/{n}", "disposal", "EBUSY")
            health.disposed("a")
        assert health.status("a").state == "ok"

    def test_recovers_when_no_file_waits(self) -> None:
        """A degraded folder recovers (one event) once its last waiting file is disposed of."""
        published: list[NodeEvent] = []
        health = FolderHealth(published.append)
        for n in range(3):
            health.failed("a", f"/a/{n}", "disposal", "EROFS")
        for n in range(3):
            health.disposed("a")
            health.settled("a", f"/a/{n}", "disposal")
        assert health.status("a").state == "ok"
        assert [type(e) for e in published] == [FolderDegraded, FolderRecovered]

    def test_read_trouble_is_counted_but_does_not_degrade(self) -> None:
        """Unreadable files are counted in the status; they do not make the folder degraded."""
        health = FolderHealth()
        for n in range(5):
            health.failed("a", f"/a/{n}", "read", "EACCES")
        status = health.status("a")
        assert (status.state, status.unreadable, status.last_error) == ("ok", 5, "EACCES")


class TestRetryDelay:
    @pytest.mark.parametrize(("attempt", "ceiling"), [(1, 1.0), (2, 2.0), (5, 16.0), (9, 256.0)])
    def test_doubles_from_the_first_delay(self, attempt: int, ceiling: float) -> None:
        """The n-th retry waits between half and all of first * 2**(n-1)."""
        assert RETRY_FIRST == 1.0
        assert retry_delay(attempt, rand=1.0) == ceiling
        assert retry_delay(attempt, rand=0.0) == ceiling / 2

    def test_is_capped(self) -> None:
        """However many failures, no wait is longer than the cap."""
        assert retry_delay(10_000, rand=1.0) == RETRY_CAP
        assert retry_delay(10, rand=0.999) <= RETRY_CAP
