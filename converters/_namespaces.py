"""The isolation a converter worker enters before any untrusted code runs, and its launcher.

``isolate()`` is called once by a single-threaded worker, after its trusted imports and before it
imports any plug-in. It:

1. enters new user, PID, network, mount and IPC namespaces (``unshare``), mapping the caller's
   own uid and gid 1:1 (root stays uid 0 inside; an unprivileged user keeps its uid). Where user
   namespaces are refused and the caller really is root, the other four are entered without one;
2. forks, always. The original process becomes the *launcher*: trusted code only, it closes the
   protocol pipes, becomes a child subreaper, relays SIGTERM/SIGINT/SIGHUP to the worker, kills
   the worker when the node (its parent) dies, kills every process the worker left behind
   (freezing them first, so a process that keeps forking cannot win the race), and exits with
   the worker's status (a death by a signal is relayed as the same signal). It never returns;
3. in the child (the worker: PID 1 of the new PID namespace), forbids nested user namespaces
   (``user.max_user_namespaces`` = 0 in its own), makes the whole file tree read-only, nosuid and
   nodev (except ``/dev/null``, ``zero``, ``full``, ``random``, ``urandom``), mounts a /proc of
   its PID namespace (no other process visible), a private size-limited tmpfs on the temporary
   folder, hides the given paths (an empty read-only tmpfs of mode 0 over a folder, an empty
   file of mode 0 bound read-only over a file: opening either fails with EACCES, as no
   capability is left to override it), then drops every capability for good (secure bits
   locked, bounding and ambient sets emptied, ``capset`` to zero) and sets ``no_new_privs``.

What this does *not* do: restrict reads. A worker running as root (uid 0 inside is uid 0
outside) can still read any root-owned file by ownership, without a capability; descriptors
opened before ``isolate()`` keep their access. Landlock, applied by the worker right after
``isolate()``, is what restricts reads; seccomp then narrows the system calls. Without
namespaces (``mode="off"`` or a kernel that refuses them) the worker keeps the caller's view of
the file system and PID space; the launcher still cleans up after it.

PID 1 of a PID namespace ignores every signal it has no handler for, except SIGKILL and SIGSTOP
(and faults, such as SIGSEGV, which the kernel forces). The launcher makes up for the two that
matter: a forwarded SIGTERM/SIGINT/SIGHUP the worker does not handle, and the SIGXCPU of its
soft RLIMIT_CPU (seen from /proc: the kernel raises the soft limit by a second when it fires),
both done with SIGKILL and relayed as the original signal. A ``kill()`` the worker sends itself,
an ``alarm()`` and the like stay ignored. A dead worker's processes are killed by the kernel.

To stop a worker hard, kill the worker (``inner_pid(launcher)``) with SIGKILL, not the launcher:
the launcher then still removes what the worker left. A SIGKILLed launcher takes the worker with
it (parent-death signal), and with a PID namespace everything below it; without one, processes
the worker left behind survive.

Standard library only (ctypes): the module runs as a copied file under any Python >= 3.9 and any
user. System-call numbers are those of x86_64 and aarch64 (``mount_setattr`` is 442 on both).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import resource
import select
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

__all__ = ["Isolation", "NamespaceError", "inner_pid", "isolate"]

_CLONE_NEWNS = 0x00020000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000
_ALL = _CLONE_NEWUSER | _CLONE_NEWPID | _CLONE_NEWNET | _CLONE_NEWNS | _CLONE_NEWIPC

_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000
_ATIME = {"noatime": 0x400, "nodiratime": 0x800, "relatime": 0x200000, "strictatime": 0x1000000}
_MOUNT_ATTR_RDONLY, _MOUNT_ATTR_NOSUID, _MOUNT_ATTR_NODEV = 0x1, 0x2, 0x4
_AT_FDCWD, _AT_RECURSIVE = -100, 0x8000
_SYS_MOUNT_SETATTR = 442

_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_CAPBSET_DROP = 1, 4, 24
_PR_SET_SECUREBITS, _PR_SET_CHILD_SUBREAPER, _PR_SET_NO_NEW_PRIVS = 28, 36, 38
_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
# NOROOT, NO_SETUID_FIXUP and NO_CAP_AMBIENT_RAISE set, KEEP_CAPS clear: all four locked.
_SECUREBITS = 0x1 | 0x2 | 0x4 | 0x8 | 0x20 | 0x40 | 0x80
_CAP_SETPCAP, _CAP_SYS_ADMIN = 8, 21
_CAPABILITY_VERSION_3 = 0x20080522

_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_DEVICES = ("null", "zero", "full", "random", "urandom")
_CLEANUP_SECONDS = 5.0
_CPU_POLL_MS = 100
_HINTS = {
    errno.EPERM: "kernel.unprivileged_userns_clone=0, kernel.apparmor_restrict_unprivileged_userns"
    "=1 or a container's seccomp filter?",
    errno.ENOSPC: "user.max_user_namespaces reached; raise it",
    errno.EINVAL: "a kernel without CONFIG_USER_NS?",
    errno.EUSERS: "nested too deeply",
}


class NamespaceError(OSError):
    """The isolation could not be set up (``errno`` and ``strerror`` as for any ``OSError``)."""


@dataclass(frozen=True)
class Isolation:
    """What ``isolate()`` put in force in the worker.

    Attributes:
        namespaces: the namespaces entered, e.g. ``("user", "pid", "net", "mnt", "ipc")``.
        temp_tmpfs: the temporary folder is a private size-limited tmpfs.
        hidden: the paths hidden from the worker (those that existed).
        capabilities_dropped: the worker holds no capability (effective, permitted, inheritable,
            ambient) and cannot gain one (``no_new_privs``; bounding set emptied where allowed).
        note: why something is missing (``""`` when the isolation is complete).
    """

    namespaces: tuple[str, ...]
    temp_tmpfs: bool
    hidden: tuple[str, ...]
    capabilities_dropped: bool
    note: str


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


class _MountAttr(ctypes.Structure):
    _fields_ = (
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    )


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _check(result: int, what: str) -> None:
    if result < 0:
        number = ctypes.get_errno()
        raise NamespaceError(number, f"{what}: {os.strerror(number)}")


def _prctl(option: int, arg: int = 0, what: str = "prctl") -> None:
    zero = ctypes.c_ulong(0)
    _check(_libc.prctl(option, ctypes.c_ulong(arg), zero, zero, zero), what)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    enc = [None if s is None else os.fsencode(s) for s in (source, target, fstype)]
    result = _libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), data.encode() or None)
    _check(result, f"mount {target}")


def _mount_setattr(path: str, recursive: bool, attr_set: int, attr_clr: int = 0) -> None:
    attr = _MountAttr(attr_set, attr_clr, 0, 0)
    flags = ctypes.c_uint(_AT_RECURSIVE if recursive else 0)
    result = _libc.syscall(
        ctypes.c_long(_SYS_MOUNT_SETATTR), ctypes.c_int(_AT_FDCWD), os.fsencode(path), flags,
        ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)),
    )  # fmt: skip
    _check(result, f"mount_setattr {path}")


def _errname(number: int) -> str:
    return errno.errorcode.get(number, str(number))


def _status_fields(text: str | None = None) -> dict[str, str]:
    """The fields of a /proc/<pid>/status text (by default this process's)."""
    if text is None:
        with open("/proc/self/status") as status:
            text = status.read()
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def _has_capability(number: int) -> bool:
    return bool(int(_status_fields()["CapEff"], 16) >> number & 1)


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (OSError, AttributeError):
        return None  # kernel < 5.3: fall back to polling


def isolate(
    *,
    mode: str,
    temp_dir: str,
    temp_bytes: int,
    hide: Sequence[str],
    launcher_closes: Sequence[int],
) -> Isolation:
    """Isolate the calling worker; fork; return in the child, never in the launcher.

    Args:
        mode: ``"auto"`` (what the kernel allows), ``"required"`` or ``"off"`` (no namespaces;
            the launcher and the capability drop still apply).
        temp_dir: an existing folder; becomes a private tmpfs of ``temp_bytes`` (mode 0700, the
            worker's uid), nosuid, nodev, noexec.
        temp_bytes: size of that tmpfs (rounded up to pages): writing more fails with ENOSPC.
        hide: files and folders the worker must not see; paths that do not exist are skipped.
        launcher_closes: descriptors the launcher closes (the protocol pipes), so the node sees
            end-of-file as soon as the worker is gone.

    Returns:
        In the worker, what is in force; ``note`` says why anything is missing.

    Raises:
        ValueError: ``mode`` is not one of the three.
        NamespaceError: the caller runs more than one thread; or ``mode`` is ``"required"`` and
            the namespaces cannot be entered (raised before forking) or the mount isolation
            cannot be completed (raised in the worker, after its capabilities were dropped);
            or the uid/gid maps cannot be written after the namespaces were entered (the
            process cannot go back); or a capability cannot be dropped (in the worker).
    """
    if mode not in ("auto", "required", "off"):
        raise ValueError(f"namespaces mode must be auto, required or off, not {mode!r}")
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        raise NamespaceError(errno.EINVAL, f"isolate() needs a single thread, not {threads}")
    notes: list[str] = []
    node = os.getppid()
    node_fd = _pidfd(node)
    entered: tuple[str, ...] = ()
    if mode == "off":
        notes.append("namespaces turned off by the settings")
    else:
        entered, why, number = _enter_namespaces()
        if not entered and mode == "required":
            raise NamespaceError(number, f"namespaces are required but {why}")
        if why:
            notes.append(why)
    launcher_fd = _pidfd(os.getpid())
    proc = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # before /proc is new
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _FORWARDED)
    worker = os.fork()
    if worker:
        if launcher_fd is not None:
            os.close(launcher_fd)
        _launcher(worker, node, node_fd, proc, "pid" in entered, launcher_closes, mask)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    os.close(proc)
    if node_fd is not None:
        os.close(node_fd)
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, "PR_SET_PDEATHSIG")
    if launcher_fd is not None:
        gone = select.select([launcher_fd], [], [], 0)[0]
        os.close(launcher_fd)
        if gone:
            os._exit(1)  # the launcher died before the parent-death signal was armed
    temp_tmpfs = False
    hidden: tuple[str, ...] = ()
    failures: list[str] = []
    if "mnt" in entered:
        if "user" in entered:
            _forbid_nested_user_namespaces(notes)
        temp_tmpfs, hidden, failures = _isolate_files(temp_dir, temp_bytes, hide, notes)
    dropped = _drop_capabilities(notes)
    if failures and mode == "required":
        raise NamespaceError(errno.EPERM, "; ".join(failures))  # with no capability left
    notes.extend(failures)
    return Isolation(entered, temp_tmpfs, hidden, dropped, "; ".join(notes))


