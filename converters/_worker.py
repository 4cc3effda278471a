"""The sandboxed worker process: ``python -I -m converters._worker --limits ...``.

Start-up, in this order:

1. set its rlimits (address space, CPU, open files, file size, no core dumps) from the command
   line, before any converter code is imported;
2. move the protocol off fds 0/1 onto private descriptors, so a converter's ``print()`` goes to
   standard error instead of corrupting the protocol, and ``input()`` reads ``/dev/null``;
3. become a child subreaper, so every process a converter starts stays below the worker, where the
   parent can find and kill it;
4. read the ``Setup`` frame, import the converters and validate their arguments;
5. lock itself down with Landlock (when offered and allowed), start a thread that kills the
   worker's process group when the parent exits, then send ``Hello``.

Then it serves ``Request`` frames one at a time until its standard input closes. SIGTERM while
idle exits at once; while converting, after the answer has been sent.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import faulthandler
import math
import os
import select
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import msgspec

from pywats_actors.report import UURReport, UUTReport, encode_report

from ._check import check_report, noting_validated
from ._discovery import load_converter, validate_arguments
from ._errors import (
    ConverterApiMismatch,
    ConverterArgumentsError,
    ConverterLoadError,
    ConverterNotFound,
    FileRejected,
)
from ._protocol import (
    ConverterInfo,
    Detect,
    Done,
    FrameError,
    Hello,
    LoadFailure,
    ParentMessage,
    Part,
    Refused,
    Request,
    Scores,
    Setup,
    read_frame_sync,
    write_frame_sync,
)
from ._sandbox import Limits, SandboxInfo, apply_rlimits, arm_cpu_limit, cpu_used, lock_down
from ._sdk import ACCEPT_THRESHOLD

__all__ = ["main", "protocol_fd"]

_PR_SET_CHILD_SUBREAPER = 36
_DETAIL_LIMIT = 8192
_PART_BYTES = 1 << 20  # reports are sent ahead of the answer in parts of about this size

protocol_fd: int = -1
"""The descriptor the worker writes protocol frames to (for tests that corrupt it on purpose)."""

_busy = False
_stop_after_job = False


def main(argv: Sequence[str] | None = None) -> int:
    """Run a worker; returns the exit status."""
    limits = _parse_limits(argv)
    apply_rlimits(limits)
    proto_in, proto_out = _take_protocol_fds()
    global protocol_fd
    protocol_fd = proto_out
    _prepare_process()
    parent = os.getppid()

    payload = read_frame_sync(proto_in, 1 << 24)
    if payload is None:
        return 0
    setup = msgspec.msgpack.decode(payload, type=Setup)
    sys.path[:0] = [p for p in setup.python_path if p not in sys.path]
    state = _load(setup)
    try:
        sandbox = lock_down(
            setup.landlock, temp_dir=setup.temp_dir, read_paths=[*setup.read_paths, *state.dirs]
        )
    except OSError as exc:
        print(f"worker: cannot lock down: {exc}", file=sys.stderr)
        return 3
    _watch_parent(parent)
    write_frame_sync(proto_out, state.hello(sandbox))
    try:
        _serve(state, setup, proto_in, proto_out)
    except FrameError as exc:
        print(f"worker: protocol error: {exc}", file=sys.stderr)
        return 4
    return 0


# -- start-up --------------------------------------------------------------------------------------


def _parse_limits(argv: Sequence[str] | None) -> Limits:
    parser = argparse.ArgumentParser(prog="python -m converters._worker")
    parser.add_argument("--address-space", type=int, required=True)
    parser.add_argument("--cpu-lifetime", type=int, required=True)
    parser.add_argument("--open-files", type=int, required=True)
    parser.add_argument("--file-size", type=int, required=True)
    ns = parser.parse_args(argv)
    return Limits(
        address_space=ns.address_space,
        cpu_lifetime=ns.cpu_lifetime,
        open_files=ns.open_files,
        file_size=ns.file_size,
    )


def _take_protocol_fds() -> tuple[int, int]:
    """Keep the pipes on private descriptors; fd 0 becomes /dev/null and fd 1 standard error."""
    proto_in = os.dup(0)
    proto_out = os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return proto_in, proto_out


def _prepare_process() -> None:
    faulthandler.enable()  # a segfault leaves a Python traceback in stderr for the parent
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # too large a file is an OSError, not death
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    if os.getppid() == 1:  # the parent died already
        raise SystemExit(0)


def _watch_parent(parent: int) -> None:
    """Start the thread that ends this worker with its parent (after the lock-down, so the
    thread is as restricted as the converters: Landlock binds the threads that exist then)."""
    threading.Thread(target=_end_with, args=(parent,), name="parent-watch", daemon=True).start()


def _end_with(parent: int) -> None:
    """Kill this worker's whole process group once *parent* has exited (a daemon thread).

    Not ``PR_SET_PDEATHSIG``: that signal comes when the parent's *thread* that started the
    worker ends, and trio starts processes from its worker threads, which end after 10 s of
    idleness; every worker was killed that way about 10 s after a quiet spell (and replaced,
    which cost the next files ~0.3 s). Before this thread starts, a dead parent shows as the
    end of the protocol's input. A pidfd of the
    parent becomes readable when the parent exits; without pidfds (Linux < 5.3) the parent's
    pid is polled.
    """
    try:
        fd = os.pidfd_open(parent)
    except (OSError, AttributeError):
        while os.getppid() == parent:
            time.sleep(0.5)
    else:
        if os.getppid() == parent:  # else it died between getppid() and pidfd_open()
            select.select([fd], [], [])
    os.killpg(0, signal.SIGKILL)  # the worker and whatever a converter left running


def _on_sigterm(signum: int, frame: object) -> None:
    global _stop_after_job
    if not _busy:
        raise SystemExit(0)
    _stop_after_job = True


class _State:
    """The loaded converters, by alias, with their validated arguments."""

    def __init__(self) -> None:
        self.converters: dict[str, tuple[Any, Any, ConverterInfo]] = {}
        self.failures: list[LoadFailure] = []
        self.dirs: list[str] = []

    def hello(self, sandbox: SandboxInfo) -> Hello:
        return Hello(
            pid=os.getpid(),
            python=sys.version.split()[0],
            sandbox_level=sandbox.level,
            landlock_abi=sandbox.landlock_abi,
            sandbox_note=sandbox.note,
            converters=[info for _, _, info in self.converters.values()],
            failures=self.failures,
        )


def _load(setup: Setup) -> _State:
    state = _State()
    for item in setup.converters:
        try:
            cls = load_converter(item.ref)
            args = validate_arguments(item.ref, cls.Arguments, item.args)
            instance = cls()
        except ConverterArgumentsError as exc:
            state.failures.append(LoadFailure(item.ref, "arguments", exc.problem, path=exc.path))
            continue
        except ConverterApiMismatch as exc:
            state.failures.append(
                LoadFailure(item.ref, "api_version", exc.message, declared=exc.declared)
            )
            continue
        except ConverterNotFound as exc:
            state.failures.append(LoadFailure(item.ref, "not_found", exc.message))
            continue
        except ConverterLoadError as exc:
            state.failures.append(LoadFailure(item.ref, "invalid", exc.message))
            continue
        except Exception as exc:  # the constructor of a plug-in failed
            message = f"creating it raised {type(exc).__name__}: {exc}"
            state.failures.append(LoadFailure(item.ref, "invalid", message))
            continue
        alias = item.alias or cls.name
        if alias in state.converters:
            message = f"the name {alias!r} is used twice; give each configuration a name"
            state.failures.append(LoadFailure(item.ref, "invalid", message))
            continue
        info = ConverterInfo(
            alias=alias,
            name=cls.name,
            version=cls.version,
            ref=item.ref,
            patterns=tuple(getattr(cls, "patterns", ())),
            keeps_source_ids=bool(getattr(cls, "keeps_source_ids", False)),
        )
        state.converters[alias] = (instance, args, info)
        module_file = getattr(sys.modules.get(cls.__module__), "__file__", None)
        if isinstance(module_file, str):
            state.dirs.append(os.path.dirname(os.path.abspath(module_file)))
    return state


# -- serving ---------------------------------------------------------------------------------------


def _serve(state: _State, setup: Setup, proto_in: int, proto_out: int) -> None:
    global _busy
    decoder = msgspec.msgpack.Decoder(ParentMessage)
    while True:
        payload = read_frame_sync(proto_in, setup.max_request)
        if payload is None:
            return
        _busy = True
        request = decoder.decode(payload)
        del payload
        arm_cpu_limit(setup.cpu_seconds)
        reply = _handle(state, setup, request, proto_out)
        del request
        write_frame_sync(proto_out, reply)
        _busy = False
        if _stop_after_job:
            return


def _handle(
    state: _State, setup: Setup, request: ParentMessage, out: int
) -> Done | Refused | Scores:
    started = time.perf_counter()
    if isinstance(request, Detect):  # detection alone: the pool compares domains' scores
        return Scores(
            job=request.job,
            scores=_detect(state, request.head[: setup.detect_head], request.name),
            seconds=time.perf_counter() - started,
            cpu_total=cpu_used(),
            children_left=_reap_children(),
        )
    scores: dict[str, float] | None = None
    alias = request.converter
    if alias is None:
        scores = _detect(state, request.data[: setup.detect_head], request.name)
        alias = _best(scores)
        if alias is None:
            listed = ", ".join(f"{a} {s:.2f}" for a, s in scores.items()) or "none configured"
            return _refused(
                request,
                started,
                converter=None,
                kind="unrecognised",
                reason=f"no converter recognised the file (confidence: {listed})",
                scores=scores,
            )
    instance, args, _ = state.converters[alias]
    sender = _Sender(out, request.job)
    try:
        with noting_validated() as noted:
            invalid = _stream(_outputs(instance, request, args), noted, sender)
    except MemoryError:
        return _refused(
            request,
            started,
            converter=alias,
            kind="out_of_memory",
            reason="the converter ran out of memory (address-space limit)",
            scores=scores,
        )
    except _BadOutput as exc:
        return _refused(
            request,
            started,
            converter=alias,
            kind="invalid_output",
            reason=str(exc),
            scores=scores,
        )
    except Exception as exc:
        reason, where = _describe(exc)
        detail = "".join(traceback.format_exception(exc))[-_DETAIL_LIMIT:]
        return _refused(
            request,
            started,
            converter=alias,
            kind="rejected",
            reason=reason,
            where=where,
            detail=detail,
            scores=scores,
        )
    if invalid is not None:
        return _refused(
            request,
            started,
            converter=alias,
            kind="invalid_output",
            reason=invalid[0],
            where=invalid[1],
            detail=invalid[2],
            scores=scores,
        )
    if not sender.count:
        return _refused(
            request,
            started,
            converter=alias,
            kind="no_reports",
            reason="the converter found no report in the file",
            scores=scores,
        )
    return Done(
        job=request.job,
        converter=alias,
        reports=sender.pending,
        seconds=time.perf_counter() - started,
        cpu_total=cpu_used(),
        children_left=_reap_children(),
        scores=scores,
    )


class _Sender:
    """Sends a conversion's reports ahead of its answer, in ``Part`` frames of about
    ``_PART_BYTES``; what is left over goes in ``Done``. A file with one small report costs no
    frame more than before, and the worker never holds every report of a large file."""

    def __init__(self, fd: int, job: int) -> None:
        self._fd = fd
        self._job = job
        self._size = 0
        self.pending: list[bytes] = []
        self.count = 0

    def add(self, raw: bytes) -> None:
        self.pending.append(raw)
        self.count += 1
        self._size += len(raw)
        if self._size >= _PART_BYTES:
            write_frame_sync(self._fd, Part(job=self._job, reports=self.pending))
            self.pending = []
            self._size = 0


def _outputs(instance: Any, request: Request, args: Any) -> Iterator[object]:
    """The converter's reports, one at a time: from ``convert_iter()`` when it has one (made
    as they are read), else from the list ``convert()`` returns.

    Raises:
        _BadOutput: it returned something else than a list (an iterator for ``convert_iter``).
    """
    stream = getattr(instance, "convert_iter", None)
    if callable(stream):
        outputs = stream(request.data, request.name, args)
        if isinstance(outputs, bytes | str | Mapping) or not isinstance(outputs, Iterable):
            kind = type(outputs).__name__
            raise _BadOutput(f"convert_iter() must return an iterator of reports, not {kind}")
        return iter(outputs)
    outputs = instance.convert(request.data, request.name, args)
    if isinstance(outputs, bytes | str | Mapping) or not isinstance(outputs, Sequence):
        raise _BadOutput(f"convert() must return a list of reports, not {type(outputs).__name__}")
    return iter(outputs)


_END = object()


def _stream(
    outputs: Iterator[object], noted: list[object], sender: _Sender
) -> tuple[str, str | None, str | None] | None:
    """Encode, check and send every report of ``outputs`` as it comes; the first problem with
    a report (``(reason, where, detail)``) ends it. Reports the converter validated itself
    (objects in ``noted``, see :func:`noting_validated`) are not checked again.

    Raises:
        _BadOutput: an output that is not a report.
    """
    prechecked: dict[int, object] = {}  # holds them, so their identities stay theirs
    index = 0
    item = next(outputs, _END)
    while item is not _END:
        following = next(outputs, _END)  # one ahead: "the report" or "report 0"
        for output in noted:
            prechecked[id(output)] = output
        noted.clear()
        raw = _encode_output(item, index)
        if prechecked.pop(id(item), None) is not item:
            several = index > 0 or following is not _END
            problem = check_report(raw, f"report {index}" if several else "the report")
            if problem is not None:
                return problem
        sender.add(raw)
        index += 1
        item = following
    return None


def _refused(request: Request, started: float, **fields: Any) -> Refused:
    return Refused(
        job=request.job,
        seconds=time.perf_counter() - started,
        cpu_total=cpu_used(),
        children_left=_reap_children(),
        **fields,
    )


def _detect(state: _State, head: bytes, name: str) -> dict[str, float]:
    scores: dict[str, float] = {}
    for alias, (instance, _, _) in state.converters.items():
        try:
            score = float(instance.detect(head, name))
        except Exception:  # a detector that fails has no opinion
            score = 0.0
        scores[alias] = min(max(score, 0.0), 1.0) if math.isfinite(score) else 0.0
    return scores


def _best(scores: Mapping[str, float]) -> str | None:
    best: str | None = None
    for alias, score in scores.items():  # configuration order breaks ties
        if score >= ACCEPT_THRESHOLD and (best is None or score > scores[best]):
            best = alias
    return best


class _BadOutput(Exception):
    """The converter returned something that is not a list of reports."""


def _encode_output(item: object, index: int) -> bytes:
    """One report as WSJF bytes.

    Raises:
        _BadOutput: ``item`` is not a report, bytes or a mapping that encodes as JSON.
    """
    if isinstance(item, UUTReport | UURReport):
        return encode_report(item)
    if isinstance(item, bytes | bytearray | memoryview):
        return bytes(item)
    if isinstance(item, Mapping):
        try:
            return msgspec.json.encode(item)
        except (TypeError, msgspec.EncodeError) as exc:
            raise _BadOutput(f"report {index} cannot be encoded as JSON: {exc}") from None
    raise _BadOutput(
        f"report {index} is a {type(item).__name__}; expected a report, bytes or a dict"
    )


def _describe(exc: Exception) -> tuple[str, str | None]:
    """The reason and location to report; a plain exception's location is in its traceback."""
    if isinstance(exc, FileRejected):
        return exc.reason, exc.where
    return f"{type(exc).__name__}: {exc}", None


def _reap_children() -> bool:
    """Reap finished children; True if some are still running (the converter left them)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


if __name__ == "__main__":
    # Run as ``-m``, this file is ``__main__``; run the real ``converters._worker`` module
    # instead, so that state such as ``protocol_fd`` lives where converters can import it.
    from converters._worker import main as _main

    sys.exit(_main())
