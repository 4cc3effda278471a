"""Whether a stable-looking file can be taken: may the node read it, does a writer hold it open?

A test executive that writes a result row by row may pause longer than any settle interval with
the file open. On a local Linux file system the kernel knows whether any process holds a file
open for writing, and a *read lease* asks it cheaply: ``fcntl(F_SETLEASE, F_RDLCK)`` on a
descriptor opened read-only fails with ``EAGAIN`` while any descriptor anywhere is open for
writing on the file (or it is mapped writable), and is granted otherwise. The lease is given
back at once. Only the file's owner, or a process with ``CAP_LEASE`` (root), may take one; for
anyone else the answer is "cannot be known here", and the watcher falls back to what inotify
told it (a write not yet followed by a close) and to the settle interval.

While the lease is held (microseconds), a writer that opens the file waits for it to be given
back, and the kernel signals the lease holder; that signal is SIGIO unless the descriptor says
otherwise, and SIGIO's default action ends the process. The lease is therefore taken with
``F_SETSIG`` set to SIGURG, whose default action is to ignore it.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import fcntl
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Probe", "Verdict", "probe", "read_lease"]

_F_SETSIG = getattr(fcntl, "F_SETSIG", 10)  # Linux's value, where the module lacks the name
_LEASE_SIGNAL = signal.SIGURG  # ignored by default: a lease break must never end the node
_GONE = frozenset({errno.ENOENT, errno.ENOTDIR})
_BUSY = frozenset({errno.EAGAIN, errno.EWOULDBLOCK})


class Verdict(enum.Enum):
    """What a look at a file found."""

    FREE = "free"
    """Readable, and no process has it open for writing (a read lease was granted)."""
    WRITING = "writing"
    """A process has it open for writing (or holds a lease that conflicts)."""
    READABLE = "readable"
    """Readable; whether a writer holds it cannot be known here (not the owner, no lease
    support, a network file system)."""
    UNREADABLE = "unreadable"
    """It cannot be opened or read (see :attr:`Probe.error`): permission denied, an I/O error."""
    GONE = "gone"
    """It no longer exists."""


@dataclass(frozen=True, slots=True)
class Probe:
    """A :class:`Verdict` and, for an unreadable file, why (``"Permission denied"``)."""

    verdict: Verdict
    error: str = ""


def probe(path: str, *, lease: bool = True) -> Probe:
    """Open *path* read-only, read a byte, and (with *lease*) ask whether a writer holds it.

    Blocking: run it in a worker thread where the file system may hang.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in _GONE:
            return Probe(Verdict.GONE)
        if exc.errno in _BUSY:  # another process's write lease: it is being written
            return Probe(Verdict.WRITING)
        return Probe(Verdict.UNREADABLE, exc.strerror or str(exc))
    try:
        try:
            os.read(fd, 1)
        except OSError as exc:
            return Probe(Verdict.UNREADABLE, exc.strerror or str(exc))
        if not lease:
            return Probe(Verdict.READABLE)
        with read_lease(fd) as granted:
            if granted is None:
                return Probe(Verdict.READABLE)
            return Probe(Verdict.FREE if granted else Verdict.WRITING)
    finally:
        os.close(fd)


@contextlib.contextmanager
def read_lease(fd: int) -> Iterator[bool | None]:
    """Hold a read lease on *fd* (opened read-only) for the ``with`` block.

    Yields ``True`` while the lease is held (no writer), ``False`` when a writer holds the file
    open, and ``None`` when it cannot be known (not the file's owner without ``CAP_LEASE``,
    leases disabled or unsupported by the file system). A writer that opens the file during the
    block waits until it ends; the node is not disturbed by the kernel's signal.
    """
    try:
        fcntl.fcntl(fd, _F_SETSIG, _LEASE_SIGNAL)
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
    except OSError as exc:
        yield False if exc.errno in _BUSY else None
        return
    try:
        yield True
    finally:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
