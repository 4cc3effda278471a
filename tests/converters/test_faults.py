"""Misbehaving converters in real worker processes: each failure is typed, contained, retried once
on a fresh worker when the worker died, and the pool goes on converting good files.

Real processes on the real clock, every wait under ``fail_after``.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator

import msgspec
import psutil
import pytest
import trio

from converters import (
    Converted,
    ConverterPool,
    Crashed,
    OutOfMemory,
    Rejected,
    TimedOut,
    open_converter_pool,
)

from .conftest import NAMESPACE, gone, plugin, settings

CHAOS = plugin("Chaos")


async def convert(pool: ConverterPool, command: str) -> object:
    with trio.fail_after(30):
        return await pool.convert(command.encode(), "file.txt", "chaos")


@contextlib.contextmanager
def watching_descendants(pool: ConverterPool) -> Iterator[dict[int, float]]:
    """Every process below the pool's workers of the moment, seen while the block runs (pid ->
    creation time), polled from a thread every 20 ms. Workers started later are not watched."""
    seen: dict[int, float] = {}
    launchers = [psutil.Process(slot.pid) for slot in pool.statistics().slots if slot.pid]
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.02):
            for launcher in launchers:
                with contextlib.suppress(psutil.Error):
                    seen.setdefault(launcher.pid, launcher.create_time())
                    for process in launcher.children(recursive=True):
                        with contextlib.suppress(psutil.Error):
                            seen.setdefault(process.pid, process.create_time())

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(5)


async def assert_all_gone(seen: dict[int, float], *, at_least: int) -> None:
    """At least ``at_least`` processes were seen, and within 10 s none of those still runs."""
    assert len(seen) >= at_least, seen
    with trio.fail_after(10):
        while True:
            alive = []
            for pid, created in seen.items():
                with contextlib.suppress(psutil.Error):
                    process = psutil.Process(pid)
                    if process.create_time() == created and process.status() != "zombie":
                        alive.append(pid)
            if not alive:
                return
            await trio.sleep(0.05)


async def assert_still_converts(pool: ConverterPool) -> None:
    result = await convert(pool, "fine")
    assert isinstance(result, Converted), result
    assert result.attempts == 1


class TestRejected:
    async def test_exception_is_rejected_with_reason(self) -> None:
        """A converter that raises gets the file rejected with the exception as the reason and
        its traceback as detail; the worker lives on and is not restarted."""
        async with open_converter_pool(
            settings(), converters=[CHAOS], station_namespace=NAMESPACE
        ) as pool:
            result = await convert(pool, "raise")
            assert isinstance(result, Rejected)
            assert result.cause == "converter"
            assert result.reason == "ValueError: this converter does not like you"
            assert result.detail is not None
            assert "Traceback" in result.detail
            assert result.converter == "chaos"
            await assert_still_converts(pool)
            stats = pool.statistics()
            assert stats.worker_restarts == 0
            assert stats.retries == 0
            assert stats.rejected == 1

    async def test_file_rejected_carries_where(self) -> None:
        """FileRejected's reason and location reach the caller unchanged."""
        async with open_converter_pool(
            settings(), converters=[CHAOS], station_namespace=NAMESPACE
        ) as pool:
            result = await convert(pool, "reject")
            assert isinstance(result, Rejected)
            assert (result.reason, result.where) == ("the checksum is wrong", "line 3")

    async def test_rejected_is_a_ready_made_sidecar(self) -> None:
        """A failure encodes to JSON tagged with its outcome, for the error/ sidecar."""
        async with open_converter_pool(
            settings(), converters=[CHAOS], station_namespace=NAMESPACE
        ) as pool:
            result = await convert(pool, "reject")
        sidecar = msgspec.json.decode(msgspec.json.encode(result))
        assert sidecar["outcome"] == "rejected"
        assert sidecar["where"] == "line 3"


