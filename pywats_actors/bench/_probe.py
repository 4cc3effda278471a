"""``pywats-node bench probe``: what it costs to know that no writer holds a file.

Per file, in microseconds of CPU: the ``stat()`` the watcher makes anyway, the old readability
check (open, read a byte, close), :func:`probe` with a read lease (and the ``stat()`` after it),
and the alternative of scanning ``/proc/*/fd`` for a descriptor open for writing on the file
(one scan serves every file of a round; its cost grows with the processes and descriptors on the
machine, not with the files).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ..node._probe import Verdict, probe

__all__ = ["run_probe"]


def _per_call(action: Callable[[str], object], paths: list[str], repeat: int) -> float:
    """The best of *repeat* runs over *paths*, in µs of CPU per path."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for path in paths:
            action(path)
        best = min(best, time.process_time() - start)
    return best / len(paths) * 1e6


def _open_read(path: str) -> None:
    with open(path, "rb") as f:
        f.read(1)


def _probe_and_stat(path: str) -> None:
    assert probe(path).verdict is Verdict.FREE
    os.stat(path)


def _writers_from_proc(targets: set[str]) -> tuple[set[str], int, int]:
    """Files of *targets* some process has open for writing, by scanning ``/proc``; also the
    number of processes and descriptors looked at."""
    held: set[str] = set()
    processes = descriptors = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        processes += 1
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            descriptors += 1
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target not in targets:
                    continue
                with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                    flags = int(info.read().split("flags:", 1)[1].split()[0], 8)
            except (OSError, IndexError, ValueError):
                continue
            if flags & (os.O_WRONLY | os.O_RDWR):
                held.add(target)
    return held, processes, descriptors


def run_probe(
    *, files: int = 2000, repeat: int = 5, directory: Path | None = None
) -> dict[str, float]:
    """Measure and print the costs; returns µs of CPU per file of each way, and per round of
    the ``/proc`` scan."""
    with tempfile.TemporaryDirectory(dir=directory) as folder:
        paths = []
        for i in range(files):
            path = Path(folder) / f"r{i:05}.csv"
            path.write_text("step,value\nvoltage,3.3\n")
            paths.append(str(path))
        rows = {
            "stat()": _per_call(os.stat, paths, repeat),
            "open, read 1 byte, close": _per_call(_open_read, paths, repeat),
            "probe() with a read lease, then stat()": _per_call(_probe_and_stat, paths, 5),
            "probe() without a lease": _per_call(lambda p: probe(p, lease=False), paths, repeat),
        }
        start = time.process_time()
        _, processes, descriptors = _writers_from_proc(set(paths))
        scan = (time.process_time() - start) * 1e6
    print(f"{files} files in {folder}")
    for name, micros in rows.items():
        print(f"{name:42} {micros:8.1f} µs per file")
    label = f"one /proc scan ({processes} processes, {descriptors} fds)"
    print(f"{label:42} {scan:8.0f} µs per round")
    return {**rows, "/proc scan": scan}