def inner_pid(launcher_pid: int) -> int | None:
    """The worker below a launcher (its first child), or ``None`` when it has none (any more)."""
    try:
        with open(f"/proc/{launcher_pid}/task/{launcher_pid}/children") as children:
            pids = children.read().split()
    except OSError:
        return None
    return int(pids[0]) if pids else None


def _enter_namespaces() -> tuple[tuple[str, ...], str, int]:
    """Enter all five namespaces (or four, as root, without a user namespace); say why not."""
    uid, gid = os.geteuid(), os.getegid()
    if _libc.unshare(ctypes.c_int(_ALL)) == 0:
        try:
            try:
                with open("/proc/self/setgroups", "w") as setgroups:
                    setgroups.write("deny")
            except FileNotFoundError:
                pass  # kernel < 3.19
            with open("/proc/self/uid_map", "w") as uid_map:
                uid_map.write(f"{uid} {uid} 1")
            with open("/proc/self/gid_map", "w") as gid_map:
                gid_map.write(f"{gid} {gid} 1")
        except OSError as error:
            raise NamespaceError(
                error.errno, f"cannot map uid {uid} and gid {gid}: {error}"
            ) from None
        return ("user", "pid", "net", "mnt", "ipc"), "", 0
    number = ctypes.get_errno()
    why = f"user namespaces are not allowed for uid {uid}: {_errname(number)}"
    why += f" ({_HINTS[number]})" if number in _HINTS else ""
    if not _has_capability(_CAP_SYS_ADMIN):
        return (), why, number
    if _libc.unshare(ctypes.c_int(_ALL & ~_CLONE_NEWUSER)) == 0:
        return ("pid", "net", "mnt", "ipc"), f"{why}; pid, net, mnt and ipc entered without one", 0
    number = ctypes.get_errno()
    return (), f"{why}; nor the others without one: {_errname(number)}", number