class TestHang:
    async def test_hang_times_out_and_worker_is_replaced(self) -> None:
        """A converter that never returns is killed at the per-file timeout, retried once on a
        fresh worker, then reported as timed out, naming the setting; the killed worker is
        replaced."""
        async with open_converter_pool(
            settings(timeout=1.0), converters=[CHAOS], station_namespace=NAMESPACE
        ) as pool:
            pid = pool.statistics().slots[0].pid
            assert pid is not None
            with trio.fail_after(30):
                started = trio.current_time()
                result = await convert(pool, "hang")
                elapsed = trio.current_time() - started
            assert isinstance(result, TimedOut)
            assert (result.clock, result.limit, result.attempts) == ("wall", 1.0, 2)
            assert result.setting == "timeout"
            assert "(the limit is timeout)" in result.description
            assert 2.0 <= elapsed < 10
            assert gone(pid)
            await assert_still_converts(pool)
            stats = pool.statistics()
            assert stats.worker_crashes == 2
            assert stats.worker_restarts == 2
            assert stats.timed_out == 1

    async def test_cpu_spin_is_stopped_by_the_cpu_limit(self) -> None:
        """A converter that burns CPU is stopped by its CPU budget, not only by the wall clock."""
        async with open_converter_pool(
            settings(timeout=30.0, cpu_seconds=1, poll_interval=0.05),
            converters=[CHAOS],
            station_namespace=NAMESPACE,
        ) as pool:
            result = await convert(pool, "spin")
            assert isinstance(result, TimedOut)
            assert result.clock == "cpu"
            assert result.attempts == 2
            assert result.setting == "cpu_seconds"
            assert "(the limit is cpu_seconds)" in result.description
            await assert_still_converts(pool)


class TestMemory:
    async def test_two_gigabytes_hit_the_address_space_limit(self) -> None:
        """A 2 GiB allocation fails under RLIMIT_AS; after one retry the file is reported out of
        memory, and the pool goes on."""
        async with open_converter_pool(
            settings(address_space_mb=1024), converters=[CHAOS], station_namespace=NAMESPACE
        ) as pool:
            result = await convert(pool, "alloc 2048")
            assert isinstance(result, OutOfMemory)
            assert result.limit == "address_space"
            assert result.limit_bytes == 1024 << 20
            assert result.attempts == 2
            assert result.setting == "address_space_mb"
            assert result.description == (
                "needed more than 1024 MiB of address space (the limit is address_space_mb)"
            )
            await assert_still_converts(pool)

    async def test_growing_rss_is_killed_by_the_watch(self) -> None:
        """Memory that grows past the RSS limit (under a roomy address space) is seen by the
        parent's watch, which kills the worker's process group."""
        async with open_converter_pool(
            settings(memory_mb=200, address_space_mb=4096, poll_interval=0.02),
            converters=[CHAOS],
            station_namespace=NAMESPACE,
        ) as pool:
            result = await convert(pool, "grow 1000")
            assert isinstance(result, OutOfMemory)
            assert result.limit == "rss"
            assert result.peak_rss > 200 << 20
            assert result.attempts == 2
            assert result.setting == "memory_mb"
            assert result.description == (
                "needed more than 200 MiB of resident memory (the limit is memory_mb)"
            )
            await assert_still_converts(pool)

    async def test_memory_under_the_limits_converts(self) -> None:
        """An allocation within the limits is fine (the limits are not too tight to work)."""
        async with open_converter_pool(
            settings(), converters=[CHAOS], station_namespace=NAMESPACE
        ) as pool:
            result = await convert(pool, "alloc 100")
            assert isinstance(result, Converted)


class TestCrash:
    async def test_segfault_crashes_after_one_retry_on_a_fresh_worker(self) -> None:
        """A converter that kills its worker with SIGSEGV is retried once on a fresh worker and
        then reported as crashed, with the fault handler's traceback."""
        async with open_converter_pool(
            settings(), converters=[CHAOS], station_namespace=NAMESPACE
        ) as pool:
            result = await convert(pool, "segv")
            assert isinstance(result, Crashed)
            assert result.returncode == -11
            assert result.description == "killed by SIGSEGV"
            assert result.attempts == 2
            assert "Segmentation fault" in result.stderr
            stats = pool.statistics()
            assert stats.retries == 1
            assert stats.worker_crashes == 2
            await assert_still_converts(pool)

    async def test_retry_runs_on_a_fresh_process(self) -> None:
        """With two warm workers, the retry does not run on the other worker's warm process: it
        runs on a process that has converted nothing before."""
        async with open_converter_pool(
            settings(workers=2), converters=[CHAOS], station_namespace=NAMESPACE
        ) as pool:
            for _ in range(2):  # both workers have converted something
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(convert, pool, "fine")
                    nursery.start_soon(convert, pool, "fine")
            result = await convert(pool, "exit")
            assert isinstance(result, Crashed)
            assert result.description == "exited with status 7"
            assert result.attempts == 2
            assert "FILES BEFORE 0" in result.stderr  # the second attempt's process was fresh
            assert pool.statistics().worker_crashes == 2

    async def test_a_file_that_fails_once_converts_on_retry(self, tmp_path: object) -> None:
        """A worker that dies on the first attempt only (a flaky cause) does not fail the file:
        the fresh worker converts it and the result says it took two attempts."""
        # The first worker process is killed from outside while it converts a slow file.
        async with open_converter_pool(
            settings(), converters=[CHAOS], station_namespace=NAMESPACE
        ) as pool:
            pid = pool.statistics().slots[0].pid
            assert pid is not None

            async def kill_soon() -> None:
                await trio.sleep(0.3)
                psutil.Process(pid).kill()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(kill_soon)
                result = await convert(pool, "grow 300")
            assert isinstance(result, Converted)
            assert result.attempts == 2
            assert result.reports[0].wsjf.count(b"GROW-300") == 1

    async def test_garbage_on_the_protocol_channel_is_a_crash(self) -> None:
        """A worker whose protocol stream carries garbage is killed and treated as crashed."""
        async with open_converter_pool(
            settings(), converters=[CHAOS], station_namespace=NAMESPACE
        ) as pool:
            result = await convert(pool, "garbage")
            assert isinstance(result, Crashed)
            assert result.description.startswith("protocol violation")
            assert result.attempts == 2
            await assert_still_converts(pool)

    async def test_print_to_stdout_does_not_corrupt_the_protocol(self) -> None:
        """print(), sys.stdout and writes to fd 1 go to standard error, not into the protocol."""
        async with open_converter_pool(
            settings(), converters=[CHAOS], station_namespace=NAMESPACE
        ) as pool:
            result = await convert(pool, "print")
            assert isinstance(result, Converted)
            assert result.attempts == 1


