"""``python -m supervisors._bench``: the cost of supervision itself, on the real clock.

Prints the cost of starting a dynamic child, of stopping 1,000 children, and of one
crash-and-restart cycle (which includes formatting the crash's traceback for its exit reason).
"""

from __future__ import annotations

import time

import trio

from ._context import current_child
from ._spec import ChildSpec
from ._supervisor import DynamicSupervisor, Supervisor

__all__ = ["main"]

_CHILDREN = 1000
_CRASHES = 2000


async def _idle(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    task_status.started()
    await current_child().wait_stop_requested()


async def _run() -> None:
    sup = DynamicSupervisor()
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        t0 = time.perf_counter()
        for i in range(_CHILDREN):
            await sup.start_child(ChildSpec(f"c{i}", _idle))
        t1 = time.perf_counter()
        await sup.stop()
        t2 = time.perf_counter()
    print(f"start_child: {(t1 - t0) * 1e6 / _CHILDREN:.0f} µs per child")
    print(f"stop {_CHILDREN} children: {(t2 - t1) * 1000:.0f} ms")

    crashes = 0
    done = trio.Event()

    async def crasher(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        nonlocal crashes
        task_status.started()
        crashes += 1
        if crashes <= _CRASHES:
            raise RuntimeError("crash")
        done.set()
        await current_child().wait_stop_requested()

    top = Supervisor([ChildSpec("c", crasher)], intensity=10 * _CRASHES, period=1)
    async with trio.open_nursery() as nursery:
        t0 = time.perf_counter()
        await nursery.start(top.run)
        await done.wait()
        t1 = time.perf_counter()
        await top.stop()
    print(f"crash + restart: {(t1 - t0) * 1e6 / _CRASHES:.0f} µs per cycle")


def main() -> None:
    """Run the measurements and print them."""
    trio.run(_run)


if __name__ == "__main__":
    main()
