"""The worker's sandbox: its layers, the level they make, and how the parent checks it.

Layers, each applied by the worker to itself before it imports a single converter (and so
before any thread exists, which matters: Landlock and seccomp bind the threads that exist when
they are applied and every thread and process started after):

* ``namespaces``: a user, PID, network, mount and IPC namespace of its own
  (:mod:`converters._namespaces`): every process it starts dies with it, no network at all, a
  read-only view of the file system with the configuration, token and spool hidden, and a
  private size-limited tmpfs as its only writable place; no capabilities;
* ``seccomp``: a system-call filter that kills the worker on a call no converter needs
  (:mod:`converters._seccomp`);
* ``landlock-abi<N>``: Landlock grants read access to the Python installation, the converter's
  own files and configured extras, and write access to the temporary folder only; TCP, signals
  and abstract Unix sockets to the outside are denied (:mod:`converters._landlock`);
* ``rlimits``: memory, CPU, open files, written file size, no core dumps.

The level names the layers in force, strongest first (``namespaces+seccomp+landlock-abi7+
rlimits``), or ``rlimits-only``. The worker measures it with probes right after locking down (a
canary file outside the allowed paths must not open, a TCP connect to the parent must fail) and
reports them in its ``Locked`` frame before any plug-in runs; the parent then checks what it
can see from outside in ``/proc/<pid>`` (no-new-privileges, seccomp mode, capabilities,
namespaces) and computes the level itself (:func:`judge`): nothing a worker says later can
change it.
"""

from __future__ import annotations

import errno
import math
import os
import resource
import socket
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import msgspec

from . import _landlock
from ._protocol import Locked, Probe
from ._settings import PoolSettings

__all__ = [
    "NAMESPACE_KINDS",
    "RLIMITS_ONLY",
    "Limits",
    "Observed",
    "SandboxInfo",
    "apply_rlimits",
    "arm_cpu_limit",
    "code_paths",
    "compose_level",
    "judge",
    "lock_down",
    "observe",
    "probe_sandbox",
    "required_but_unavailable",
    "run_probes",
]

RLIMITS_ONLY = "rlimits-only"
NAMESPACE_KINDS = ("user", "pid", "net", "mnt", "ipc")
"""The namespaces a worker enters; ``user`` may be missing when the node runs as root on a
kernel that refuses user namespaces (root needs none to create the others)."""
_ISOLATING = frozenset(("pid", "net", "mnt", "ipc"))

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
    """What the sandbox of a worker process is made of, as the parent established it.

    Attributes:
        level: the layers in force, e.g. ``namespaces+seccomp+landlock-abi7+rlimits``, or
            ``rlimits-only`` (:func:`compose_level`).
        landlock_abi: the Landlock ABI in force (0: none).
        note: why a layer is missing or weaker, ``; ``-separated ("" when complete).
        namespaces: the namespaces the worker is in that the node is not.
        seccomp: its system-call filter is in force.
        temp_tmpfs: its temporary folder is a private size-limited tmpfs.
        hidden: the paths hidden from it by its mount namespace.
        probes: what the worker's probes found, before any converter was imported.
    """

    level: str
    landlock_abi: int
    note: str = ""
    namespaces: tuple[str, ...] = ()
    seccomp: bool = False
    temp_tmpfs: bool = False
    hidden: tuple[str, ...] = ()
    probes: tuple[Probe, ...] = ()

    @property
    def landlocked(self) -> bool:
        """True when Landlock restricts the worker."""
        return self.landlock_abi > 0

    @property
    def isolated(self) -> bool:
        """True when the worker has its own PID, network, mount and IPC namespaces."""
        return set(self.namespaces) >= _ISOLATING


def compose_level(*, namespaces: Iterable[str], seccomp: bool, landlock_abi: int) -> str:
    """The level's name: the layers in force, strongest first, then ``rlimits``; or
    ``rlimits-only``. ``namespaces`` counts only when PID, network, mount and IPC are all in."""
    parts = []
    if set(namespaces) >= _ISOLATING:
        parts.append("namespaces")
    if seccomp:
        parts.append("seccomp")
    if landlock_abi > 0:
        parts.append(f"landlock-abi{landlock_abi}")
    return "+".join([*parts, "rlimits"]) if parts else RLIMITS_ONLY


