"""The upload process behind ``open_wats_client(..., separate_process=True)``.

What the client tests cannot show, because the process is invisible when all goes well: what
happens when it dies, hangs or cannot start, that it leaves nothing behind, and how the process
itself treats its input.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import IO

import psutil
import pytest
import trio

from pywats_actors.client import (
    WatsConnectError,
    WatsConnectionLost,
    WatsTimeout,
    open_wats_client,
)
from pywats_actors.client._process import open_process_exchange
from pywats_actors.client._wire import Call, Open, Ready, Reply, encode, from_process
from pywats_actors.emulator import Emulator, Faults
from supervisors import ChildRestarting, ExitKind, open_supervisor
from supervisors.testing import EventRecorder

from .conftest import TOKEN, WsjfFactory, settings_for

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups")


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def _pid_when_ready(exchange: Callable[[], int | None]) -> int:
    with trio.fail_after(30):
        while (pid := exchange()) is None:
            await trio.sleep(0.01)
    return pid


class TestLifecycle:
    async def test_calls_go_through_a_child_process(
        self, emulator: Emulator, wsjf: WsjfFactory
    ) -> None:
        """The exchange runs in a child of this process, which never sees the token on its
        command line or in its environment; closing the block ends it."""
        async with open_process_exchange(settings_for(emulator.url)) as exchange:
            report_id, data = wsjf()
            answer = await exchange("submit", data, report_id)
            pid = await _pid_when_ready(lambda: exchange.pid)
            child = psutil.Process(pid)
            assert child.ppid() == os.getpid()
            assert "pywats_actors.client._sender" in " ".join(child.cmdline())
            # the token travels in the first frame, never in argv or the environment
            assert TOKEN not in " ".join(child.cmdline())
            assert TOKEN not in " ".join(child.environ().values())
        assert answer.status == 200
        assert emulator.stored_report(report_id) == data
        with trio.fail_after(10):
            while not _gone(pid):
                await trio.sleep(0.01)

    async def test_no_process_until_the_first_submission(
        self, emulator: Emulator, wsjf: WsjfFactory
    ) -> None:
        """A client that only asks the version (a node starting up, the server monitor) starts
        no process; the first submission does."""
        settings = settings_for(emulator.url)
        async with open_wats_client(settings, separate_process=True) as wats:
            await wats.server_version()
            await wats.ping()
            assert _sender_children() == []
            report_id, data = wsjf()
            await wats.submit_wsjf(data, report_id)
            assert len(_sender_children()) == 1
        assert _sender_children() == []

    async def test_a_killed_process_fails_calls_in_flight_and_is_replaced(
        self, emulator: Emulator, wsjf: WsjfFactory
    ) -> None:
        """SIGKILL mid-call: the call fails as 'connection lost' (the server may have the
        report), a new process starts, and the next call with the same id succeeds."""
        report_id, data = wsjf()
        async with open_process_exchange(settings_for(emulator.url)) as exchange:
            warm_id, warm = wsjf()
            await exchange("submit", warm, warm_id)  # the first call starts the process
            first = await _pid_when_ready(lambda: exchange.pid)
            emulator.set_faults(Faults(latency=5.0))
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_kill_soon, first)
                with pytest.raises(WatsConnectionLost, match="upload process") as caught:
                    await exchange("submit", data, report_id)
            assert caught.value.maybe_delivered
            emulator.set_faults(Faults())
            with trio.fail_after(30):
                answer = await exchange("submit", data, report_id)
            second = exchange.pid
        assert answer.status == 200
        assert second is not None
        assert second != first
        assert exchange.starts == 2

    async def test_a_stuck_process_is_replaced(
        self, emulator: Emulator, wsjf: WsjfFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A process that stops answering (SIGSTOP) fails the call with a timeout after the
        attempt deadline plus a grace, and is killed and replaced."""
        monkeypatch.setattr("pywats_actors.client._process._STUCK_AFTER", 0.5)
        settings = settings_for(emulator.url, attempt_timeout=1.0)
        report_id, data = wsjf()
        async with open_process_exchange(settings) as exchange:
            warm_id, warm = wsjf()
            await exchange("submit", warm, warm_id)  # the first call starts the process
            first = await _pid_when_ready(lambda: exchange.pid)
            os.kill(first, signal.SIGSTOP)
            with trio.fail_after(20), pytest.raises(WatsTimeout, match="no answer"):
                await exchange("submit", data, report_id)
            with trio.fail_after(30):
                answer = await exchange("submit", data, report_id)
            assert exchange.pid != first
        assert answer.status == 200
        with trio.fail_after(10):
            while not _gone(first):
                await trio.sleep(0.01)

    async def test_a_process_that_cannot_start_gives_connect_errors(
        self, wsjf: WsjfFactory
    ) -> None:
        """Settings the process cannot open with (a CA bundle that does not exist) make calls
        fail at once with WatsConnectError saying why; nothing was sent."""
        settings = settings_for("https://127.0.0.1:9", verify_tls="/nonexistent/ca.pem")
        report_id, data = wsjf()
        async with open_process_exchange(settings) as exchange:
            with trio.fail_after(30), pytest.raises(WatsConnectError) as caught:
                await exchange("submit", data, report_id)
        assert "could not be started" in str(caught.value)
        assert not caught.value.maybe_delivered