def _isolate_files(
    temp_dir: str, temp_bytes: int, hide: Sequence[str], notes: list[str]
) -> tuple[bool, tuple[str, ...], list[str]]:
    """Read-only tree, safe devices, own /proc, private tmpfs, hidden paths; and what failed."""
    failures: list[str] = []
    try:
        _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
        _read_only_tree(notes, failures)
    except NamespaceError as error:
        failures.append(f"the file tree stays writable: {error.strerror}")
    for name in _DEVICES:
        try:
            _reopen_device(f"/dev/{name}")
        except NamespaceError as error:
            failures.append(f"/dev/{name} unusable: {error.strerror}")
    try:  # a /proc of the new PID namespace: no other process visible
        _mount("proc", "/proc", "proc", _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    except NamespaceError as error:
        notes.append(f"/proc still shows every process: {error.strerror}")
    temp_tmpfs = False
    try:
        options = f"size={temp_bytes},mode=0700,uid={os.geteuid()},gid={os.getegid()}"
        _mount("tmpfs", temp_dir, "tmpfs", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, options)
        temp_tmpfs = True
    except NamespaceError as error:
        failures.append(f"no tmpfs on the temporary folder: {error.strerror}")
    hidden, more = _hide(hide, temp_dir if temp_tmpfs else None)
    failures.extend(more)
    return temp_tmpfs, hidden, failures


def _hide(hide: Sequence[str], scratch: str | None) -> tuple[tuple[str, ...], list[str]]:
    """Put something empty and unreadable over each path of ``hide`` that exists: a tmpfs of
    mode 0 over a folder, an empty file of mode 0 (made in ``scratch``, then unlinked) bound
    read-only over a file. Returns the paths hidden and what could not be."""
    hidden: list[str] = []
    failures: list[str] = []
    blank: str | None = None
    if scratch is not None:
        blank = os.path.join(scratch, ".hidden")
        os.close(os.open(blank, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o000))
    flags = _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
    try:
        for path in hide:
            try:
                if os.path.isdir(path):
                    _mount("tmpfs", path, "tmpfs", flags, "size=4k,mode=0000")
                elif not os.path.exists(path):
                    continue
                elif blank is not None:
                    _mount(blank, path, None, _MS_BIND)
                    _mount(None, path, None, _MS_BIND | _MS_REMOUNT | flags)
                else:  # no private tmpfs to make an unreadable file in: at least empty
                    _mount("/dev/null", path, None, _MS_BIND)
                hidden.append(path)
            except NamespaceError as error:
                failures.append(f"{path} not hidden: {error.strerror}")
    finally:
        if blank is not None:
            os.unlink(blank)  # the binds keep it; the worker cannot reach it any other way
    return tuple(hidden), failures


def _forbid_nested_user_namespaces(notes: list[str]) -> None:
    """Limit user namespaces inside ours to 0: the worker cannot regain capabilities in one."""
    try:
        with open("/proc/sys/user/max_user_namespaces", "w") as limit:
            limit.write("0")
    except OSError as error:
        notes.append(f"nested user namespaces stay allowed: {error.strerror}")


def _read_only_tree(notes: list[str], failures: list[str]) -> None:
    """Every mount read-only, nosuid, nodev: in one call, or (before Linux 5.12) one by one."""
    attrs = _MOUNT_ATTR_RDONLY | _MOUNT_ATTR_NOSUID | _MOUNT_ATTR_NODEV
    try:
        _mount_setattr("/", True, attrs)
        return
    except NamespaceError as error:
        if error.errno != errno.ENOSYS:
            raise
    notes.append("no mount_setattr: mounts made read-only one by one")
    for target, options in _mounts():
        flags = _MS_BIND | _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _kept_flags(options)
        try:
            _mount(None, target, None, flags)
        except NamespaceError as error:
            failures.append(f"{target} stays writable: {error.strerror}")


def _reopen_device(path: str) -> None:
    """Bind a safe device node onto itself as a mount of its own that allows device access."""
    if not os.path.exists(path):
        return
    _mount(path, path, None, _MS_BIND)
    try:
        _mount_setattr(path, False, _MOUNT_ATTR_RDONLY | _MOUNT_ATTR_NOSUID, _MOUNT_ATTR_NODEV)
    except NamespaceError as error:
        if error.errno != errno.ENOSYS:
            raise
        options = dict(_mounts()).get(path, "")
        _mount(None, path, None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY | _kept_flags(options))


def _mounts() -> list[tuple[str, str]]:
    """(mount point, per-mount options) of this mount namespace, from /proc/self/mountinfo."""
    found = []
    with open("/proc/self/mountinfo", "rb") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            target = fields[4].decode("unicode_escape").encode("latin-1")  # \040 and friends
            found.append((os.fsdecode(target), fields[5].decode()))
    return found


def _kept_flags(options: str) -> int:
    """The flags a remount inside a user namespace must keep (locked): noexec and atime."""
    words = options.split(",")
    flags = _MS_NOEXEC if "noexec" in words else 0
    for word in words:
        flags |= _ATIME.get(word, 0)
    return flags


def _drop_capabilities(notes: list[str]) -> bool:
    """Drop every capability for good, then set no_new_privs. True when none is left."""
    if _has_capability(_CAP_SETPCAP):
        _prctl(_PR_SET_SECUREBITS, _SECUREBITS, "PR_SET_SECUREBITS")
        with open("/proc/sys/kernel/cap_last_cap") as last:
            for number in range(int(last.read()) + 1):
                _prctl(_PR_CAPBSET_DROP, number, "PR_CAPBSET_DROP")
    _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, "PR_CAP_AMBIENT_CLEAR_ALL")
    header = _CapHeader(_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")
    _prctl(_PR_SET_NO_NEW_PRIVS, 1, "PR_SET_NO_NEW_PRIVS")
    status = _status_fields()
    held = [key for key in ("CapInh", "CapPrm", "CapEff", "CapAmb") if int(status[key], 16)]
    if held or status.get("NoNewPrivs") != "1":
        notes.append(f"capabilities left: {', '.join(held) or 'no_new_privs unset'}")
        return False
    return True


# The launcher: from here on, code that runs in the original process after the fork.


def _launcher(
    worker: int,
    node: int,
    node_fd: int | None,
    proc: int,
    pid_namespace: bool,
    closes: Sequence[int],
    mask: set[int | signal.Signals],
) -> NoReturn:
    """Watch the worker until it exits, clean up after it, and exit as it did. Never returns."""
    status: int | None = None
    emulated: list[int] = []
    worker_fd = _pidfd(worker)

    def kill_worker(number: int) -> None:
        # Through the pidfd: once the worker is reaped its pid may name another process.
        with contextlib.suppress(OSError):
            if worker_fd is not None:
                signal.pidfd_send_signal(worker_fd, number)
            elif status is None:
                os.kill(worker, number)

    try:
        for fd in closes:
            with contextlib.suppress(OSError):
                os.close(fd)
        _prctl(_PR_SET_CHILD_SUBREAPER, 1)
        _prctl(_PR_SET_DUMPABLE, 0)  # the worker cannot ptrace it, nor read its /proc files
        wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)

        def forward(number: int, _frame: object) -> None:
            if pid_namespace and not _handles(proc, worker, number):
                # PID 1 of a namespace ignores a signal it has no handler for: do what the
                # default action would have done, and report that signal as the cause.
                emulated.append(number)
                number = signal.SIGKILL
            kill_worker(number)

        for number in _FORWARDED:
            signal.signal(number, forward)
        signal.signal(signal.SIGCHLD, lambda _n, _f: None)  # only to wake the poll below
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        poll = select.poll()
        for watched in (wake_read, worker_fd, node_fd):
            if watched is not None:
                poll.register(watched, select.POLLIN)
        timeout: int | None = None if worker_fd is not None and node_fd is not None else 200
        cpu_watch = _CpuWatch(proc, worker) if pid_namespace else None
        if cpu_watch is not None:
            timeout = _CPU_POLL_MS  # to do what SIGXCPU would do to the worker (PID 1 ignores it)
        node_alive = True
        while status is None:
            ready = {fd for fd, _ in poll.poll(timeout)}
            if cpu_watch is not None and not emulated and cpu_watch.fired():
                emulated.append(signal.SIGXCPU)
                kill_worker(signal.SIGKILL)
            if wake_read in ready:
                with contextlib.suppress(BlockingIOError):
                    while os.read(wake_read, 512):
                        pass
            if node_alive and (node_fd in ready or (node_fd is None and os.getppid() != node)):
                node_alive = False
                if node_fd is not None:
                    poll.unregister(node_fd)
                kill_worker(signal.SIGKILL)
            status = _reap(worker)
    except BaseException:
        kill_worker(signal.SIGKILL)
    finally:
        try:
            deadline = time.monotonic() + _CLEANUP_SECONDS
            while status is None and time.monotonic() < deadline:
                status = _reap(worker)
                time.sleep(0.001)
            _exterminate(proc, deadline)
        finally:
            _exit_as(status, emulated)


