"""What every suite measures with: CPU and memory of a process, percentiles, waiting for a
condition, and the line that says where a figure was measured."""

from __future__ import annotations

import os
import platform
import resource
import time
from collections.abc import Awaitable, Callable, Sequence

import psutil
import trio

__all__ = [
    "BenchFailed",
    "high_water_mark",
    "machine",
    "own_cpu",
    "percentile",
    "process_cpu",
    "reaped_children_cpu",
    "run_callers",
    "tree_cpu",
    "wait_until",
]


class BenchFailed(Exception):
    """A benchmark could not run to its end (a process it started exited, a condition never
    came); the message says what happened. The command prints it as one line."""


def percentile(samples: Sequence[float], q: float) -> float:
    """The nearest-rank *q* quantile of *samples* (``nan`` when there are none)."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def own_cpu() -> tuple[float, float]:
    """This process's CPU (user + system) and its system part, seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_stime


def reaped_children_cpu() -> float:
    """CPU of this process's children that exited and were reaped, seconds."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    """CPU (user + system) of the live process *pid*, seconds."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def tree_cpu(proc: psutil.Process, *, reaped: bool = True) -> float:
    """CPU of *proc* and of every live descendant, seconds; with *reaped*, also what its
    children that exited and were reaped used."""
    with proc.oneshot():
        times = proc.cpu_times()
        total = float(times.user + times.system)
        if reaped:
            total += times.children_user + times.children_system
    for child in proc.children(recursive=True):
        try:
            t = child.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


async def run_callers(callers: int, count: int, call: Callable[[int], Awaitable[None]]) -> None:
    """Make the calls ``call(0)`` to ``call(count - 1)``, *callers* at a time: each caller
    takes the next index as soon as its previous call returns."""
    position = 0

    async def caller() -> None:
        nonlocal position
        while position < count:
            index = position
            position += 1
            await call(index)

    async with trio.open_nursery() as nursery:
        for _ in range(callers):
            nursery.start_soon(caller)


def high_water_mark(pid: int) -> int:
    """The peak resident memory (``VmHWM``) of process *pid*, bytes (0 when unreadable)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, *, interval: float = 0.005
) -> None:
    """Poll *predicate* until it is true; :class:`BenchFailed` naming *what* after *timeout*
    seconds. (Blocking: the suites that wait this way run no event loop meanwhile.)"""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise BenchFailed(f"{what} did not happen within {timeout:g} s")
        time.sleep(interval)


def machine(command: str) -> str:
    """```command` on HOST: N CPUs, Linux X, Python Y, DATE``: where a figure comes from."""
    return (
        f"`{command}` on {platform.node() or 'this machine'}: {os.cpu_count()} CPUs, "
        f"Linux {platform.release()}, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}"
    )
