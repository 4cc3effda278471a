"""Which file system a watch folder is on, so the pipeline knows what may block.

On a local disk, opening, reading a small file and renaming it take tens of microseconds: less
than a trip to a worker thread (about 190 µs of CPU with trio's thread cache). On a network
share (NFS, SMB/CIFS, FUSE mounts such as sshfs) any of those calls can hang for as long as the
server is away, which must never stall the event loop. :func:`is_local` tells them apart from
the kernel's mount table; anything it cannot classify counts as remote.
"""

from __future__ import annotations

import os
import re
import sys

__all__ = ["INLINE_READ_LIMIT", "is_local"]

_OCTAL = re.compile(r"\\([0-7]{3})")

INLINE_READ_LIMIT = 1 << 20
"""Files up to this size on a local file system are read on the event loop itself."""

_LOCAL_TYPES = frozenset(
    {
        "ext2",
        "ext3",
        "ext4",
        "xfs",
        "btrfs",
        "f2fs",
        "jfs",
        "reiserfs",
        "tmpfs",
        "ramfs",
        "overlay",
        "zfs",
        "bcachefs",
        "vfat",
        "exfat",
        "ntfs",
        "ntfs3",
        "hfsplus",
        "apfs",
        "iso9660",
        "squashfs",
    }
)


def is_local(path: str, *, mountinfo: str = "/proc/self/mountinfo") -> bool:
    """Whether *path* is on a local, disk- or memory-backed file system.

    Looks up the mount that holds *path* (the longest mount point that is a prefix of its
    resolved path) in *mountinfo*. Network and FUSE file systems, an unreadable table and other
    systems than Linux all give ``False``: the safe answer.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as f:
            table = f.read()
    except OSError:
        return False
    target = os.path.realpath(path)
    best, best_type = "", ""
    for line in table.splitlines():
        fields = line.split(" - ", 1)
        if len(fields) != 2:
            continue
        left, right = fields[0].split(), fields[1].split()
        if len(left) < 5 or not right:
            continue
        mount_point = _unescape(left[4])
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, best_type = mount_point, right[0]
    return best_type in _LOCAL_TYPES


def _unescape(field: str) -> str:
    """Mount points escape space, tab, newline and backslash as octal (``\\040``)."""
    return _OCTAL.sub(lambda m: chr(int(m[1], 8)), field)
