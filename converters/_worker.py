"""The sandboxed worker process: ``python -I -m converters._worker --limits ...``.

Start-up, in this order; nothing of a converter is imported before step 5:

1. set its rlimits (address space, CPU, open files, file size, no core dumps) from the command
   line;
2. move the protocol off fds 0/1 onto private descriptors, so a converter's ``print()`` goes to
   standard error instead of corrupting the protocol, and ``input()`` reads ``/dev/null``;
3. read the ``Setup`` frame;
4. lock down, while the process is still single-threaded: enter namespaces of its own
   (:func:`converters._namespaces.isolate`: the process forks; the original stays outside as the
   launcher, which runs no converter code, relays signals and the exit status, and kills
   everything the worker started when either ends), then Landlock, then probe the sandbox
   (a canary file, a TCP connect), then the seccomp filter; send ``Locked``;
5. import the converters, validate their arguments, and send ``Hello``.

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
import re
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

import msgspec

from ._detection import Detection, choose
from ._discovery import load_converter, validate_arguments
from ._errors import (
    ConverterApiMismatch,
    ConverterArgumentsError,
    ConverterLoadError,
    ConverterNotFound,
)
from ._protocol import (
    ConverterDescription,
    ConverterInfo,
    Detect,
    Done,
    FrameError,
    Hello,
    LoadFailure,
    Locked,
    ParentMessage,
    Poll,
    Refused,
    Scores,
    Setup,
    read_frame_sync,
    write_frame_sync,
)
from ._sandbox import (
    Limits,
    apply_rlimits,
    arm_cpu_limit,
    cpu_used,
    lock_down,
    run_probes,
)
from ._worker_output import answer, outputs, reap_children, refused
from ._worker_poll import run_poll

__all__ = ["main", "protocol_fd"]

_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_PDEATHSIG = 1
_FILE_REF = re.compile(r"^(?P<path>.+\.py):[A-Za-z_][A-Za-z0-9_.]*$")
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

    payload = read_frame_sync(proto_in, 1 << 24)
    if payload is None:
        return 0
    setup = msgspec.msgpack.decode(payload, type=Setup)
    try:
        locked = _lock_down(setup, (proto_in, proto_out))
    except OSError as exc:
        print(f"worker: cannot lock down: {exc}", file=sys.stderr)
        return 3
    write_frame_sync(proto_out, locked)
    sys.path[:0] = [p for p in setup.python_path if p not in sys.path]
    state = _load(setup)
    write_frame_sync(proto_out, state.hello())
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


def _lock_down(setup: Setup, pipes: tuple[int, int]) -> Locked:
    """Step 4 of the start-up (see the module's docstring); the process must be
    single-threaded. Returns the ``Locked`` frame to send.

    Raises:
        OSError: a layer the settings require cannot be had (NamespaceError, LandlockError,
            SeccompError).
    """
    from ._namespaces import isolate
    from ._seccomp import available as seccomp_available
    from ._seccomp import install as install_seccomp

    isolation = isolate(
        mode=setup.namespaces,
        temp_dir=setup.temp_dir,
        temp_bytes=setup.temp_bytes,
        hide=setup.hide,
        launcher_closes=pipes,
    )
    # From here on this is the worker, below the launcher: it dies with it. Its working
    # folder is the temporary folder as now mounted (the tmpfs, not the folder beneath it).
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    os.chdir(setup.temp_dir)
    notes = [isolation.note] if isolation.note else []
    mounted = "mnt" in isolation.namespaces
    can_filter = setup.seccomp != "off" and seccomp_available()  # reads /proc: before Landlock
    abi, more = lock_down(
        setup.landlock,
        temp_dir=setup.temp_dir,
        read_paths=[*setup.read_paths, *setup.python_path, *_plugin_paths(setup, mounted)],
        hidden=setup.hide,
        hidden_by_mount=mounted,
    )
    notes.extend(more)
    probes = run_probes(canary=setup.canary, port=setup.probe_port)
    filtered = False
    if setup.seccomp == "off":
        notes.append("seccomp turned off by the settings")
    elif can_filter:
        install_seccomp()
        filtered = True
    elif setup.seccomp == "required":
        raise OSError("seccomp is required but the kernel or this architecture offers none")
    else:
        notes.append("the kernel or this architecture offers no seccomp filter")
    return Locked(
        landlock_abi=abi,
        namespaces=list(isolation.namespaces),
        temp_tmpfs=isolation.temp_tmpfs,
        hidden=list(isolation.hidden),
        seccomp=filtered,
        probes=probes,
        notes=notes,
    )


def _plugin_paths(setup: Setup, hidden_by_mount: bool) -> list[str]:
    """What converters given as files (``path.py:Class``) may read: the folder of each,
    or only the file when that folder holds a path workers must not read and no mount
    namespace hides it."""
    secrets = [os.path.realpath(p) for p in setup.hide]
    paths = []
    for item in setup.converters:
        match = _FILE_REF.match(item.ref)
        if match is None:
            continue
        file = os.path.realpath(match["path"])
        folder = os.path.dirname(file)
        shared = any(s == folder or s.startswith(folder + "/") for s in secrets)
        paths.append(file if shared and not hidden_by_mount else folder)
    return paths


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
        self.detection: dict[str, Detection] = {}  # alias -> its part in auto-detection
        self.descriptions: list[ConverterDescription] = []  # when the parent asked for them

    def eligible(self) -> list[str]:
        """The converters auto-detection may choose, in configuration order."""
        return [alias for alias in self.converters if self.detection.get(alias) == "on"]

    def hello(self) -> Hello:
        return Hello(
            pid=os.getpid(),
            python=sys.version.split()[0],
            converters=[info for _, _, info in self.converters.values()],
            failures=self.failures,
            descriptions=self.descriptions,
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
            kind=str(getattr(cls, "kind", "file")),
        )
        state.converters[alias] = (instance, args, info)
        state.detection[alias] = item.detection
        if setup.describe:  # a plug-in's domain: rare, and inspect is costly to import
            from ._catalog import describe_class

            state.descriptions.append(describe_class(alias, cls))
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
            children_left=reap_children(),
        )
    if isinstance(request, Poll):  # a scheduled converter's run
        instance, args, _ = state.converters[request.converter]
        return run_poll(instance, args, request, out)
    scores: dict[str, float] | None = None
    alias = request.converter
    if alias is None:
        scores = _detect(state, request.data[: setup.detect_head], request.name)
        alias = choose(scores, state.eligible())
        if alias is None:  # the parent words the refusal (converters._detection)
            return refused(
                request,
                started,
                converter=None,
                kind="unrecognised",
                reason="no converter recognised the file",
                scores=scores,
            )
    instance, args, _ = state.converters[alias]
    return answer(
        request, started, alias, lambda: outputs(instance, request, args), out, scores=scores
    )


def _detect(state: _State, head: bytes, name: str) -> dict[str, float]:
    scores: dict[str, float] = {}
    for alias, (instance, _, _) in state.converters.items():
        if state.detection.get(alias) == "off":
            continue
        try:
            score = float(instance.detect(head, name))
        except Exception:  # a detector that fails has no opinion
            score = 0.0
        scores[alias] = min(max(score, 0.0), 1.0) if math.isfinite(score) else 0.0
    return scores


if __name__ == "__main__":
    # Run as ``-m``, this file is ``__main__``; run the real ``converters._worker`` module
    # instead, so that state such as ``protocol_fd`` lives where converters can import it.
    from converters._worker import main as _main

    sys.exit(_main())