def _proc_text(proc: int, path: str) -> str:
    """A file of the launcher's own /proc (the worker may have mounted another over /proc)."""
    with open(os.open(path, os.O_RDONLY | os.O_CLOEXEC, dir_fd=proc), "rb") as file:
        return file.read().decode()


class _CpuWatch:
    """Sees the soft RLIMIT_CPU of a PID 1 fire: the kernel raises the soft limit by one second
    when it sends SIGXCPU, and PID 1 ignores SIGXCPU unless it has a handler."""

    def __init__(self, proc: int, pid: int) -> None:
        self.proc, self.pid = proc, pid
        self.soft: int | None = None

    def fired(self) -> bool:
        """The limit fired since the last call and SIGXCPU's default action would have killed."""
        try:
            limits = _proc_text(self.proc, f"{self.pid}/limits").splitlines()
            word = next(line.split()[3] for line in limits if line.startswith("Max cpu time"))
            fields = _proc_text(self.proc, f"{self.pid}/stat").rpartition(")")[2].split()
        except (OSError, StopIteration, IndexError):
            return False
        soft, self.soft = self.soft, None if word == "unlimited" else int(word)
        if soft is None or self.soft != soft + 1:
            return False  # unchanged, or set by the worker itself (setrlimit)
        # utime + stime, sampled at clock ticks: a little below the kernel's exact sum. A worker
        # re-arming its limit (setrlimit) has used at least a second less than the old limit.
        used = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return used >= soft - 0.5 and not _handles(self.proc, self.pid, signal.SIGXCPU)


