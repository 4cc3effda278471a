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
import traceback
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import msgspec

from pywats_actors.report import UURReport, UUTReport, encode_report

from ._check import check_report, noting_validated
from ._detection import Detection, choose
from ._discovery import load_converter, validate_arguments
from ._errors import (
    ConverterApiMismatch,
    ConverterArgumentsError,
    ConverterLoadError,
    ConverterNotFound,
    FileRejected,
)
from ._folder import is_folder_converter, is_unit, unpack_unit
from ._protocol import (
    ConverterDescription,
    ConverterInfo,
    Cursor,
    Detect,
    Done,
    FrameError,
    Hello,
    LoadFailure,
    Locked,
    ParentMessage,
    Part,
    Poll,
    Refused,
    Request,
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
            children_left=_reap_children(),
        )
    if isinstance(request, Poll):  # a scheduled converter's run
        return _poll(state, request, out, started)
    scores: dict[str, float] | None = None
    alias = request.converter
    if alias is None:
        scores = _detect(state, request.data[: setup.detect_head], request.name)
        alias = choose(scores, state.eligible())
        if alias is None:  # the parent words the refusal (converters._detection)
            return _refused(
                request,
                started,
                converter=None,
                kind="unrecognised",
                reason="no converter recognised the file",
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
    if is_folder_converter(instance):
        files = unpack_unit(request.data, repr(getattr(instance, "name", "this converter")))
        outputs = instance.convert_folder(files, request.name, args)
        if isinstance(outputs, bytes | str | Mapping) or not isinstance(outputs, Sequence):
            kind = type(outputs).__name__
            raise _BadOutput(f"convert_folder() must return a list of reports, not {kind}")
        return iter(outputs)
    if is_unit(request.data):
        raise FileRejected(
            f"{getattr(instance, 'name', 'this converter')!r} converts single files, not a "
            'folder unit; watch the folder with unit = "file" or use a folder converter'
        )
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


# -- scheduled converters ------------------------------------------------------------------------

CURSOR_LIMIT = 64 * 1024
"""The largest cursor a scheduled converter may return, in bytes (UTF-8 for a string)."""
_KEY_LIMIT = 1024


def _poll(state: _State, request: Poll, out: int, started: float) -> Done | Refused:
    """Run a scheduled converter's ``poll()`` once; its reports stream as a conversion's do,
    and the answer carries each report's key and the new cursor."""
    instance, args, _ = state.converters[request.converter]
    sender = _Sender(out, request.job)
    keys: list[str] = []
    cursor: bytes | str | None = None
    given = request.cursor.native if request.cursor is not None else None
    try:
        poll = getattr(instance, "poll", None)
        if not callable(poll):
            raise FileRejected(f"{request.converter} is not a scheduled converter (no poll())")
        with noting_validated() as noted:
            items, cursor = _poll_result(poll(request.source, given, args))
            invalid = _stream(_keyed(items, keys), noted, sender)
    except MemoryError:
        return _refused(
            request,
            started,
            converter=request.converter,
            kind="out_of_memory",
            reason="the converter ran out of memory (address-space limit)",
        )
    except _BadOutput as exc:
        return _refused(
            request, started, converter=request.converter, kind="invalid_output", reason=str(exc)
        )
    except Exception as exc:
        reason, where = _describe(exc)
        detail = "".join(traceback.format_exception(exc))[-_DETAIL_LIMIT:]
        return _refused(
            request,
            started,
            converter=request.converter,
            kind="rejected",
            reason=reason,
            where=where,
            detail=detail,
        )
    if invalid is not None:
        return _refused(
            request,
            started,
            converter=request.converter,
            kind="invalid_output",
            reason=invalid[0],
            where=invalid[1],
            detail=invalid[2],
        )
    return Done(
        job=request.job,
        converter=request.converter,
        reports=sender.pending,
        seconds=time.perf_counter() - started,
        cpu_total=cpu_used(),
        children_left=_reap_children(),
        keys=keys,
        cursor=Cursor.of(cursor),
    )


def _poll_result(result: object) -> tuple[Iterator[object], bytes | str | None]:
    """``poll()``'s ``(items, cursor)``, checked.

    Raises:
        _BadOutput: not a pair, items not iterable, or a cursor that is not bytes, a string or
            ``None``, or longer than :data:`CURSOR_LIMIT`.
    """
    if not (isinstance(result, tuple) and len(result) == 2):
        raise _BadOutput(f"poll() must return (items, cursor), not {type(result).__name__}")
    items, cursor = result
    if isinstance(items, bytes | str | Mapping) or not isinstance(items, Iterable):
        raise _BadOutput(f"poll() items must be an iterable of pairs, not {type(items).__name__}")
    if cursor is not None and not isinstance(cursor, bytes | str):
        raise _BadOutput(f"poll() cursor must be bytes, str or None, not {type(cursor).__name__}")
    size = len(
        cursor.encode("utf-8", "surrogatepass") if isinstance(cursor, str) else cursor or b""
    )
    if size > CURSOR_LIMIT:
        raise _BadOutput(f"poll() cursor is {size} bytes; the limit is {CURSOR_LIMIT}")
    return iter(items), cursor


def _keyed(items: Iterator[object], keys: list[str]) -> Iterator[object]:
    """The reports of ``(key, report)`` pairs, noting each key in ``keys``.

    Raises:
        _BadOutput: an item that is not a pair with a non-empty string key of at most 1024
            characters.
    """
    for index, item in enumerate(items):
        if not (isinstance(item, tuple) and len(item) == 2):
            raise _BadOutput(f"item {index} of poll() is not a (key, report) pair")
        key, report = item
        if not isinstance(key, str) or not key or len(key) > _KEY_LIMIT:
            raise _BadOutput(
                f"item {index} of poll() has no usable key (a string of 1 to {_KEY_LIMIT} "
                "characters)"
            )
        keys.append(key)
        yield report


def _refused(request: Request | Poll, started: float, **fields: Any) -> Refused:
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
        if state.detection.get(alias) == "off":
            continue
        try:
            score = float(instance.detect(head, name))
        except Exception:  # a detector that fails has no opinion
            score = 0.0
        scores[alias] = min(max(score, 0.0), 1.0) if math.isfinite(score) else 0.0
    return scores


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
