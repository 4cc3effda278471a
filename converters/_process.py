"""One worker process, seen from the parent: start it, talk to it, watch it, kill it.

:func:`open_worker` starts ``python -I -m converters._worker`` through
:func:`supervisors.open_supervised_process` (a session of its own, always reaped) with a scrubbed
environment and a private temporary working directory, drains its standard error into a bounded
tail, and completes the ``Setup``/``Hello`` handshake. :meth:`WorkerProcess.run` sends one request
and waits for the answer while it watches the process: the answer, a crash, a protocol violation,
the wall-clock timeout, or the RSS/CPU limits - whichever comes first. On an overrun the whole
process tree is killed: the process group, plus every descendant seen (the worker is a child
subreaper, so a converter's daemonised grandchildren stay in its tree).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

import msgspec
import psutil
import trio

from supervisors import open_supervised_process

from ._errors import WorkerStartError
from ._protocol import (
    HEADER,
    Done,
    FrameError,
    Hello,
    Refused,
    Request,
    Setup,
    decode_worker_message,
    encode_frame,
)
from ._sandbox import Limits
from ._settings import PoolSettings

__all__ = ["JobFailure", "WorkerProcess", "describe_exit", "open_worker"]

logger = logging.getLogger("converters.worker")

_MiB = 1 << 20
_STDERR_TAIL = 16 * 1024
_EXIT_WAIT = 2.0
_ENV_PASSTHROUGH = ("TZ", "LD_LIBRARY_PATH")


@dataclass(frozen=True, slots=True)
class JobFailure:
    """The worker process died or was killed while converting.

    Attributes:
        kind: ``crashed``, ``wall`` / ``cpu`` (timed out), or ``rss`` (out of memory).
        description: one line for an operator.
        returncode: the exit status (negative: a signal), when the process ended by itself.
        stderr: the tail of its standard error.
        peak_rss: the largest RSS seen during the job, in bytes.
    """

    kind: Literal["crashed", "wall", "cpu", "rss"]
    description: str
    returncode: int | None
    stderr: str
    peak_rss: int


def describe_exit(returncode: int | None) -> str:
    """``exited with status 3`` / ``killed by SIGSEGV`` / ``still running``."""
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"


class _FrameReader:
    """Length-prefixed frames from a byte stream, with a size limit."""

    def __init__(self, stream: trio.abc.ReceiveStream, limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self._buffer = bytearray()

    async def receive(self) -> bytes | None:
        """The next frame's payload; ``None`` at end of stream between frames.

        Raises:
            FrameError: a length over the limit, or the stream ended inside a frame.
        """
        header = await self._take(HEADER.size)
        if header is None:
            return None
        (length,) = HEADER.unpack(header)
        if length > self._limit:
            raise FrameError(f"frame of {length} bytes exceeds the limit of {self._limit}")
        payload = await self._take(length)
        if payload is None:
            raise FrameError(f"stream ended before the {length}-byte frame it announced")
        return payload

    async def _take(self, size: int) -> bytes | None:
        while len(self._buffer) < size:
            chunk = await self._stream.receive_some(max(65536, size - len(self._buffer)))
            if not chunk:
                if self._buffer:
                    raise FrameError(f"stream ended inside a frame ({len(self._buffer)} bytes)")
                return None
            self._buffer += chunk
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data


class WorkerProcess:
    """A live, handshaken worker process. One task uses it at a time.

    Attributes:
        pid: the process id (and process group id).
        hello: what the worker said when it was ready.
        jobs_done: files it has converted (any answer).
        cpu_total: CPU seconds it had used at its last answer.
        tainted: it left processes behind or ran out of memory; replace it.
    """

    def __init__(
        self, process: trio.Process, settings: PoolSettings, stderr_done: trio.Event
    ) -> None:
        assert process.stdin is not None
        assert process.stdout is not None
        self._process = process
        self._stdin = process.stdin
        self._reader = _FrameReader(process.stdout, settings.max_output)
        self._settings = settings
        self._stderr_tail = bytearray()
        self._stderr_done = stderr_done
        self._psutil = psutil.Process(process.pid)
        self._seen: dict[int, float] = {}  # descendants seen: pid -> create_time
        self._watch: _Watch | None = None
        self.pid = process.pid
        self.hello: Hello | None = None
        self.jobs_done = 0
        self.cpu_total = 0.0
        self.tainted = False

    @property
    def returncode(self) -> int | None:
        """The exit status once it has exited."""
        return self._process.returncode

    def stderr(self) -> str:
        """The tail of what it wrote to standard error."""
        return self._stderr_tail.decode("utf-8", "replace")[-4000:]

    def add_stderr(self, chunk: bytes | bytearray) -> None:
        """Append to the bounded standard-error tail."""
        self._stderr_tail += chunk
        if len(self._stderr_tail) > _STDERR_TAIL:
            del self._stderr_tail[: len(self._stderr_tail) - _STDERR_TAIL]

    async def wait_exited(self) -> int:
        """Block until the process has exited; its status."""
        return await self._process.wait()

    async def handshake(self, setup: Setup) -> Hello:
        """Send ``Setup`` and wait for ``Hello``.

        Raises:
            WorkerStartError: no valid ``Hello`` within the start timeout; the process is killed.
        """
        problem = f"did not get ready within {self._settings.start_timeout:g} s"
        with trio.move_on_after(self._settings.start_timeout):
            try:
                await self._stdin.send_all(encode_frame(setup))
                payload = await self._reader.receive()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                payload = None
            except FrameError as exc:
                raise await self._start_failed(f"protocol violation: {exc}") from None
            if payload is None:
                status = await self._exit_status()
                raise await self._start_failed(f"ended before it was ready ({status})")
            try:
                message = decode_worker_message(payload)
            except FrameError as exc:
                raise await self._start_failed(f"protocol violation: {exc}") from None
            if not isinstance(message, Hello):
                kind = type(message).__name__
                raise await self._start_failed(f"protocol violation: expected Hello, got {kind}")
            self.hello = message
            return message
        raise await self._start_failed(problem)

    async def _start_failed(self, problem: str) -> WorkerStartError:
        self.kill_tree()
        with trio.CancelScope(shield=True), trio.move_on_after(1.0):
            await self._stderr_done.wait()
        return WorkerStartError(f"worker {self.pid} {problem}", self.stderr())

    async def run(self, request: Request) -> Done | Refused | JobFailure:
        """Have the worker convert one file, under the timeout and the RSS/CPU watch.

        The RSS/CPU watch is :meth:`monitor`, which must be running in a task beside this one.

        Returns:
            The worker's answer, or a :class:`JobFailure` after which the process is dead (it
            has been killed, or it died by itself) and must be replaced.

        Cancellation: the process tree is killed; the caller must replace the worker.
        """
        watch = _Watch(baseline_cpu=self.cpu_total)
        payload: bytes | None = None
        violation: str | None = None
        finished = False
        try:
            with trio.move_on_after(self._settings.timeout) as wall, trio.CancelScope() as scope:
                watch.scope = scope
                self._watch = watch
                try:
                    await self._stdin.send_all(encode_frame(request))
                    payload = await self._reader.receive()
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    payload = None
                except FrameError as exc:
                    violation = str(exc)
            finished = True
        finally:
            self._watch = None
            if not finished:  # cancelled (or a bug): the process is in an unknown state
                self.kill_tree()
        if watch.overrun is not None:
            return await self._failed(watch.overrun, watch)
        if wall.cancelled_caught:
            return await self._failed("wall", watch)
        if violation is not None:
            return await self._failed("crashed", watch, f"protocol violation: {violation}")
        if payload is None:
            return await self._died(watch)
        try:
            answer = decode_worker_message(payload)
        except FrameError as exc:
            return await self._failed("crashed", watch, f"protocol violation: {exc}")
        if not isinstance(answer, Done | Refused) or answer.job != request.job:
            return await self._failed("crashed", watch, "protocol violation: unexpected answer")
        self.jobs_done += 1
        self.cpu_total = answer.cpu_total
        if answer.children_left:
            logger.warning("worker %d: the converter left processes running", self.pid)
            self.tainted = True
        if isinstance(answer, Refused) and answer.kind == "out_of_memory":
            self.tainted = True
        return answer

    async def monitor(self) -> None:
        """Watch the RSS (worker and descendants) and CPU of the job in progress, every
        ``poll_interval``; on overrun, kill the tree and end the job. Runs until cancelled."""
        settings = self._settings
        rss_limit = settings.memory_mb * _MiB
        cpu_limit = settings.cpu_seconds + 1.0  # RLIMIT_CPU normally fires first
        while True:
            await trio.sleep(settings.poll_interval)
            watch = self._watch
            if watch is None:
                continue
            try:
                rss = self._psutil.memory_info().rss
                times = self._psutil.cpu_times()
                for child in self._psutil.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        rss += child.memory_info().rss
                        self._seen.setdefault(child.pid, child.create_time())
            except psutil.Error:
                return  # it is gone; the closed pipe tells the rest
            watch.peak_rss = max(watch.peak_rss, rss)
            if rss > rss_limit:
                watch.overrun = "rss"
            elif times.user + times.system - watch.baseline_cpu > cpu_limit:
                watch.overrun = "cpu"
            if watch.overrun is not None:
                self.kill_tree()
                if watch.scope is not None:
                    watch.scope.cancel()

    def kill_tree(self) -> None:
        """SIGKILL the process group and every descendant seen, now."""
        with contextlib.suppress(psutil.Error):
            for child in self._psutil.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    self._seen[child.pid] = child.create_time()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        for pid, created in self._seen.items():
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(pid)
                if process.create_time() == created:
                    process.kill()

    # -- internals ----------------------------------------------------------------------------

    async def _exit_status(self) -> str:
        with trio.move_on_after(_EXIT_WAIT):
            await self._process.wait()
        return describe_exit(self._process.returncode)

    async def _died(self, watch: _Watch) -> JobFailure:
        """The answer stream ended: find out how the process ended."""
        with trio.move_on_after(_EXIT_WAIT):
            await self._process.wait()
        code = self._process.returncode
        if code is None:  # closed its output but lives on
            return await self._failed("crashed", watch, "closed its output without answering")
        if code == -signal.SIGXCPU:
            return await self._failed("cpu", watch, f"{describe_exit(code)} (CPU limit)")
        return await self._failed("crashed", watch, describe_exit(code))

    async def _failed(
        self,
        kind: Literal["crashed", "wall", "cpu", "rss"],
        watch: _Watch,
        description: str | None = None,
    ) -> JobFailure:
        settings = self._settings
        if description is None:
            description = {
                "wall": f"took longer than {settings.timeout:g} s; killed",
                "cpu": f"used more than {settings.cpu_seconds} s of CPU; killed",
                "rss": f"used more than {settings.memory_mb} MiB of memory; killed",
                "crashed": "crashed",
            }[kind]
        self.kill_tree()
        with trio.move_on_after(_EXIT_WAIT):
            await self._process.wait()
        with trio.move_on_after(0.5):
            await self._stderr_done.wait()
        return JobFailure(
            kind, description, self._process.returncode, self.stderr(), watch.peak_rss
        )


@dataclass(slots=True)
class _Watch:
    """The job in progress, as the monitor sees it."""

    baseline_cpu: float
    peak_rss: int = 0
    overrun: Literal["rss", "cpu"] | None = None
    scope: trio.CancelScope | None = None


def worker_command(settings: PoolSettings) -> list[str]:
    """The command line of a worker process."""
    limits = Limits(
        address_space=settings.address_space_mb * _MiB,
        cpu_lifetime=settings.cpu_lifetime_seconds,
        open_files=settings.open_files,
        file_size=settings.max_written_file_mb * _MiB,
    )
    return [
        settings.python,
        "-I",
        "-B",
        "-X",
        "utf8",
        "-m",
        "converters._worker",
        "--address-space",
        str(limits.address_space),
        "--cpu-lifetime",
        str(limits.cpu_lifetime),
        "--open-files",
        str(limits.open_files),
        "--file-size",
        str(limits.file_size),
    ]


def worker_environment(temp_dir: str) -> dict[str, str]:
    """A scrubbed environment: what Python needs, and the private folder as home and TMPDIR."""
    env = {
        "PATH": os.defpath,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": temp_dir,
        "TMPDIR": temp_dir,
    }
    for key in _ENV_PASSTHROUGH:
        if key in os.environ:
            env[key] = os.environ[key]
    return env


async def _drain_stderr(process: trio.Process, worker: WorkerProcess, done: trio.Event) -> None:
    """Keep the tail of the worker's standard error (and log it at DEBUG) until it closes."""
    assert process.stderr is not None
    try:
        async for chunk in process.stderr:
            worker.add_stderr(chunk)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "worker %d stderr: %s",
                    process.pid,
                    chunk.decode("utf-8", "replace").rstrip(),
                )
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        done.set()