class TestSupervisedByTheCaller:
    """``supervise_process=False``: the caller's supervisor runs the process (the node's uplink)."""

    async def test_a_killed_process_is_restarted_by_the_callers_supervisor(
        self, emulator: Emulator, wsjf: WsjfFactory
    ) -> None:
        """SIGKILL mid-call: the call fails as 'connection lost', the caller's supervisor sees
        the crash (the exit code) and restarts the child with backoff, and the same id then
        goes through."""
        recorder = EventRecorder()
        report_id, data = wsjf()
        settings = settings_for(emulator.url)
        async with open_wats_client(
            settings, separate_process=True, supervise_process=False
        ) as wats:
            spec = wats.upload_process_spec()
            assert spec is not None
            async with open_supervisor(
                [spec], name="uplink", observers=[recorder], stop_grace=10
            ) as supervisor:
                warm_id, warm = wsjf()
                await wats.submit_wsjf(warm, warm_id)  # the first call starts the process
                (first,) = _sender_children()
                emulator.set_faults(Faults(latency=5.0))
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_kill_soon, first.pid)
                    with pytest.raises(WatsConnectionLost, match="upload process"):
                        await wats.submit_wsjf(data, report_id)
                emulator.set_faults(Faults())
                with trio.fail_after(30):
                    accepted = await wats.submit_wsjf(data, report_id)
                (child,) = supervisor.statistics().children
            assert _sender_children() == []  # stopped with the supervisor
        assert accepted.report_id == report_id
        assert (child.id, child.restarts) == ("upload-process", 1)
        (crash,) = recorder.exits("upload-process")[:1]
        assert crash.reason.returncode == -signal.SIGKILL
        (restart,) = recorder.of_type(ChildRestarting)
        assert 0.1 <= restart.delay <= 0.12  # PROCESS_BACKOFF's first step, with jitter
        assert [e.reason.kind for e in recorder.exits("upload-process")][1:] == [ExitKind.SHUTDOWN]

    async def test_without_a_supervisor_nothing_is_started(
        self, emulator: Emulator, wsjf: WsjfFactory
    ) -> None:
        """A client whose caller did not run the child starts no process of its own."""
        report_id, data = wsjf()
        async with open_wats_client(
            settings_for(emulator.url), separate_process=True, supervise_process=False
        ) as wats:
            with trio.move_on_after(1):
                await wats.submit_wsjf(data, report_id)
            assert _sender_children() == []
        assert emulator.stats().requests == 0


