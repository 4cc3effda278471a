"""One worker process, seen from the parent: start it, talk to it, watch it, kill it.

:func:`open_worker` starts ``python -I -m converters._worker`` through
:func:`supervisors.open_supervised_process` (a session of its own, always reaped) with a scrubbed
environment and a private temporary working directory, drains its standard error into a bounded
tail, and completes the handshake: ``Setup``, then ``Locked`` (the worker locked itself down and
probed its sandbox before importing any converter; the parent checks it against ``/proc`` and
computes the level, :attr:`WorkerProcess.sandbox`), then ``Hello``. The process the parent
starts is the worker's *launcher*; the converting process is its child
(:attr:`WorkerProcess.worker_pid`), in namespaces of its own where the kernel allows.

A job is :meth:`WorkerProcess.begin` (the request goes into the pipe, the job under the watch),
then :meth:`~WorkerProcess.receive` and :meth:`~WorkerProcess.answer`, or
:meth:`~WorkerProcess.failed` / :meth:`~WorkerProcess.died`: the answer, a crash, a protocol
violation, the wall-clock timeout or the RSS/CPU limits, whichever comes first (the pool keeps
the time and the cancel scope). On an overrun the whole process tree is killed: the worker
(which ends its PID namespace), the process group, plus every descendant seen.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import msgspec
import psutil
import trio

from supervisors import FrameReader, open_supervised_process, pipe_error, write_all

from ._errors import WorkerStartError
from ._namespaces import inner_pid
from ._protocol import (
    Done,
    FrameError,
    Hello,
    Locked,
    Part,
    Refused,
    Scores,
    Setup,
    WorkerMessage,
    decode_worker_message,
    encode_frame,
)
from ._sandbox import Limits, SandboxInfo, judge, observe
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


def _write_nowait(stream: trio.abc.SendStream, data: bytes) -> int:
    """Write what a pipe takes now, without waiting; how many bytes (0 for another stream)."""
    if not isinstance(stream, trio.lowlevel.FdStream):
        return 0
    fd = stream.fileno()
    if fd < 0:
        raise trio.ClosedResourceError("the pipe was already closed")
    try:
        return os.write(fd, data)
    except BlockingIOError:
        return 0
    except OSError as exc:
        raise pipe_error(exc) from None


def _has_children(pid: int) -> bool | None:
    """Whether process ``pid`` has child processes (any of its threads'), from
    ``/proc/<pid>/task/<tid>/children``: a few small reads instead of a scan of every process on
    the machine. ``None`` when it cannot tell (no such files, or it changed meanwhile)."""
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            fd = os.open(f"/proc/{pid}/task/{tid}/children", os.O_RDONLY)
            try:
                if os.read(fd, 64).strip():
                    return True
            finally:
                os.close(fd)
    except OSError:
        return None
    return False


class WorkerProcess:
    """A live, handshaken worker process. Its pool slot's task uses it, except :meth:`begin`,
    which a caller's task may call (it does not wait) while the slot waits for the answer.

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
        self._reader = FrameReader(process.stdout, settings.max_frame, error=FrameError)
        self._settings = settings
        self._stderr_tail = bytearray()
        self._stderr_done = stderr_done
        self._psutil = psutil.Process(process.pid)
        self._psutil_worker = self._psutil
        self._seen: dict[int, float] = {}  # descendants seen: pid -> create_time
        self._watch: _Watch | None = None
        self._decoded: tuple[bytes, WorkerMessage] | None = None  # the last frame received
        self.pid = process.pid
        self.worker_pid = process.pid  # the converting process, once the handshake found it
        self.hello: Hello | None = None
        self.sandbox: SandboxInfo | None = None
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
        """Send ``Setup``, wait for ``Locked`` (then judge the sandbox: :attr:`sandbox`) and for
        ``Hello``.

        Raises:
            WorkerStartError: no valid ``Locked`` and ``Hello`` within the start timeout, or a
                sandbox layer the settings require is not in force; the process is killed.
        """
        problem = f"did not get ready within {self._settings.start_timeout:g} s"
        with trio.move_on_after(self._settings.start_timeout):
            # a broken pipe: the stream's end says how the worker ended
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await write_all(self._stdin, encode_frame(setup))
            locked = await self._expect(Locked)
            self.worker_pid = inner_pid(self.pid) or self.pid
            self._psutil_worker = self._watched(self.worker_pid)
            self.sandbox = judge(locked, observe(self.worker_pid))
            missing = _required_missing(self._settings, self.sandbox)
            if missing:
                raise await self._start_failed(
                    f"is not sandboxed as the settings require: {missing} "
                    f"({self.sandbox.note or self.sandbox.level})"
                )
            hello = await self._expect(Hello)
            self.hello = hello
            return hello
        raise await self._start_failed(problem)

    async def _expect(self, kind: type[_StartMessage]) -> _StartMessage:
        """The worker's next frame, which must be a ``kind``."""
        try:
            payload = await self._reader.receive()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            payload = None
        except FrameError as exc:
            raise await self._start_failed(f"protocol violation: {exc}") from None
        if payload is None:
            status = await self.exit_status()
            raise await self._start_failed(f"ended before it was ready ({status})")
        try:
            message = decode_worker_message(payload)
        except FrameError as exc:
            raise await self._start_failed(f"protocol violation: {exc}") from None
        if not isinstance(message, kind):
            got = type(message).__name__
            raise await self._start_failed(
                f"protocol violation: expected {kind.__name__}, got {got}"
            )
        return message

    def _watched(self, pid: int) -> psutil.Process:
        try:
            return psutil.Process(pid)
        except psutil.Error:
            return self._psutil

    async def _start_failed(self, problem: str) -> WorkerStartError:
        self.kill_tree()
        with trio.CancelScope(shield=True), trio.move_on_after(1.0):
            await self._stderr_done.wait()
        return WorkerStartError(f"worker {self.pid} {problem}", self.stderr())

    # -- one job: begin (in the caller's task or the slot's), then answer or fail (the slot's) ---

    def begin(self, request: bytes, scope: trio.CancelScope, job: int = 0) -> _Watch:
        """Start converting a file: put the job under the RSS/CPU watch (:meth:`monitor`) and
        write as much of the ``request`` frame (:func:`encode_frame` of a ``Request``) as the
        pipe takes now, without waiting.

        ``scope`` is what the watch cancels on an overrun (it sets ``overrun`` first). The rest
        of a request the pipe did not take at once is ``watch.unsent`` (:meth:`send_rest`); a
        pipe that is already broken or closed sets ``watch.send_failed`` (the process is dying:
        the answer stream ends, and :meth:`died` says how).
        """
        watch = _Watch(baseline_cpu=self.cpu_total, scope=scope, job=job)
        self._watch = watch
        try:
            written = _write_nowait(self._stdin, request)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            watch.send_failed = True
            return watch
        if written < len(request):
            watch.unsent = memoryview(request)[written:]
        return watch

    async def send_rest(self, watch: _Watch) -> None:
        """Write what the pipe did not take at once (``watch.unsent``), as it drains."""
        unsent, watch.unsent = watch.unsent, None
        if unsent is not None:
            try:
                await write_all(self._stdin, unsent)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                watch.send_failed = True

    async def receive(self) -> bytes | None:
        """The worker's next frame, except the ``Part`` frames of the job in progress, which are
        kept for :meth:`answer`; ``None`` when its output ended (or broke).

        Raises:
            FrameError: the stream is not a valid sequence of frames, or the parts of the job's
                answer exceed ``max_output_mb`` together.
        """
        while True:
            try:
                payload = await self._reader.receive()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return None
            watch = self._watch
            if payload is None or watch is None:
                return payload
            try:
                message = decode_worker_message(payload)
            except FrameError:
                return payload  # answer() says what is wrong with it
            if not isinstance(message, Part):
                self._decoded = (payload, message)
                return payload
            if message.job != watch.job:
                raise FrameError(f"a Part frame of job {message.job} during job {watch.job}")
            watch.parts.extend(message.reports)
            watch.part_bytes += sum(len(raw) for raw in message.reports)
            if watch.part_bytes > self._settings.max_output:
                raise FrameError(
                    f"the answer exceeds the limit of {self._settings.max_output} bytes "
                    "([conversion] max_output_mb)"
                )

    def answer(self, payload: bytes, job: int) -> Done | Refused | Scores | str:
        """The worker's answer to job ``job`` (the job is over), or what is wrong with it.

        A ``Done`` answer carries every report of the job: those sent ahead in parts first."""
        watch, self._watch = self._watch, None
        decoded, self._decoded = self._decoded, None
        if decoded is not None and decoded[0] is payload:
            answer: WorkerMessage = decoded[1]
        else:
            try:
                answer = decode_worker_message(payload)
            except FrameError as exc:
                return f"protocol violation: {exc}"
        if not isinstance(answer, Done | Refused | Scores):
            return f"protocol violation: a {type(answer).__name__} frame during job {job}"
        if answer.job != job:
            return f"protocol violation: an answer to job {answer.job} during job {job}"
        if isinstance(answer, Done) and watch is not None:
            size = watch.part_bytes + sum(len(raw) for raw in answer.reports)
            if size > self._settings.max_output:
                return (
                    f"protocol violation: the answer exceeds the limit of "
                    f"{self._settings.max_output} bytes ([conversion] max_output_mb)"
                )
        if isinstance(answer, Done) and watch is not None and watch.parts:
            answer = msgspec.structs.replace(answer, reports=[*watch.parts, *answer.reports])
        self.jobs_done += 1
        self.cpu_total = answer.cpu_total
        if answer.children_left:
            logger.warning("worker %d: the converter left processes running", self.pid)
            self.tainted = True
        if isinstance(answer, Refused) and answer.kind == "out_of_memory":
            self.tainted = True
        return answer

    async def failed(
        self,
        kind: Literal["crashed", "wall", "cpu", "rss"],
        watch: _Watch,
        description: str | None = None,
    ) -> JobFailure:
        """The job failed (timed out, overran, or the protocol broke): kill the tree, wait for
        the process to end, and describe it. The process must be replaced."""
        self._watch = None
        return await self._failed(kind, watch, description)

    async def died(self, watch: _Watch) -> JobFailure:
        """The answer stream ended during a job: find out how the process ended."""
        self._watch = None
        return await self._died(watch)

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
            worker = self._psutil_worker
            try:
                rss = worker.memory_info().rss
                times = worker.cpu_times()
                # Descendants all hang below a child of the worker: look for them (a scan of
                # every process) only when it has one.
                if _has_children(worker.pid) is not False:
                    for child in worker.children(recursive=True):
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
        """SIGKILL the worker (with a PID namespace of its own, that ends every process in
        it), the process group, and every descendant seen, now."""
        if self.worker_pid != self.pid:
            with contextlib.suppress(psutil.Error):
                if self._psutil_worker.is_running():
                    self._psutil_worker.kill()
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

    async def exit_status(self) -> str:
        """How it ended (``exited with status 3``...), after waiting a moment for it to end."""
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
            description = f"{describe_exit(code)} (CPU limit, cpu_seconds)"
            return await self._failed("cpu", watch, description)
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
                "wall": f"took longer than {settings.timeout:g} s (timeout); killed",
                "cpu": f"used more than {settings.cpu_seconds} s of CPU (cpu_seconds); killed",
                "rss": f"used more than {settings.memory_mb} MiB of memory (memory_mb); killed",
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


_StartMessage = TypeVar("_StartMessage", Locked, Hello)


def _required_missing(settings: PoolSettings, sandbox: SandboxInfo) -> str:
    """The layers ``settings`` require that ``sandbox`` lacks (``""``: none)."""
    missing = []
    if settings.namespaces == "required" and not sandbox.isolated:
        missing.append("namespaces")
    if settings.seccomp == "required" and not sandbox.seccomp:
        missing.append("seccomp")
    if settings.landlock == "required" and not sandbox.landlocked:
        missing.append("Landlock")
    return ", ".join(missing)


@dataclass(slots=True)
class _Watch:
    """The job in progress, as the monitor (and the task waiting for its answer) sees it."""

    baseline_cpu: float
    scope: trio.CancelScope | None = None
    job: int = 0
    peak_rss: int = 0
    overrun: Literal["rss", "cpu"] | None = None
    unsent: memoryview | None = None
    send_failed: bool = False
    parts: list[bytes] = field(default_factory=list)  # reports sent ahead of the answer
    part_bytes: int = 0


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
    process is reaped (waiting at most 5 s: a process stuck in uninterruptible I/O is reaped in
    the background, see :func:`supervisors.open_supervised_process`).

    Raises:
        WorkerStartError: the process did not answer ``Setup`` with ``Hello`` in time.

    Cancellation: the tree is killed and reaped (shielded, milliseconds).
    """
    temp_dir, canary = await trio.to_thread.run_sync(_make_folders, settings.temp_root)
    probe = _listener()
    try:
        setup = msgspec.structs.replace(
            setup,
            temp_dir=temp_dir,
            namespaces=settings.namespaces,
            seccomp=settings.seccomp,
            landlock=settings.landlock,
            temp_bytes=settings.temp_mb * _MiB,
            hide=sorted({*setup.hide, *settings.hide_paths}),
            canary=canary,
            probe_port=probe.getsockname()[1],
        )
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
                    try:
                        await worker.handshake(setup)
                    finally:
                        probe.close()
                        with contextlib.suppress(OSError):
                            os.unlink(canary)
                    yield worker
                finally:
                    worker.kill_tree()
                    nursery.cancel_scope.cancel()
    finally:
        probe.close()
        with contextlib.suppress(OSError):
            os.unlink(canary)
        # Bounded for real (the thread is abandoned after 10 s): a folder on a hung file system
        # must not hold up the slot or the node's shutdown.
        with trio.CancelScope(shield=True), trio.move_on_after(10):
            await trio.to_thread.run_sync(
                lambda: shutil.rmtree(temp_dir, ignore_errors=True), abandon_on_cancel=True
            )


def _make_folders(temp_root: str | None) -> tuple[str, str]:
    """A worker's private temporary folder, and the canary file beside it that its sandbox
    must keep it from reading (readable by anyone as far as file modes go)."""
    temp_dir = tempfile.mkdtemp(prefix="pywats-worker-", dir=temp_root)
    fd, canary = tempfile.mkstemp(prefix="pywats-canary-", dir=temp_root)
    try:
        os.write(fd, os.urandom(16))
        os.fchmod(fd, 0o644)
    finally:
        os.close(fd)
    return temp_dir, canary


def _listener() -> socket.socket:
    """A TCP socket listening on 127.0.0.1 that a sandboxed worker must fail to reach."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
    except OSError:
        listener.close()
        raise
    return listener
