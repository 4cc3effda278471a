"""The seccomp system-call filter a converter worker installs on itself before plug-in code runs.

The filter is a hand-built classic-BPF program given to ``seccomp(2)`` through ctypes: the
standard library only, so this file also works when copied alone and run by the system's
``/usr/bin/python3`` (libseccomp is not installed on every station).

What it does, in order, for every system call of every thread of the worker:

1. **Architecture check.** ``seccomp_data.arch`` must be this process's ABI
   (``AUDIT_ARCH_X86_64``, ``AUDIT_ARCH_AARCH64`` or ``AUDIT_ARCH_RISCV64``); any other ABI
   (the i386 ``int 0x80`` entry on x86_64, for example) has other call numbers, so the process
   is killed. On x86_64 the x32 ABI (call number with bit ``0x40000000`` set) is killed too.
2. **Deny-list.** The calls in :data:`FORBIDDEN` end the process with
   ``SECCOMP_RET_KILL_PROCESS``: the parent sees a death by ``SIGSYS``. They are what a file
   converter never needs and what an escape wants: debugging or reading other processes
   (ptrace, process_vm_*, kcmp, pidfd_getfd, process_madvise, process_mrelease), any new
   socket (the worker talks through inherited pipes; ``socketpair`` stays allowed), mounts and
   namespaces (mount, the new mount API, unshare, setns, chroot, pivot_root), the kernel's
   large attack surfaces (keyrings, bpf, perf_event_open, userfaultfd, io_uring), the machine
   itself (modules, kexec, reboot, swap, accounting, quotas, syslog, clocks, host names, I/O
   ports, ``vhangup``), file handles that bypass path checks (open_by_handle_at,
   name_to_handle_at), fanotify, and legacy x86 interfaces with a history of exploits
   (``uselib``, ``modify_ldt``).
3. **Argument checks.** ``clone`` with any namespace flag kills; ``clone3`` fails with
   ``ENOSYS`` (its flags sit in memory a filter cannot read) so glibc falls back to ``clone``
   for threads, ``fork`` and ``posix_spawn``; ``ioctl`` ``TIOCSTI``/``TIOCLINUX`` (typing into
   a terminal) kills; ``prctl(PR_SET_PDEATHSIG, ...)`` fails with ``EPERM`` because the
   launcher relies on the worker's parent-death signal staying as set.
4. Everything else is **allowed**. This is a deny-list with a default of allow on purpose:
   Python, its extension modules and third-party converters need a broad, changing set of
   ordinary calls, and an allow-list that misses one kills good converters. Files, ``exec`` and
   TCP are restricted by Landlock and the namespaces, not here.

``clone``, ``ioctl`` and ``prctl`` declare those arguments as ``int``/``unsigned int`` (clone:
the kernel keeps only the low 32 bits of its flags), so the filter compares the low 32 bits
only: high bits cannot smuggle a flag past it, and checking them would only refuse calls the
kernel treats as identical. The call numbers are kept below per architecture (x86_64 has its
own table; aarch64 and riscv64 share the kernel's generic one), ``None`` where one lacks a call.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import sys
from collections.abc import Iterator
from typing import NamedTuple

__all__ = ["FORBIDDEN", "SeccompError", "available", "install"]

# name: (x86_64, generic = aarch64 and riscv64). Calls from 424 on share one number everywhere.
_FORBIDDEN_NUMBERS: dict[str, tuple[int | None, int | None]] = {
    # other processes' memory and state
    "ptrace": (101, 117),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "process_madvise": (440, 440),
    "process_mrelease": (448, 448),  # reaps another process's memory
    "kcmp": (312, 272),
    "pidfd_getfd": (438, 438),
    # network: every family (AF_INET, AF_UNIX, AF_NETLINK...); socketpair is not listed
    "socket": (41, 198),
    # mounts, namespaces, root changes
    "mount": (165, 40),
    "umount2": (166, 39),
    "pivot_root": (155, 41),
    "chroot": (161, 51),
    "open_tree": (428, 428),
    "open_tree_attr": (467, 467),  # Linux 6.15: open_tree with mount attributes
    "move_mount": (429, 429),
    "fsopen": (430, 430),
    "fsconfig": (431, 431),
    "fsmount": (432, 432),
    "fspick": (433, 433),
    "mount_setattr": (442, 442),
    "unshare": (272, 97),
    "setns": (308, 268),
    # large kernel attack surfaces
    "keyctl": (250, 219),
    "add_key": (248, 217),
    "request_key": (249, 218),
    "bpf": (321, 280),
    "perf_event_open": (298, 241),
    "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    # the machine itself
    "kexec_load": (246, 104),
    "kexec_file_load": (320, 294),
    "init_module": (175, 105),
    "finit_module": (313, 273),
    "delete_module": (176, 106),
    "reboot": (169, 142),
    "swapon": (167, 224),
    "swapoff": (168, 225),
    "acct": (163, 89),
    "quotactl": (179, 60),
    "quotactl_fd": (443, 443),  # quotactl by file descriptor
    "syslog": (103, 116),
    "settimeofday": (164, 170),
    "clock_settime": (227, 112),
    "clock_adjtime": (305, 266),
    "adjtimex": (159, 171),
    "sethostname": (170, 161),
    "setdomainname": (171, 162),
    "vhangup": (153, 58),
    "lookup_dcookie": (212, 18),
    "iopl": (172, None),
    "ioperm": (173, None),
    # file handles that skip path checks; file-system-wide event monitoring
    "open_by_handle_at": (304, 265),
    "name_to_handle_at": (303, 264),
    "fanotify_init": (300, 262),
    # legacy x86 interfaces with a history of kernel exploits
    "uselib": (134, None),  # a.out library loader
    "modify_ldt": (154, None),  # 16-bit segments (Wine's, nobody else's)
}

FORBIDDEN: frozenset[str] = frozenset(_FORBIDDEN_NUMBERS)
"""Names of the system calls that kill the worker whatever their arguments."""

# Calls whose arguments are checked, and seccomp itself.
_CHECKED_NUMBERS: dict[str, tuple[int, int]] = {
    "clone": (56, 220),
    "clone3": (435, 435),
    "ioctl": (16, 29),
    "prctl": (157, 167),
    "seccomp": (317, 277),
}


class _Arch(NamedTuple):
    audit: int  # AUDIT_ARCH_* value of seccomp_data.arch
    column: int  # 0: the x86_64 table, 1: the generic table
    x32: bool  # the x32 ABI exists and must be killed


_ARCHES = {
    "x86_64": _Arch(0xC000003E, 0, True),  # EM_X86_64 | 64BIT | LE
    "aarch64": _Arch(0xC00000B7, 1, False),  # EM_AARCH64 | 64BIT | LE
    "riscv64": _Arch(0xC00000F3, 1, False),  # EM_RISCV | 64BIT | LE
}

_X32_BIT = 0x40000000
_CLONE_NAMESPACES = (
    0x00020000  # CLONE_NEWNS
    | 0x02000000  # CLONE_NEWCGROUP
    | 0x04000000  # CLONE_NEWUTS
    | 0x08000000  # CLONE_NEWIPC
    | 0x10000000  # CLONE_NEWUSER
    | 0x20000000  # CLONE_NEWPID
    | 0x40000000  # CLONE_NEWNET
    | 0x00000080  # CLONE_NEWTIME: inside CSIGNAL for clone(), an invalid exit signal anyway
)
_TIOCSTI = 0x5412
_TIOCLINUX = 0x541C
_PR_SET_PDEATHSIG = 1
_PR_GET_SECCOMP = 21
_PR_SET_NO_NEW_PRIVS = 38

_SECCOMP_SET_MODE_FILTER = 1
_SECCOMP_GET_ACTION_AVAIL = 2
_SECCOMP_FILTER_FLAG_TSYNC = 1
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000

# Classic BPF opcodes (linux/bpf_common.h).
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS: A = 32-bit word of seccomp_data at k
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K: jump if A & k
_RET = 0x06  # BPF_RET | BPF_K

# struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }
_OFF_NR = 0
_OFF_ARCH = 4
_LOW_HALF = 0 if sys.byteorder == "little" else 4

_Insn = tuple[int, int, int, int]  # code, jt, jf, k


class SeccompError(OSError):
    """The filter cannot be installed: unknown architecture, or a failing prctl/seccomp call
    (``errno`` and ``strerror`` as for any ``OSError``)."""


class _SockFilter(ctypes.Structure):
    _fields_ = (
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    )


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter)))


def _arg_low(index: int) -> int:
    """Offset in ``seccomp_data`` of the low 32 bits of argument ``index``."""
    return 16 + 8 * index + _LOW_HALF


def _stmt(code: int, k: int) -> _Insn:
    return (code, 0, 0, k)


def _jump(code: int, k: int, jt: int, jf: int) -> _Insn:
    return (code, jt, jf, k)


def _machine() -> str:
    """The architecture key of this *process* (a 32-bit Python on a 64-bit kernel is not
    ``x86_64``: its calls arrive with another ABI)."""
    machine = os.uname().machine
    if struct.calcsize("P") != 8:
        return f"{machine} (32-bit process)"
    return machine


def _build_filter(machine: str) -> list[_Insn]:
    """The filter program for ``machine`` (an ``uname -m`` name).

    Raises:
        SeccompError: (``ENOTSUP``) when there is no call table for ``machine``.
    """
    arch = _ARCHES.get(machine)
    if arch is None:
        raise SeccompError(
            errno.ENOTSUP,
            f"no seccomp system-call table for architecture {machine!r}"
            f" (known: {', '.join(sorted(_ARCHES))})",
        )
    nr = {name: numbers[arch.column] for name, numbers in _CHECKED_NUMBERS.items()}
    kill, allow = _stmt(_RET, _RET_KILL_PROCESS), _stmt(_RET, _RET_ALLOW)
    program = [
        _stmt(_LD_W_ABS, _OFF_ARCH),
        _jump(_JEQ, arch.audit, 1, 0),
        kill,
        _stmt(_LD_W_ABS, _OFF_NR),
    ]
    if arch.x32:
        program += [_jump(_JSET, _X32_BIT, 0, 1), kill]
    for numbers in _FORBIDDEN_NUMBERS.values():
        number = numbers[arch.column]
        if number is not None:
            program += [_jump(_JEQ, number, 0, 1), kill]
    program += [_jump(_JEQ, nr["clone3"], 0, 1), _stmt(_RET, _RET_ERRNO | errno.ENOSYS)]
    # Each block below loads an argument, so it ends with a return.
    program += [
        _jump(_JEQ, nr["clone"], 0, 4),
        _stmt(_LD_W_ABS, _arg_low(0)),  # flags (arg 0 on x86_64, aarch64 and riscv64)
        _jump(_JSET, _CLONE_NAMESPACES, 0, 1),
        kill,
        allow,
    ]
    program += [
        _jump(_JEQ, nr["ioctl"], 0, 5),
        _stmt(_LD_W_ABS, _arg_low(1)),  # request
        _jump(_JEQ, _TIOCSTI, 2, 0),
        _jump(_JEQ, _TIOCLINUX, 1, 0),
        allow,
        kill,
    ]
    program += [
        _jump(_JEQ, nr["prctl"], 0, 4),
        _stmt(_LD_W_ABS, _arg_low(0)),  # option
        _jump(_JEQ, _PR_SET_PDEATHSIG, 0, 1),
        _stmt(_RET, _RET_ERRNO | errno.EPERM),
        allow,
    ]
    program.append(allow)
    return program


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    libc.prctl.restype = ctypes.c_int
    return libc


def _iter_status() -> Iterator[str]:
    with open("/proc/self/status", encoding="ascii", errors="replace") as status:
        yield from status


def available() -> bool:
    """Whether :func:`install` can work here: the kernel has seccomp filters with the
    kill-process action, and there is a call table for this process's architecture.

    Never raises: any failure to find out means ``False``.
    """
    machine = _machine()
    if machine not in _ARCHES:
        return False
    try:
        if not any(line.startswith("Seccomp:") for line in _iter_status()):
            return False
        libc = _libc()
        if libc.prctl(_PR_GET_SECCOMP, 0, 0, 0, 0) < 0:
            return False
        action = ctypes.c_uint32(_RET_KILL_PROCESS)
        number = _CHECKED_NUMBERS["seccomp"][_ARCHES[machine].column]
        args = (ctypes.c_long(_SECCOMP_GET_ACTION_AVAIL), ctypes.c_long(0))
        return int(libc.syscall(ctypes.c_long(number), *args, ctypes.byref(action))) == 0
    except OSError:
        return False


def install() -> None:
    """Set ``PR_SET_NO_NEW_PRIVS`` and install the worker filter on every thread of this
    process (``SECCOMP_FILTER_FLAG_TSYNC``). Irrevocable; children inherit it.

    Raises:
        SeccompError: the architecture has no call table here (nothing changed), or the
            ``prctl``/``seccomp`` call failed (``NO_NEW_PRIVS`` may already be set), or a
            thread could not be synchronised (the filter is then on no thread).
    """
    machine = _machine()
    program = _build_filter(machine)
    libc = _libc()
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        code = ctypes.get_errno()
        raise SeccompError(code, f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os.strerror(code)}")
    instructions = (_SockFilter * len(program))(*(_SockFilter(*insn) for insn in program))
    fprog = _SockFprog(len(program), instructions)
    number = _CHECKED_NUMBERS["seccomp"][_ARCHES[machine].column]
    result = int(
        libc.syscall(
            ctypes.c_long(number),
            ctypes.c_long(_SECCOMP_SET_MODE_FILTER),
            ctypes.c_long(_SECCOMP_FILTER_FLAG_TSYNC),
            ctypes.byref(fprog),
        )
    )
    if result < 0:
        code = ctypes.get_errno()
        raise SeccompError(code, f"seccomp(SECCOMP_SET_MODE_FILTER) failed: {os.strerror(code)}")
    if result > 0:
        raise SeccompError(
            errno.EBUSY,
            f"seccomp filter not installed: thread {result} cannot be synchronised"
            " (it has a filter of its own)",
        )