def _handles(proc: int, pid: int, number: int) -> bool:
    """The process catches or ignores the signal (it has a disposition other than default)."""
    try:
        status = _status_fields(_proc_text(proc, f"{pid}/status"))
    except OSError:
        return True
    bit = 1 << (number - 1)
    return bool((int(status["SigCgt"], 16) | int(status["SigIgn"], 16)) & bit)


def _reap(worker: int) -> int | None:
    """Reap every exited child; the worker's wait status if it was among them."""
    found = None
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return found
        if pid == 0:
            return found
        if pid == worker:
            found = status


def _exterminate(proc: int, deadline: float) -> None:
    """Kill every descendant: stop them all (until no new one appears), then SIGKILL and reap."""
    me = os.getpid()
    while time.monotonic() < deadline:
        frozen: set[int] = set()
        while time.monotonic() < deadline:
            new = _descendants(proc, me) - frozen
            if not new:
                break
            for pid in new:
                _signal(pid, signal.SIGSTOP)
            frozen |= new
            for pid in new:  # a stopped process cannot fork; one on its way may fork once more
                while time.monotonic() < deadline and _state(proc, pid) not in "TtZXx":
                    time.sleep(0.0005)
        if not frozen:
            return
        for pid in frozen:
            _signal(pid, signal.SIGKILL)
        while time.monotonic() < deadline:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    time.sleep(0.001)
            except ChildProcessError:
                break


