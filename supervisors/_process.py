"""OS processes as supervised children.

The process runs in a session of its own, so it and everything it starts form one process group
that the supervisor can signal as a whole. Stopping it is OTP's shutdown spec applied to a
process:

* phase one (the supervisor's stop request): SIGTERM to the whole group;
* phase two (grace period over, or :data:`~supervisors.BRUTAL_KILL`): the child task is
  cancelled, which sends SIGKILL to the whole group;
* always: the process is reaped, in a shielded scope, so no zombie is left behind. That wait is
  bounded (``reap_timeout``, :data:`REAP_TIMEOUT` by default): a process that SIGKILL cannot end
  at once, such as one stuck in uninterruptible I/O (``D`` state) on a dead network share, is
  left to a background task that reaps it whenever it ends (logged once, as a warning), and the
  supervisor and the node's shutdown go on; if the run ends first, it stays a zombie until this
  process exits.

The wait for the exit is :func:`_wait_for_exit`, a module-level seam: a test replaces it with a
wait that never returns to stand in for a process SIGKILL cannot end (no such process can be
made on demand).

The exit code becomes the exit reason: ``0`` is a normal exit; anything else, or a signal the
supervisor did not send, is a crash (:class:`~supervisors.ProcessExited`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import IO

import trio

from ._backoff import Backoff
from ._context import ChildContext, current_child_or_none
from ._errors import ProcessExited
from ._spec import ChildSpec, Restart, ShutdownSpec

__all__ = ["open_supervised_process", "process_child", "process_spec"]

REAP_TIMEOUT = 5.0
"""Seconds a process killed with SIGKILL is waited for before it is left to a background task."""

logger = logging.getLogger("supervisors.process")

_Redirect = int | IO[bytes] | None
_Command = str | Sequence[str]


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
        os.killpg(pid, sig)


async def _wait_for_exit(process: trio.Process) -> None:
    """Wait until ``process`` has exited and reap it (the seam tests replace)."""
    await process.wait()


async def _reap_later(process: trio.Process) -> None:
    """Reap ``process`` whenever it ends (a trio system task: cancelled, never waited for, when
    the run ends, so it delays no shutdown)."""
    try:
        await process.wait()
    except Exception as exc:  # a system task must not raise
        logger.warning("process %d could not be reaped: %r", process.pid, exc)
    else:
        logger.info("process %d was reaped at last (%s)", process.pid, process.returncode)


async def _reap(process: trio.Process, bound: float) -> bool:
    """Wait at most ``bound`` seconds for the killed ``process`` to be reaped; after that,
    leave it to a background task. Whether it was reaped here."""
    with trio.move_on_after(bound):
        await _wait_for_exit(process)
        return True
    logger.warning(
        "process %d has not exited %g s after SIGKILL (uninterruptible I/O?); "
        "it will be reaped in the background when it ends",
        process.pid,
        bound,
    )
    try:
        trio.lowlevel.spawn_system_task(_reap_later, process, name=f"reap-{process.pid}")
    except RuntimeError:  # the run is ending: the zombie goes when this process exits
        logger.warning("process %d is left unreaped: the run is ending", process.pid)
    return False


async def _terminate_on_stop(ctx: ChildContext, process: trio.Process, sig: int) -> None:
    await ctx.wait_stop_requested()
    if process.returncode is None:
        _signal_group(process.pid, sig)


@asynccontextmanager
async def open_supervised_process(
    command: _Command,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    stdin: _Redirect = subprocess.DEVNULL,
    stdout: _Redirect = None,
    stderr: _Redirect = None,
    term_signal: int | None = signal.SIGTERM,
    reap_timeout: float = REAP_TIMEOUT,
) -> AsyncIterator[trio.Process]:
    """Start *command* in a new session and yield its :class:`trio.Process`.

    Inside a supervised child, the supervisor's stop request sends *term_signal* to the
    process group. Whenever the block ends (normally, by an error, or cancelled), the whole
    group gets SIGKILL and the process is reaped, so nothing it started outlives it.

    Args:
        command: the program and its arguments (a string runs through no shell either).
        env: the complete environment of the process; ``None`` inherits ours.
        cwd: its working directory.
        stdin, stdout, stderr: as for :func:`trio.lowlevel.open_process`; ``stdin`` defaults
            to ``/dev/null`` so a service's child never reads the node's terminal.
        term_signal: the polite signal of phase one; ``None`` sends none (the caller ends the
            process its own way, e.g. by closing its standard input, within the block).
        reap_timeout: the most seconds (default 5) the end of the block waits for the killed
            process to be reaped; a process still there then (stuck in uninterruptible I/O)
            is reaped by a background task when it ends, and a warning says so.

    Cancellation: cancelling the block kills the group with SIGKILL and still waits for the
    process to be reaped; that wait is shielded, takes milliseconds, and at most
    ``reap_timeout``.
    """
    argv: Sequence[str] = [command] if isinstance(command, str) else command
    process = await trio.lowlevel.open_process(
        list(argv),
        env=dict(env) if env is not None else None,
        cwd=cwd,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
    )
    try:
        async with trio.open_nursery() as nursery:
            ctx = current_child_or_none()
            if ctx is not None and term_signal is not None:
                nursery.start_soon(_terminate_on_stop, ctx, process, term_signal)
            yield process
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            _signal_group(process.pid, signal.SIGKILL)
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    await stream.aclose()
            await _reap(process, reap_timeout)


async def process_child(
    command: _Command,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    stdin: _Redirect = subprocess.DEVNULL,
    stdout: _Redirect = None,
    stderr: _Redirect = None,
    term_signal: int = signal.SIGTERM,
    task_status: trio.TaskStatus[trio.Process] = trio.TASK_STATUS_IGNORED,
) -> None:
    """A child function that runs *command* until it exits; ready as soon as it is spawned.

    Passes the :class:`trio.Process` to ``task_status.started()``.

    Raises:
        ProcessExited: the process ended with a non-zero code or a signal when nobody had
            asked it to stop.
    """
    async with open_supervised_process(
        command,
        env=env,
        cwd=cwd,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        term_signal=term_signal,
    ) as process:
        task_status.started(process)
        returncode = await process.wait()
    ctx = current_child_or_none()
    if returncode != 0 and not (ctx is not None and ctx.stop_requested):
        raise ProcessExited(process.pid, returncode)


def process_spec(
    id: str,
    command: _Command,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    stdout: _Redirect = None,
    stderr: _Redirect = None,
    restart: Restart = Restart.PERMANENT,
    shutdown: ShutdownSpec | None = None,
    backoff: Backoff | None = None,
    significant: bool = False,
) -> ChildSpec:
    """A :class:`~supervisors.ChildSpec` that runs *command* as a supervised OS process."""
    fn = functools.partial(process_child, command, env=env, cwd=cwd, stdout=stdout, stderr=stderr)
    return ChildSpec(
        id=id,
        fn=fn,
        restart=restart,
        shutdown=shutdown,
        backoff=backoff,
        significant=significant,
    )