def probe_sandbox(
    landlock: str = "auto", *, namespaces: str = "auto", seccomp: str = "auto"
) -> SandboxInfo:
    """The sandbox level workers should reach on this machine with these settings.

    This only asks the kernel what it offers; the level a running pool reports is the one its
    workers actually reached, probed and checked (:attr:`ConverterPool.sandbox`).
    """
    from . import _seccomp

    notes: list[str] = []
    abi = 0
    if landlock == "off":
        notes.append("Landlock turned off by the settings")
    else:
        abi = max(_landlock.abi_version(), 0)
        if abi < 1:
            notes.append("the kernel offers no Landlock")
    entered: tuple[str, ...] = ()
    if namespaces == "off":
        notes.append("namespaces turned off by the settings")
    else:
        entered, why = _expected_namespaces()
        if why:
            notes.append(why)
    filtered = False
    if seccomp == "off":
        notes.append("seccomp turned off by the settings")
    elif _seccomp.available():
        filtered = True
    else:
        notes.append("the kernel or this architecture offers no seccomp filter")
    level = compose_level(namespaces=entered, seccomp=filtered, landlock_abi=abi)
    return SandboxInfo(level, abi, "; ".join(notes), namespaces=entered, seccomp=filtered)


def required_but_unavailable(settings: PoolSettings) -> str | None:
    """Why a pool with these settings cannot start here: a layer set to ``required`` that the
    kernel does not offer (``None``: every required layer is offered)."""
    offered = probe_sandbox(
        settings.landlock, namespaces=settings.namespaces, seccomp=settings.seccomp
    )
    for key, present, what in (
        ("landlock", offered.landlocked, "Landlock"),
        ("namespaces", offered.isolated, "namespaces"),
        ("seccomp", offered.seccomp, "a seccomp filter"),
    ):
        if getattr(settings, key) == "required" and not present:
            return (
                f'{key} = "required" but this machine offers no {what} ({offered.note}); use '
                '"auto" to run with the layers it offers'
            )
    return None


def _read_sysctl(name: str) -> str | None:
    try:
        with open(f"/proc/sys/{name}") as file:
            return file.read().strip()
    except OSError:
        return None


def _expected_namespaces() -> tuple[tuple[str, ...], str]:
    """The namespaces a worker should get here, from the kernel's switches, and why not all."""
    if not sys.platform.startswith("linux") or not os.path.exists("/proc/self/ns/pid"):
        return (), "the kernel offers no namespaces"
    if os.geteuid() == 0:
        return NAMESPACE_KINDS, ""
    if _read_sysctl("user/max_user_namespaces") == "0":
        return (), "user namespaces are disabled (user.max_user_namespaces = 0)"
    if _read_sysctl("kernel/unprivileged_userns_clone") == "0":
        return (), "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone)"
    if _read_sysctl("kernel/apparmor_restrict_unprivileged_userns") == "1":
        return (), "AppArmor restricts unprivileged user namespaces"
    return NAMESPACE_KINDS, ""


class Observed(msgspec.Struct, frozen=True):
    """What the parent sees of a worker process from outside, in ``/proc/<pid>``.

    Attributes:
        no_new_privs: ``NoNewPrivs: 1``.
        seccomp: ``Seccomp: 2`` (a filter).
        capabilities: its effective capability set (0: none).
        namespaces: the kinds of namespace it is in that the parent is not.
    """

    no_new_privs: bool
    seccomp: bool
    capabilities: int
    namespaces: tuple[str, ...]


def observe(pid: int) -> Observed | None:
    """Look at process ``pid`` from outside; ``None`` when it is gone or cannot be read."""
    fields: dict[str, str] = {}
    try:
        with open(f"/proc/{pid}/status") as file:
            for line in file:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        differ = tuple(
            kind
            for kind in NAMESPACE_KINDS
            if os.readlink(f"/proc/{pid}/ns/{kind}") != os.readlink(f"/proc/self/ns/{kind}")
        )
    except OSError:
        return None
    return Observed(
        no_new_privs=fields.get("NoNewPrivs") == "1",
        seccomp=fields.get("Seccomp") == "2",
        capabilities=int(fields.get("CapEff", "0"), 16),
        namespaces=differ,
    )


