"""``pywats-node bench supervisors``: the cost of supervision itself, on the real clock.

The cost of starting a dynamic child, of stopping 1,000 children, and of one
crash-and-restart cycle (which includes formatting the crash's traceback for its exit reason).
"""

from __future__ import annotations

import time

import trio

from supervisors import ChildSpec, DynamicSupervisor, Supervisor, current_child

__all__ = ["run_supervisors"]


async def _idle(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    task_status.started()
    await current_child().wait_stop_requested()


async def _run(children: int, crashes: int) -> dict[str, float]:
    sup = DynamicSupervisor()
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        t0 = time.perf_counter()
        for i in range(children):
            await sup.start_child(ChildSpec(f"c{i}", _idle))
        t1 = time.perf_counter()
        await sup.stop()
        t2 = time.perf_counter()

    crashed = 0
    done = trio.Event()

    async def crasher(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        nonlocal crashed
        task_status.started()
        crashed += 1
        if crashed <= crashes:
            raise RuntimeError("crash")
        done.set()
        await current_child().wait_stop_requested()

    top = Supervisor([ChildSpec("c", crasher)], intensity=10 * crashes, period=1)
    async with trio.open_nursery() as nursery:
        t3 = time.perf_counter()
        await nursery.start(top.run)
        await done.wait()
        t4 = time.perf_counter()
        await top.stop()
    return {
        "start_child_us": (t1 - t0) * 1e6 / children,
        "stop_children_ms": (t2 - t1) * 1000,
        "crash_restart_us": (t4 - t3) * 1e6 / crashes,
    }


def run_supervisors(*, children: int = 1000, crashes: int = 2000) -> dict[str, float]:
    """Run the measurements and print them; returns the figures."""
    figures = trio.run(_run, children, crashes)
    print(f"start_child: {figures['start_child_us']:.0f} µs per child")
    print(f"stop {children} children: {figures['stop_children_ms']:.0f} ms")
    print(f"crash + restart: {figures['crash_restart_us']:.0f} µs per cycle")
    return figures