def _sender_children() -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process().children()
        if child.status() != psutil.STATUS_ZOMBIE
        and "pywats_actors.client._sender" in " ".join(child.cmdline())
    ]


async def _kill_soon(pid: int) -> None:
    await trio.sleep(0.5)
    os.kill(pid, signal.SIGKILL)


class TestTheProcessItself:
    """``python -m pywats_actors.client._sender`` driven by hand through its pipes."""

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "pywats_actors.client._sender"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    async def test_answers_and_exits_when_its_input_ends(
        self, emulator: Emulator, wsjf: WsjfFactory
    ) -> None:
        """Open, one call, end of input: a Ready, a Reply, and exit status 0. SIGTERM, once
        it is running, does not end it: only its input does."""
        report_id, data = wsjf()
        proc = self._start()
        assert proc.stdin is not None
        assert proc.stdout is not None
        stdin, stdout = proc.stdin, proc.stdout
        stdin.write(encode(Open(settings_for(emulator.url))))
        stdin.flush()
        ready = await trio.to_thread.run_sync(_read_frame, stdout)
        assert isinstance(ready, Ready)
        proc.send_signal(signal.SIGTERM)
        stdin.write(encode(Call(7, "submit", data, report_id)))
        stdin.flush()
        reply = await trio.to_thread.run_sync(_read_frame, stdout)
        assert isinstance(reply, Reply)
        assert (reply.seq, reply.status) == (7, 200)
        out, err = await trio.to_thread.run_sync(lambda: proc.communicate(b"", timeout=30))
        assert proc.returncode == 0, err
        assert out == b""
        assert emulator.stored_report(report_id) == data

    async def test_answers_nobody_can_read_end_it_quietly(
        self, emulator: Emulator, wsjf: WsjfFactory
    ) -> None:
        """When the parent's end of its output is gone (the parent died) as an answer comes
        back, it exits 0 and writes nothing to standard error (the node's log)."""
        emulator.set_faults(Faults(latency=0.3))
        report_id, data = wsjf()
        proc = self._start()
        assert proc.stdin is not None
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdin.write(encode(Open(settings_for(emulator.url))))
        proc.stdin.flush()
        ready = await trio.to_thread.run_sync(_read_frame, proc.stdout)
        assert isinstance(ready, Ready)
        proc.stdin.write(encode(Call(1, "submit", data, report_id)))
        proc.stdin.flush()
        proc.stdout.close()  # nobody will read the answer
        with trio.fail_after(30):
            while proc.poll() is None:
                await trio.sleep(0.02)
        err = proc.stderr.read()
        proc.stdin.close()
        proc.stderr.close()
        assert proc.returncode == 0, err
        assert err == b""
        assert emulator.stats().accepted == 1

    @pytest.mark.parametrize(
        "garbage",
        [b"\x00\x00\x00\x05hello", b"\xff\xff\xff\xff", b"\x00\x00\x00\x10short"],
        ids=["not-msgpack", "huge-length", "truncated"],
    )
    async def test_garbage_input_is_a_clear_error(self, garbage: bytes) -> None:
        """Bytes that are not frames: exit status 2 and a message, no traceback."""
        proc = self._start()
        out, err = await trio.to_thread.run_sync(lambda: proc.communicate(garbage, timeout=30))
        assert proc.returncode == 2
        assert b"bad frame from the node" in err
        assert b"Traceback" not in err
        for line in err.splitlines():
            assert json.loads(line)["level"] == "error"
        assert out == b""


def _read_frame(stream: IO[bytes]) -> object:
    length = int.from_bytes(stream.read(4), "big")
    return from_process.decode(stream.read(length))


def _split(data: bytes) -> list[object]:
    messages: list[object] = []
    while data:
        length = int.from_bytes(data[:4], "big")
        messages.append(from_process.decode(data[4 : 4 + length]))
        data = data[4 + length :]
    return messages
