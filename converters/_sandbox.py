"""The worker's sandbox: resource limits, Landlock lock-down, and the level it reached.

Levels, strongest first:

* ``landlock-abi<N>+rlimits``: Landlock restricts files (read-only Python installation and
  converter code, read-write only the private temp folder), TCP bind/connect (ABI >= 4), and
  signals and abstract Unix sockets to the outside (ABI >= 6); rlimits bound memory, CPU, open
  files and written file size;
* ``rlimits-only``: the kernel has no Landlock, or it was turned off; process isolation (own
  session, scrubbed environment, private working directory, input as bytes) and rlimits remain.

The worker applies the rlimits first thing and locks itself down after importing the converters;
the parent watches RSS, CPU and wall time on top of that and kills the process group on overrun.
"""

from __future__ import annotations

import math
import os
import resource
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import msgspec

from . import _landlock

__all__ = [
    "RLIMITS_ONLY",
    "Limits",
    "SandboxInfo",
    "apply_rlimits",
    "arm_cpu_limit",
    "code_paths",
    "lock_down",
    "probe_sandbox",
]

RLIMITS_ONLY = "rlimits-only"

_SYSTEM_READ_PATHS = (
    "/lib",
    "/lib64",
    "/usr/lib",
    "/usr/lib64",
    "/usr/local/lib",
    "/usr/share/zoneinfo",
    "/etc/localtime",
)
_DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom")


class SandboxInfo(msgspec.Struct, frozen=True):
    """What the sandbox of a worker process is made of.

    Attributes:
        level: ``landlock-abi<N>+rlimits`` or ``rlimits-only``.
        landlock_abi: the Landlock ABI used (0: none).
        note: why the level is what it is (e.g. why Landlock is off).
    """

    level: str
    landlock_abi: int
    note: str = ""

    @property
    def landlocked(self) -> bool:
        """True when Landlock restricts the worker."""
        return self.landlock_abi > 0


def landlock_level(abi: int) -> str:
    """The level name for a worker restricted by Landlock ABI ``abi``."""
    return f"landlock-abi{abi}+rlimits"


def probe_sandbox(landlock: str = "auto") -> SandboxInfo:
    """The sandbox level workers will reach on this machine with this ``landlock`` setting.

    This only asks the kernel; the level a running pool reports is the one its workers actually
    reached (:attr:`ConverterPool.sandbox`).
    """
    if landlock == "off":
        return SandboxInfo(RLIMITS_ONLY, 0, "Landlock turned off by the settings")
    abi = _landlock.abi_version()
    if abi < 1:
        return SandboxInfo(RLIMITS_ONLY, 0, "the kernel offers no Landlock")
    return SandboxInfo(landlock_level(abi), abi)


class Limits(msgspec.Struct, frozen=True):
    """The rlimits a worker sets on itself, passed on its command line.

    Attributes:
        address_space: RLIMIT_AS in bytes.
        cpu_lifetime: hard RLIMIT_CPU in seconds for the whole life of the process; the soft
            limit is re-armed before each file (:func:`arm_cpu_limit`).
        open_files: RLIMIT_NOFILE.
        file_size: RLIMIT_FSIZE in bytes (the largest file it may write).
    """

    address_space: int
    cpu_lifetime: int
    open_files: int
    file_size: int


def apply_rlimits(limits: Limits) -> None:
    """Set this process's rlimits (lowering hard limits too, so they cannot be raised back).

    No core dumps: a crashing worker must not write gigabytes to the disk.
    """
    for which, value in (
        (resource.RLIMIT_AS, limits.address_space),
        (resource.RLIMIT_CPU, limits.cpu_lifetime),
        (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_FSIZE, limits.file_size),
        (resource.RLIMIT_CORE, 0),
    ):
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))


def cpu_used() -> float:
    """CPU seconds this process has used (user + system, every thread: the clock RLIMIT_CPU
    counts)."""
    return time.process_time()


def arm_cpu_limit(seconds: int) -> None:
    """Allow ``seconds`` more CPU seconds from now (soft RLIMIT_CPU; SIGXCPU beyond it).

    The limit is written only when it changes: files that use less than a CPU second find it
    already where it must be.
    """
    current, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(cpu_used()) + seconds
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    if soft != current:
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def code_paths(extra: Iterable[str] = ()) -> list[str]:
    """The paths a locked-down worker may read: the Python installation, the code it has
    imported, its import path, and ``extra``; nested paths are collapsed into their parents."""
    found: set[str] = set()
    for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        found.add(prefix)
    for entry in sys.path:
        if entry and os.path.exists(entry):
            found.add(entry)
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and os.path.isabs(file):
            found.add(os.path.dirname(file))
    found.update(extra)
    resolved = sorted({str(Path(p).resolve()) for p in found if p})
    kept: list[str] = []
    for path in resolved:
        if path == "/":
            continue  # never the whole file system
        if kept and (path == kept[-1] or path.startswith(kept[-1].rstrip("/") + "/")):
            continue
        kept.append(path)
    return kept


def lock_down(mode: str, *, temp_dir: str, read_paths: Iterable[str]) -> SandboxInfo:
    """Restrict this process with Landlock as far as ``mode`` and the kernel allow.

    Args:
        mode: ``auto`` (use Landlock when offered), ``required`` (fail without it), ``off``.
        temp_dir: the private folder, the only place it may write.
        read_paths: further read-only paths (converter files, configured extras).

    Raises:
        OSError: ``mode`` is ``required`` and Landlock is unavailable or failed.
    """
    if mode == "off":
        return SandboxInfo(RLIMITS_ONLY, 0, "Landlock turned off by the settings")
    abi = _landlock.abi_version()
    if abi < 1:
        if mode == "required":
            raise _landlock.LandlockError(0, "Landlock is required but the kernel offers none")
        return SandboxInfo(RLIMITS_ONLY, 0, "the kernel offers no Landlock")
    readable = code_paths(read_paths) + [p for p in _SYSTEM_READ_PATHS if os.path.exists(p)]
    try:
        used = _landlock.restrict_self(
            read_only=readable, read_write=[temp_dir], device_rw=_DEVICES, abi=abi
        )
    except OSError as exc:
        if mode == "required":
            raise
        return SandboxInfo(RLIMITS_ONLY, 0, f"Landlock failed: {exc}")
    return SandboxInfo(landlock_level(used), used)
