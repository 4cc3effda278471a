"""Driver for tests/converters/test_namespaces.py: calls ``isolate()``, then reports what it sees.

Run as ``python _ns_driver.py CONFIG_JSON``; standard library only (it also runs as a copied file
under /usr/bin/python3 as another user). The module under test is loaded from ``module`` (a file
path). Every record is one JSON line written to the inherited descriptor ``out_fd`` (opened by
the test before the file tree turns read-only). Exit status: ``exit`` (a number, or a signal
name the worker kills itself with); 3 when ``isolate()`` raised.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import errno
import fcntl
import importlib.util
import json
import os
import resource
import signal
import socket
import struct
import sys
import time
from typing import Any

_SIOCGIFFLAGS = 0x8913
_IFF_UP = 0x1


def _emit(fd: int, **record: Any) -> None:
    os.write(fd, (json.dumps(record) + "\n").encode())


def _errname(error: OSError) -> str:
    return errno.errorcode.get(error.errno or 0, str(error.errno))


_OUTER_PROC = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)  # opened before isolate()


def _me() -> str:
    """This process as seen from outside: its pid in the outer /proc and its start time."""
    with open(os.open("self/stat", os.O_RDONLY, dir_fd=_OUTER_PROC), "rb") as stat:
        start = stat.read().rpartition(b")")[2].split()[19].decode()
    return f"{os.readlink('self', dir_fd=_OUTER_PROC)} {start}\n"


def _ids() -> dict[str, Any]:
    names = [name for _, name in socket.if_nameindex()]
    up = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for name in names:
            request = struct.pack("16sH14x", name.encode(), 0)
            flags = struct.unpack("16sH14x", fcntl.ioctl(probe, _SIOCGIFFLAGS, request))[1]
            up[name] = bool(flags & _IFF_UP)
    try:
        socket.create_connection(("127.0.0.1", 9), timeout=2).close()
        connect = "connected"
    except OSError as error:
        connect = _errname(error)
    namespaces = {ns: os.readlink(f"/proc/self/ns/{ns}") for ns in os.listdir("/proc/self/ns")}
    processes = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
    libc = ctypes.CDLL(None, use_errno=True)
    nested = "entered" if libc.unshare(0x10000000) == 0 else errno.errorcode[ctypes.get_errno()]
    return {"pid": os.getpid(), "outer": _me().split()[0], "ns": namespaces, "up": up,
            "connect": connect, "processes": processes, "nested_userns": nested}  # fmt: skip


def _status() -> dict[str, str]:
    with open("/proc/self/status") as status:
        return {k: v.strip() for k, _, v in (line.partition(":") for line in status)}


def _write(path: str) -> str:
    try:
        with open(path, "x") as file:
            file.write("x")
    except OSError as error:
        return _errname(error)
    return "written"


def _read(path: str) -> Any:
    try:
        if os.path.isdir(path):
            return sorted(os.listdir(path))
        with open(path, "rb") as file:
            return file.read(64).decode(errors="replace")  # 64: /dev/zero never ends
    except OSError as error:
        return _errname(error)


def _fill(temp_dir: str) -> dict[str, Any]:
    written, chunk = 0, b"\0" * 65536
    try:
        with open(os.path.join(temp_dir, "fill"), "wb", buffering=0) as file:
            while written < 1 << 30:
                written += file.write(chunk)
    except OSError as error:
        return {"written": written, "error": _errname(error)}
    return {"written": written, "error": None}


def _spawn_leftovers(pids_fd: int) -> None:
    """A setsid double-forked daemon, a fork chain, a child that ignores SIGTERM (bounded)."""
    if os.fork() == 0:  # the daemon
        os.setsid()
        if os.fork():
            os._exit(0)
        os.write(pids_fd, ("daemon " + _me()).encode())
        time.sleep(60)
        os._exit(0)
    if os.fork() == 0:  # the ignorer
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.write(pids_fd, ("ignorer " + _me()).encode())
        time.sleep(60)
        os._exit(0)
    if os.fork() == 0:  # the chain: each generation forks the next and exits at once
        end = time.monotonic() + 20
        for _ in range(100_000):
            if os.fork():
                os._exit(0)
            os.write(pids_fd, ("chain " + _me()).encode())
            if time.monotonic() > end:
                break
        os._exit(0)
    time.sleep(0.4)


def _busy(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def main() -> None:
    config = json.loads(sys.argv[1])
    spec = importlib.util.spec_from_file_location("_namespaces_under_test", config["module"])
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    out = config["out_fd"]
    if config.get("no_mount_setattr"):  # the seam for the pre-5.12 fallback (see the test)

        def refuse(*_args: object) -> None:
            raise module.NamespaceError(errno.ENOSYS, "mount_setattr: forced ENOSYS")

        module._mount_setattr = refuse
    before = time.monotonic()
    try:
        isolation = module.isolate(
            mode=config["mode"], temp_dir=config["temp_dir"], temp_bytes=config["temp_bytes"],
            hide=config["hide"], launcher_closes=config.get("closes", []),
        )  # fmt: skip
    except module.NamespaceError as error:
        _emit(out, error=str(error), errno=error.errno)
        sys.exit(3)
    _emit(out, isolation=dataclasses.asdict(isolation), seconds=time.monotonic() - before)
    for action in config.get("actions", []):
        if action == "ids":
            _emit(out, ids=_ids())
        elif action == "status":
            _emit(out, status=_status())
        elif action == "fill":
            _emit(out, fill=_fill(config["temp_dir"]))
        elif action == "write":
            _emit(out, write={path: _write(path) for path in config["write"]})
        elif action == "read":
            _emit(out, read={path: _read(path) for path in config["read"]})
        elif action == "leftovers":
            _spawn_leftovers(config["pids_fd"])
        elif action == "sigterm":

            def on_term(_number: int, _frame: object) -> None:
                _emit(out, sigterm=True)
                os._exit(0)

            signal.signal(signal.SIGTERM, on_term)
        elif action == "burn":  # past a soft CPU limit of one second from now
            soft = int(time.process_time()) + 1
            resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 30))
            _busy(20)
            os._exit(6)
        elif action == "rearm":  # CPU-bound for 2.5 s, re-arming its soft limit (5 s ahead) often
            end = time.monotonic() + 2.5
            while time.monotonic() < end:
                soft = int(time.process_time()) + 5
                hard = resource.getrlimit(resource.RLIMIT_CPU)[1]  # cannot be raised any more
                resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
                _busy(0.3)
        elif action == "wait":
            _emit(out, ready=_me().split()[0])
            time.sleep(30)
            os._exit(4)
    code = config.get("exit", 0)
    if isinstance(code, str):
        with contextlib.suppress(OSError):
            os.kill(os.getpid(), getattr(signal, code))
        # Still alive: PID 1 of a PID namespace ignores signals it sent itself and has no
        # handler for. A real fault is forced on it (SIGSEGV only).
        _emit(out, self_kill_ignored=True)
        if code == "SIGSEGV":
            ctypes.string_at(0)
        os._exit(5)
    os._exit(code)


if __name__ == "__main__":
    main()
