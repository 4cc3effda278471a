"""A small file system of a test's own, to fill up for real (root only).

``small_tmpfs`` mounts a tmpfs of a few MiB at a folder of the test's temporary tree and always
unmounts it (lazily, so a file still open cannot keep it mounted); where the test does not run
as root, or the container may not mount, the test is skipped with the reason. ``fill_disk``
writes a file until the file system has no byte left.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["fill_disk", "small_tmpfs"]


@contextlib.contextmanager
def small_tmpfs(where: Path, megabytes: int) -> Iterator[Path]:
    """A tmpfs of *megabytes* mounted at *where* (created), unmounted afterwards.

    Skips the test when it cannot be mounted (not root, no ``CAP_SYS_ADMIN``).
    """
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill up needs root")
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(where)],
        capture_output=True,
        check=False,
        timeout=30,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, timeout=30)


def fill_disk(folder: Path, name: str = "filler") -> Path:
    """Write ``folder/name`` until the file system is full to the last byte; returns it."""
    filler = folder / name
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 1 << 12, 1):  # down to the last byte
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    return filler
