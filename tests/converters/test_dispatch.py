"""How files get to workers: a caller starts its file on an idle worker itself, callers that find
none queue (and leave the queue when cancelled), requests and answers larger than a pipe, and an
idle worker that outlives a deadline, dies, or writes without being asked.

Real processes on the real clock, every wait under ``fail_after``.
"""

from __future__ import annotations

import os
import signal

import msgspec
import pytest
import trio

from converters import Converted, ConverterPool, open_converter_pool

from .conftest import NAMESPACE, plugin, settings

CHAOS, ECHO = plugin("Chaos"), plugin("Echo")
PIPE = 1 << 16  # a Linux pipe's default capacity


async def converts(pool: ConverterPool, data: bytes = b"fine") -> Converted:
    with trio.fail_after(30):
        result = await pool.convert(data, "file.txt", "chaos")
    assert isinstance(result, Converted), result
    return result


class TestLargeMessages:
    @pytest.mark.parametrize("callers", [1, 3])
    async def test_a_request_larger_than_the_pipe(self, callers: int) -> None:
        """A file much larger than the pipe converts, whether its caller starts it on an idle
        worker (the slot writes what the pipe did not take) or it waits in the queue."""
        data = b"big " + b"x" * (5 * PIPE)
        async with open_converter_pool(
            settings(), converters=[CHAOS], station_namespace=NAMESPACE
        ) as pool:
            results: list[Converted] = []

            async def one() -> None:
                results.append(await converts(pool, data))

            async with trio.open_nursery() as nursery:
                for _ in range(callers):
                    nursery.start_soon(one)
            assert [r.attempts for r in results] == [1] * callers
            assert pool.statistics().worker_restarts == 0

    async def test_an_answer_larger_than_the_pipe(self) -> None:
        """Several hundred reports (an answer many pipe-fulls long) arrive whole and in order."""
        lines = [f"SN-{i:04d}" for i in range(600)]
        async with open_converter_pool(
            settings(), converters=[ECHO], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(60):
                result = await pool.convert("\n".join(lines).encode(), "many.echo", "echo")
        assert isinstance(result, Converted)
        assert sum(len(r.wsjf) for r in result.reports) > 2 * PIPE
        assert [msgspec.json.decode(r.wsjf)["sn"] for r in result.reports] == lines


class TestQueue:
    async def test_a_cancelled_caller_leaves_the_queue(self) -> None:
        """A caller cancelled while it waits for a worker takes its file with it: the worker
        never converts it."""
        async with open_converter_pool(
            settings(), converters=[CHAOS], station_namespace=NAMESPACE
        ) as pool:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(converts, pool, b"sleep 0.5")
                await trio.sleep(0.1)
                with trio.move_on_after(0.1) as waited:
                    await pool.convert(b"fine", "queued.txt", "chaos")
                assert waited.cancelled_caught
                assert pool.statistics().waiting == 0
            await trio.sleep(0.3)
            stats = pool.statistics()
            assert stats.slots[0].conversions == 1  # the sleeper only
            assert (stats.busy, stats.waiting) == (0, 0)
            await converts(pool)

    async def test_a_file_handed_over_is_converted_even_if_its_caller_leaves(self) -> None:
        """A caller cancelled after its file reached a worker: the file is converted to the end,
        its result dropped, and the worker serves the next file as usual."""
        async with open_converter_pool(
            settings(), converters=[CHAOS], station_namespace=NAMESPACE
        ) as pool:
            with trio.move_on_after(0.1) as waited:
                await pool.convert(b"sleep 0.4", "left.txt", "chaos")
            assert waited.cancelled_caught
            assert pool.statistics().busy == 1
            result = await converts(pool)
            assert result.timings.queued > 0.1  # it waited for the abandoned file
            stats = pool.statistics()
            assert stats.slots[0].conversions == 2
            assert (stats.busy, stats.worker_restarts) == (0, 0)

    async def test_a_name_that_is_not_unicode_is_converted(self) -> None:
        """A file name with bytes that are not UTF-8 (Python keeps them as surrogates) is
        converted like any other: the converter sees U+FFFD in their place, and the result
        names the file that way."""
        async with open_converter_pool(
            settings(), converters=[CHAOS], station_namespace=NAMESPACE
        ) as pool:
            with trio.fail_after(10):
                result = await pool.convert(b"fine", "bad-\udcff.txt", "chaos")
            assert isinstance(result, Converted)
            assert result.name == "bad-\ufffd.txt"
            assert pool.statistics().busy == 0


class TestIdleWorkers:
    async def test_an_idle_worker_outlives_the_last_deadline(self) -> None:
        """The wall-clock deadline of the last file passing while the worker is idle changes
        nothing: the same process converts the next file."""
        async with open_converter_pool(
            settings(timeout=0.5), converters=[CHAOS], station_namespace=NAMESPACE
        ) as pool:
            await converts(pool)
            pid = pool.statistics().slots[0].pid
            await trio.sleep(1.2)
            await converts(pool)
            stats = pool.statistics()
            assert stats.slots[0].pid == pid
            assert (stats.worker_restarts, stats.recycles, stats.timed_out) == (0, 0, 0)

    async def test_an_idle_worker_that_dies_is_replaced(self) -> None:
        """A worker killed while it has nothing to do is replaced; no file is affected."""
        async with open_converter_pool(
            settings(), converters=[CHAOS], station_namespace=NAMESPACE
        ) as pool:
            await converts(pool)
            pid = pool.statistics().slots[0].pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            with trio.fail_after(30):
                while pool.statistics().slots[0].pid in (pid, None):
                    await trio.sleep(0.02)
            result = await converts(pool)
            stats = pool.statistics()
            assert result.attempts == 1
            assert (stats.worker_restarts, stats.worker_crashes, stats.crashed) == (1, 0, 0)

    async def test_a_worker_that_writes_while_idle_is_replaced(self) -> None:
        """Bytes on the protocol channel when no file was asked for: the worker is replaced
        at once, and no file is blamed."""
        async with open_converter_pool(
            settings(), converters=[CHAOS], station_namespace=NAMESPACE
        ) as pool:
            first = await converts(pool, b"garbage-later")
            pid = pool.statistics().slots[0].pid
            with trio.fail_after(30):
                while pool.statistics().slots[0].pid in (pid, None):
                    await trio.sleep(0.02)
            second = await converts(pool)
            stats = pool.statistics()
            assert (first.attempts, second.attempts) == (1, 1)
            assert (stats.worker_restarts, stats.crashed) == (1, 0)
