"""A small ctypes binding to Linux Landlock: probe the ABI, build a ruleset, restrict this process.

Landlock (Linux >= 5.13) lets an unprivileged process give up access rights for itself and its
future children, irrevocably. We use:

* file-system rights (ABI 1; REFER from ABI 2, TRUNCATE from ABI 3, IOCTL_DEV from ABI 5): every
  right this kernel knows is *handled*, so anything not granted by a rule is denied;
* TCP rights (ABI 4): ``bind`` and ``connect`` are handled with no rule, so both are denied;
* scopes (ABI 6): abstract Unix sockets and signals to processes outside the sandbox are denied.

The syscalls have the same numbers on every architecture that has them (444-446); libc's
``syscall()`` calls them, since glibc has no wrappers. No third-party binding is used: the only
ranked one on PyPI is a pre-release, and the needed surface is three syscalls and a prctl.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import sys
from collections.abc import Iterable

__all__ = ["LandlockError", "abi_version", "restrict_self"]

_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

# File-system access rights, and the ABI that introduced them.
FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5

_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
_FILE_ONLY = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV

NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

READ_ONLY = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
READ_WRITE = (1 << 16) - 1


class LandlockError(OSError):
    """A Landlock syscall failed (``errno`` and ``strerror`` as for any ``OSError``)."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    libc.syscall.restype = ctypes.c_long
    return libc


def _fail(what: str) -> LandlockError:
    code = ctypes.get_errno()
    return LandlockError(code, f"{what}: {os.strerror(code)}")


def abi_version() -> int:
    """The Landlock ABI version the kernel offers; 0 when it offers none (or not Linux)."""
    libc = _libc()
    if libc is None:
        return 0
    result = libc.syscall(
        _SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION)
    )
    return max(int(result), 0)


def handled_fs(abi: int) -> int:
    """Every file-system right known at ``abi``."""
    return next(
        mask for version, mask in sorted(_FS_BY_ABI.items(), reverse=True) if abi >= version
    )


def restrict_self(
    *,
    read_only: Iterable[str],
    read_write: Iterable[str],
    device_rw: Iterable[str] = (),
    abi: int | None = None,
) -> int:
    """Restrict this process (and its future children) for good.

    Everything the kernel's Landlock ABI can deny is denied, except:
    ``read_only`` paths (read, list, execute), ``read_write`` paths (everything), and
    ``device_rw`` files (read and write, e.g. ``/dev/null``). Paths that do not exist are skipped.
    TCP bind/connect are denied from ABI 4, signals and abstract Unix sockets to the outside from
    ABI 6.

    Returns:
        The ABI version the restriction used.

    Raises:
        LandlockError: the kernel offers no Landlock, or a syscall failed. The process is then
            not restricted.
    """
    libc = _libc()
    version = abi_version() if abi is None else abi
    if libc is None or version < 1:
        raise LandlockError(errno.EOPNOTSUPP, "Landlock is not available on this system")
    fs_rights = handled_fs(version)
    attr = _RulesetAttr(handled_access_fs=fs_rights)
    size = 8
    if version >= 4:
        attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP
        size = 16
    if version >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        size = 24
    ruleset = libc.syscall(
        _SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)
    )
    if ruleset < 0:
        raise _fail("landlock_create_ruleset")
    try:
        for paths, rights in (
            (read_only, READ_ONLY),
            (read_write, READ_WRITE),
            (device_rw, FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE),
        ):
            for path in paths:
                _add_path_rule(libc, int(ruleset), path, rights & fs_rights)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise _fail("prctl(PR_SET_NO_NEW_PRIVS)")
        if libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            raise _fail("landlock_restrict_self")
    finally:
        os.close(ruleset)
    return version


def _add_path_rule(libc: ctypes.CDLL, ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a path that does not exist grants nothing
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= _FILE_ONLY
        rule = _PathBeneathAttr(allowed_access=rights, parent_fd=fd)
        result = libc.syscall(
            _SYS_ADD_RULE,
            ctypes.c_int(ruleset),
            ctypes.c_int(_RULE_PATH_BENEATH),
            ctypes.byref(rule),
            ctypes.c_uint32(0),
        )
        if result != 0:
            raise _fail(f"landlock_add_rule({path!r})")
    finally:
        os.close(fd)