def _descendants(proc: int, root: int) -> set[int]:
    found: set[int] = set()
    queue = [root]
    while queue:
        pid = queue.pop()
        try:
            tasks_fd = os.open(f"{pid}/task", os.O_RDONLY | os.O_DIRECTORY, dir_fd=proc)
        except OSError:
            continue
        try:
            tasks = os.listdir(tasks_fd)
        finally:
            os.close(tasks_fd)
        for task in tasks:
            try:
                pids = {
                    int(child) for child in _proc_text(proc, f"{pid}/task/{task}/children").split()
                }
            except OSError:
                continue
            queue.extend(pids - found)
            found |= pids
    return found


def _state(proc: int, pid: int) -> str:
    try:
        return _proc_text(proc, f"{pid}/stat").rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return "X"


def _signal(pid: int, number: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, number)


def _exit_as(status: int | None, emulated: list[int]) -> NoReturn:
    """Exit with the worker's status; a death by a signal is relayed by dying of that signal."""
    if status is None:
        os._exit(70)  # the worker could not be waited for (EX_SOFTWARE)
    if not os.WIFSIGNALED(status):
        os._exit(os.waitstatus_to_exitcode(status))
    number = os.WTERMSIG(status)
    if number == signal.SIGKILL and emulated:
        number = emulated[-1]
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if number not in (signal.SIGKILL, signal.SIGSTOP):
        signal.signal(number, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [number])
    os.kill(os.getpid(), number)
    os._exit(128 + number)  # a signal whose default action is not to terminate