@asynccontextmanager
async def open_worker(settings: PoolSettings, setup: Setup) -> AsyncIterator[WorkerProcess]:
    """Start a worker process, complete its handshake, and yield it.

    ``setup.temp_dir`` is ignored: a private folder is created for each process and removed
    with it. When the block ends, for whatever reason, the whole process tree is killed and the
    process is reaped.

    Raises:
        WorkerStartError: the process did not answer ``Setup`` with ``Hello`` in time.

    Cancellation: the tree is killed and reaped (shielded, milliseconds).
    """
    temp_dir = await trio.to_thread.run_sync(
        lambda: tempfile.mkdtemp(prefix="pywats-worker-", dir=settings.temp_root)
    )
    try:
        setup = _with_temp_dir(setup, temp_dir)
        async with open_supervised_process(
            worker_command(settings),
            env=worker_environment(temp_dir),
            cwd=temp_dir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as process:
            done = trio.Event()
            worker = WorkerProcess(process, settings, done)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_drain_stderr, process, worker, done)
                try:
                    await worker.handshake(setup)
                    yield worker
                finally:
                    worker.kill_tree()
                    nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(10):
            await trio.to_thread.run_sync(lambda: shutil.rmtree(temp_dir, ignore_errors=True))


def _with_temp_dir(setup: Setup, temp_dir: str) -> Setup:
    return msgspec.structs.replace(setup, temp_dir=temp_dir)