class TestProcessTree:
    async def test_forked_children_die_with_the_worker(self) -> None:
        """A converter that forks a child and a daemonised grandchild (new session) and hangs:
        the timeout kills the worker's whole tree, grandchild included (seen from outside: the
        worker's pids are those of its own PID namespace)."""
        async with open_converter_pool(
            settings(timeout=1.5), converters=[CHAOS], station_namespace=NAMESPACE
        ) as pool:
            with watching_descendants(pool) as seen:
                result = await convert(pool, "fork")
            assert isinstance(result, TimedOut)
            assert len(re.findall(r"CHILDREN (\d+) (\d+)", result.stderr)) == 1
            await assert_all_gone(seen, at_least=4)  # launcher, worker, child, grandchild

    async def test_children_left_behind_are_killed_and_the_worker_recycled(self) -> None:
        """A converter that returns but leaves processes running still converts the file; the
        worker is replaced so those processes die with it."""
        async with open_converter_pool(
            settings(), converters=[CHAOS], station_namespace=NAMESPACE
        ) as pool:
            with watching_descendants(pool) as seen:
                result = await convert(pool, "fork-and-return")
            assert isinstance(result, Converted)
            await assert_all_gone(seen, at_least=4)
            assert pool.statistics().recycles >= 1, pool.statistics()
            await assert_still_converts(pool)


class TestSurvival:
    @pytest.mark.parametrize("workers", [1, 2])
    async def test_pool_survives_every_failure_in_a_row(self, workers: int) -> None:
        """One pool meets every kind of bad file, in a row and concurrently with good files,
        and still converts good files afterwards; every failure is typed."""
        async with open_converter_pool(
            settings(workers=workers, timeout=1.0, address_space_mb=1024),
            converters=[CHAOS],
            station_namespace=NAMESPACE,
        ) as pool:
            bad = ["raise", "hang", "alloc 2048", "segv", "garbage", "exit", "fork"]
            results: dict[str, object] = {}
            good: list[object] = []

            async def one(command: str) -> None:
                results[command] = await convert(pool, command)

            async def goods() -> None:
                for i in range(5):
                    good.append(await convert(pool, f"good-{i}"))

            with trio.fail_after(90):
                async with trio.open_nursery() as nursery:
                    for command in bad:
                        nursery.start_soon(one, command)
                    nursery.start_soon(goods)
            assert isinstance(results["raise"], Rejected)
            assert isinstance(results["hang"], TimedOut)
            assert isinstance(results["alloc 2048"], OutOfMemory)
            assert isinstance(results["segv"], Crashed)
            assert isinstance(results["garbage"], Crashed)
            assert isinstance(results["exit"], Crashed)
            assert isinstance(results["fork"], TimedOut)
            assert all(isinstance(r, Converted) for r in good)
            await assert_still_converts(pool)
            assert pool.statistics().conversions == len(bad) + 5 + 1
            with trio.fail_after(10):  # the last crashed worker may still be in its backoff
                while pool.statistics().ready < workers:
                    await trio.sleep(0.02)
