"""The look at a settled file: may the node read it, does a writer hold it open (read leases)."""

from __future__ import annotations

import mmap
import os
import subprocess
import sys
import time
from pathlib import Path

from pywats_actors.node._probe import Probe, Verdict, probe, read_lease

from ._children import as_root, shared_folder

# Runs probe() as another user (uid and gid follow the path) and prints the verdict and error.
PROBE_AS = r"""
import os, sys
from pywats_actors.node._probe import probe
os.setgroups([])
os.setgid(int(sys.argv[3]))
os.setuid(int(sys.argv[2]))
look = probe(sys.argv[1])
print(look.verdict.value, look.error, sep="|")
"""


def probe_as_nobody(path: Path) -> Probe:
    done = subprocess.run(
        [sys.executable, "-c", PROBE_AS, str(path), "65534", "65534"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    verdict, error = done.stdout.strip().split("|")
    return Probe(Verdict(verdict), error)


class TestVerdicts:
    def test_closed_file_is_free(self, tmp_path: Path) -> None:
        """A file no process has open for writing gets a read lease: free to take."""
        path = tmp_path / "a.csv"
        path.write_text("x")
        assert probe(str(path)) == Probe(Verdict.FREE)

    def test_file_open_for_writing_is_being_written(self, tmp_path: Path) -> None:
        """While any descriptor is open for writing, the file is being written."""
        path = tmp_path / "a.csv"
        with path.open("a") as f:
            f.write("partial")
            f.flush()
            assert probe(str(path)).verdict is Verdict.WRITING
        assert probe(str(path)).verdict is Verdict.FREE

    def test_file_mapped_writable_is_being_written(self, tmp_path: Path) -> None:
        """A writable shared mapping counts as a writer even after its descriptor is closed."""
        path = tmp_path / "a.bin"
        path.write_bytes(b"\0" * 4096)
        with path.open("r+b") as f:
            mapping = mmap.mmap(f.fileno(), 4096)
        try:
            assert probe(str(path)).verdict is Verdict.WRITING
        finally:
            mapping.close()
        assert probe(str(path)).verdict is Verdict.FREE

    def test_gone_file(self, tmp_path: Path) -> None:
        """A file that vanished is gone, not unreadable."""
        assert probe(str(tmp_path / "nothing.csv")).verdict is Verdict.GONE

    def test_without_lease_only_readability_is_known(self, tmp_path: Path) -> None:
        """With leases off (a network file system) a readable file is just readable."""
        path = tmp_path / "a.csv"
        path.write_text("x")
        assert probe(str(path), lease=False) == Probe(Verdict.READABLE)

    @as_root
    def test_unreadable_and_not_owned(self) -> None:
        """As another user: a 0600 file is unreadable (with the reason); a readable file it
        does not own gets no lease, so whether a writer holds it cannot be known."""
        with shared_folder() as folder:
            secret = folder / "secret.csv"
            secret.write_text("x")
            os.chmod(secret, 0o600)
            assert probe_as_nobody(secret) == Probe(Verdict.UNREADABLE, "Permission denied")
            os.chmod(secret, 0o644)
            assert probe_as_nobody(secret) == Probe(Verdict.READABLE)


class TestLeaseBreak:
    def test_writer_opening_during_the_lease_does_not_end_the_node(self, tmp_path: Path) -> None:
        """A writer that opens the file while the lease is held waits until it is given back;
        the kernel's lease-break signal does not end this process (SIGIO would)."""
        path = tmp_path / "a.csv"
        path.write_text("x")
        fd = os.open(path, os.O_RDONLY)
        try:
            with read_lease(fd) as granted:
                assert granted is True
                opener = subprocess.Popen(
                    [sys.executable, "-c", f"open({str(path)!r}, 'a').write('more')"]
                )
                time.sleep(0.3)
                assert opener.poll() is None  # still waiting for the lease to be given back
            assert opener.wait(timeout=10) == 0
        finally:
            os.close(fd)
        assert path.read_text() == "xmore"