def judge(locked: Locked, seen: Observed | None) -> SandboxInfo:
    """The level of a worker from its ``Locked`` frame and what the parent sees.

    A layer counts only when both agree: namespaces the parent does not see, a filter that
    ``/proc`` does not show, a Landlock domain whose canary opened, are not in force.
    """
    notes = list(locked.notes)
    probes = {probe.name: probe for probe in locked.probes}
    namespaces: tuple[str, ...] = ()
    seccomp = False
    abi = locked.landlock_abi
    if seen is None:
        notes.append("the worker could not be inspected in /proc")
        abi = 0
    else:
        namespaces = tuple(k for k in locked.namespaces if k in seen.namespaces)
        missing = sorted(set(locked.namespaces) - set(namespaces))
        if missing:
            notes.append(f"namespaces claimed but not seen: {', '.join(missing)}")
        if namespaces and seen.capabilities:
            notes.append(f"the worker kept capabilities ({seen.capabilities:#x})")
            namespaces = ()
        seccomp = locked.seccomp and seen.seccomp and seen.no_new_privs
        if locked.seccomp and not seccomp:
            notes.append("seccomp claimed but /proc shows no filter")
        if abi and not seen.no_new_privs:
            notes.append("Landlock claimed but no_new_privs is not set")
            abi = 0
    files = probes.get("files")
    if abi and (files is None or not files.held):
        detail = files.detail if files is not None else "not probed"
        notes.append(f"a file outside the allowed paths opened ({detail})")
        abi = 0
    tcp = probes.get("tcp")
    if tcp is not None and not tcp.held:
        notes.append(f"a TCP connection to the node succeeded ({tcp.detail})")
    level = compose_level(namespaces=namespaces, seccomp=seccomp, landlock_abi=abi)
    return SandboxInfo(
        level,
        abi,
        "; ".join(notes),
        namespaces=namespaces,
        seccomp=seccomp,
        temp_tmpfs=locked.temp_tmpfs and "mnt" in namespaces,
        hidden=tuple(locked.hidden) if "mnt" in namespaces else (),
        probes=tuple(locked.probes),
    )


def run_probes(*, canary: str, port: int) -> list[Probe]:
    """Try what the sandbox must refuse: open ``canary`` (a file outside the allowed paths) and
    connect to ``port`` on 127.0.0.1 (where the parent listens). Each attempt is bounded."""
    probes = []
    if canary:
        try:
            with open(canary, "rb") as file:
                file.read(1)
        except OSError as exc:
            probes.append(Probe("files", True, _error_text(exc)))
        else:
            probes.append(Probe("files", False, f"{canary} could be read"))
    if port:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                pass
        except OSError as exc:
            probes.append(Probe("tcp", True, _error_text(exc)))
        else:
            probes.append(Probe("tcp", False, f"connected to 127.0.0.1:{port}"))
    return probes


def _error_text(exc: OSError) -> str:
    name = errno.errorcode.get(exc.errno or 0, "") if exc.errno else ""
    return f"{type(exc).__name__} {name}".strip() if name else type(exc).__name__


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


def lock_down(
    mode: str,
    *,
    temp_dir: str,
    read_paths: Iterable[str],
    hidden: Sequence[str] = (),
    hidden_by_mount: bool = False,
) -> tuple[int, list[str]]:
    """Restrict this process with Landlock as far as ``mode`` and the kernel allow.

    Call it before any thread exists: Landlock binds the calling thread and what it starts.

    Args:
        mode: ``auto`` (use Landlock when offered), ``required`` (fail without it), ``off``.
        temp_dir: the private folder, the only place it may write.
        read_paths: further read-only paths (converter files, configured extras).
        hidden: paths the worker must never read. Unless ``hidden_by_mount`` (the mount
            namespace put something empty over them), no granted path may contain one: such a
            grant is left out, and the note says so.

    Returns:
        The ABI in force (0: none) and notes on what is missing.

    Raises:
        OSError: ``mode`` is ``required`` and Landlock is unavailable or failed.
    """
    if mode == "off":
        return 0, ["Landlock turned off by the settings"]
    abi = _landlock.abi_version()
    if abi < 1:
        if mode == "required":
            raise _landlock.LandlockError(0, "Landlock is required but the kernel offers none")
        return 0, ["the kernel offers no Landlock"]
    notes: list[str] = []
    readable = code_paths(read_paths) + [p for p in _SYSTEM_READ_PATHS if os.path.exists(p)]
    if not hidden_by_mount:
        secrets = [str(Path(p).resolve()) for p in hidden]
        kept = []
        for path in readable:
            inside = [s for s in secrets if s == path or s.startswith(path.rstrip("/") + "/")]
            if inside:
                notes.append(f"{path} is not readable by converters: it holds {inside[0]}")
            else:
                kept.append(path)
        readable = kept
    try:
        used = _landlock.restrict_self(
            read_only=readable, read_write=[temp_dir], device_rw=_DEVICES, abi=abi
        )
    except OSError as exc:
        if mode == "required":
            raise
        return 0, [*notes, f"Landlock failed: {exc}"]
    return used, notes
