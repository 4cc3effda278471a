"""Run a command as a throwaway unprivileged user, for tests that must not run only as root.

When the tests run as root, :func:`create_service_user` makes a system user (no home, no login
shell, no supplementary groups) and :func:`remove_service_user` kills what it left running and
deletes it again.

The command is started through this file run as a script (the *launcher*, still root): it enters
a private mount namespace and makes every folder on the way to the paths the command needs
traversable *inside that namespace only*. Interpreters often live under a folder other users
cannot enter (``/root`` is mode 0700; CI's virtual environment sits in a 0700 ``mktemp`` folder,
pytest's ``tmp_path`` in a 0700 ``pytest-of-root``). For each such folder the launcher takes an
``O_PATH`` descriptor of the child on the way, mounts a small 0755 tmpfs over the folder and
bind-mounts the child back from ``/proc/self/fd/N``. Nothing on the machine changes. Then it drops
to the user (``setgroups([])``, ``setgid``, ``setuid``) and executes the command, which keeps the
launcher's pid.

Only the standard library: the launcher runs before anything of the project is importable.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ServiceUser",
    "create_service_user",
    "launcher_command",
    "remove_service_user",
    "unavailable_reason",
]

_CLONE_NEWNS = 0x00020000
_MS_NOSUID = 0x2
_MS_NODEV = 0x4
_MS_BIND = 0x1000
_MS_REC = 0x4000
_MS_PRIVATE = 0x40000
_O_PATH = 0o10000000


@dataclass(frozen=True)
class ServiceUser:
    """A system user made for the tests: its name, uid and primary gid."""

    name: str
    uid: int
    gid: int


def unavailable_reason() -> str | None:
    """Why commands cannot be run as a throwaway user here, or ``None`` when they can."""
    if os.geteuid() != 0:
        return "running as a throwaway service user needs root (to create the user)"
    for tool in ("useradd", "userdel"):
        if shutil.which(tool) is None:
            return f"no {tool} on this machine to create a throwaway service user"
    probe = subprocess.run(
        [sys.executable, "-I", __file__, "--probe"], capture_output=True, text=True, timeout=30
    )
    if probe.returncode != 0:
        return f"no private mount namespace for the launcher: {probe.stderr.strip()}"
    return None


def create_service_user() -> ServiceUser:
    """Create a throwaway system user (``pywats-test-XXXXXX``, its own group, no home).

    Raises:
        OSError: ``useradd`` failed (its message).
    """
    name = f"pywats-test-{secrets.token_hex(3)}"
    done = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if done.returncode != 0:
        raise OSError(f"useradd {name} failed: {done.stderr.strip()}")
    entry = pwd.getpwnam(name)
    return ServiceUser(name, entry.pw_uid, entry.pw_gid)


def remove_service_user(user: ServiceUser) -> list[int]:
    """SIGKILL every process still running as ``user``, then delete the user (and its group).

    Returns:
        The pids that were still running (each one is something a test left behind).
    """
    leftover = _pids_of(user.uid)
    for pid in leftover:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _pids_of(user.uid) and time.monotonic() < deadline:
        time.sleep(0.05)
    subprocess.run(["userdel", user.name], capture_output=True, timeout=30, check=False)
    subprocess.run(["groupdel", user.name], capture_output=True, timeout=30, check=False)
    return leftover


def _pids_of(uid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    found.append(int(entry))
    return found


def launcher_command(
    user: ServiceUser, command: Sequence[str], *, expose: Sequence[str | Path], cwd: str | Path
) -> list[str]:
    """The command line that runs ``command`` as ``user`` in ``cwd``, with every folder in
    ``expose`` (and the interpreter's installation) reachable for it."""
    paths = [*map(str, expose), sys.prefix, sys.base_prefix, os.path.dirname(sys.executable)]
    args = [sys.executable, "-I", __file__, "--uid", str(user.uid), "--gid", str(user.gid)]
    args += ["--cwd", str(cwd)]
    for path in dict.fromkeys(paths):
        args += ["--expose", path]
    return [*args, "--", *command]


# -- the launcher ----------------------------------------------------------------------------------


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [*[ctypes.c_char_p] * 3, ctypes.c_ulong, ctypes.c_char_p]
    return libc


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str) -> None:
    libc = _libc()
    encoded = [None if s is None else s.encode() for s in (source, target, fstype)]
    result = libc.mount(encoded[0], encoded[1], encoded[2], flags, data.encode() or None)
    _check(result, f"mount {source} on {target}")


def _private_namespace() -> None:
    _check(_libc().unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE, "")


def _traversable(path: str, uid: int, gid: int) -> bool:
    st = os.stat(path)
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _blocking_folders(paths: Sequence[str], uid: int, gid: int) -> dict[str, set[str]]:
    """Each folder the user cannot enter on the way to ``paths``, with its children to keep."""
    plan: dict[str, set[str]] = {}
    for path in paths:
        parts = Path(os.path.realpath(path)).parts
        for depth in range(1, len(parts)):
            folder = str(Path(*parts[:depth]))
            if not _traversable(folder, uid, gid):
                plan.setdefault(folder, set()).add(parts[depth])
    return dict(sorted(plan.items(), key=lambda item: len(Path(item[0]).parts)))


def _open_the_way(paths: Sequence[str], uid: int, gid: int) -> None:
    """Top down: a 0755 tmpfs over every blocking folder, its needed children bound back."""
    for folder, children in _blocking_folders(paths, uid, gid).items():
        kept = {}
        for child in sorted(children):
            original = os.path.join(folder, child)
            kept[child] = (os.open(original, _O_PATH), os.path.isdir(original))
        _mount("tmpfs", folder, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755,size=64k")
        for child, (fd, is_dir) in kept.items():
            target = os.path.join(folder, child)
            if is_dir:
                os.mkdir(target)
            else:
                Path(target).touch()
            _mount(f"/proc/self/fd/{fd}", target, None, _MS_BIND | _MS_REC, "")
            os.close(fd)


def _probe() -> int:
    """Mount a tmpfs and a bind mount in the private namespace (and undo them)."""
    folder = tempfile.mkdtemp(prefix="pywats-launcher-probe-")
    try:
        _mount("tmpfs", folder, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755,size=64k")
        os.mkdir(os.path.join(folder, "x"))
        _mount(folder, os.path.join(folder, "x"), None, _MS_BIND, "")
        _check(_libc().umount2(os.path.join(folder, "x").encode(), 0), "umount")
        _check(_libc().umount2(folder.encode(), 0), "umount")
    finally:
        os.rmdir(folder)
    return 0


def _launch(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="_unprivileged.py")
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("--uid", type=int)
    parser.add_argument("--gid", type=int)
    parser.add_argument("--cwd")
    parser.add_argument("--expose", action="append", default=[])
    parser.add_argument("command", nargs="*")
    ns = parser.parse_args(argv)
    try:
        _private_namespace()
        if ns.probe:
            return _probe()
        _open_the_way(ns.expose, ns.uid, ns.gid)
        os.setgroups([])
        os.setgid(ns.gid)
        os.setuid(ns.uid)
        os.chdir(ns.cwd)
        os.execv(ns.command[0], ns.command)
    except OSError as exc:
        print(f"launcher: {exc}", file=sys.stderr)
        return 126
    return 127  # not reached: execv does not return


if __name__ == "__main__":
    sys.exit(_launch())
