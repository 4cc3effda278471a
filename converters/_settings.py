"""The pool's settings and the configuration of one converter, as frozen msgspec Structs.

Both decode from the node's TOML configuration (``msgspec.convert(table, PoolSettings)``); unknown
keys and out-of-range values are errors that name the field.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, Literal

import msgspec

__all__ = ["ConverterConfig", "PoolSettings"]

_MiB = 1 << 20

Positive = Annotated[float, msgspec.Meta(gt=0)]


class ConverterConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One converter the pool loads.

    Attributes:
        ref: a built-in or entry-point name (``csv``), a dotted path (``pkg.mod:Class``) or a file
            (``path/to/file.py:Class``).
        name: what callers pass to ``convert(converter=...)``; defaults to the converter's own
            name. Give two configurations of one converter (two CSV mappings) different names.
        args: the converter's arguments, validated against its ``Arguments`` schema.
        detection: its part in auto-detection (a ``convert`` without a converter name): ``on``
            (it may take the file), ``hint`` (it scores the file only to explain a refusal: a
            disabled built-in) or ``off`` (used by name only, such as a watch folder's own
            configuration).
        read_paths: more paths the workers of its trust domain may read (a scheduled
            converter's source), read-only, as ``PoolSettings.read_paths``.
    """

    ref: str
    name: str | None = None
    args: dict[str, Any] = {}
    detection: Literal["on", "hint", "off"] = "on"
    read_paths: tuple[str, ...] = ()


class PoolSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How many sandboxed workers, and the limits each one runs under.

    Attributes:
        workers: worker processes *per trust domain* (and so concurrent conversions per
            domain). The built-in converters share one domain; each third-party plug-in module
            (file, dotted module or entry point) is a domain of its own, with its own
            ``workers`` processes that import only it. A pool of the built-ins and two
            plug-ins runs ``3 * workers`` processes.
        timeout: wall-clock seconds one file may take, detection included.
        cpu_seconds: CPU seconds one file may use (soft RLIMIT_CPU re-armed per file, and
            watched by the parent).
        memory_mb: resident memory (RSS) of a worker and its children, watched by the parent.
        address_space_mb: RLIMIT_AS of a worker (virtual memory; larger than ``memory_mb``).
        open_files: RLIMIT_NOFILE of a worker.
        max_written_file_mb: RLIMIT_FSIZE: the largest file a worker may write.
        max_input_mb: the largest file the pool accepts (larger ones are rejected).
        max_output_mb: the largest answer a worker may send (all reports of one file, counted
            over its ``Part`` frames as they arrive); more kills the worker (a crash). Separate
            from the frame cap (:attr:`max_frame`: one frame, ``max_output_mb`` plus 1 MiB of
            message overhead), which catches garbage before a frame is read.
        max_reports_per_file: the most reports one answer may hold; more rejects the file
            (``too_large``) before any report is decoded.
        max_values_per_report: the most JSON values one report may hold, counted before it is
            decoded (an upper bound: every ``,``, ``{`` and ``[`` byte counts, also inside
            text); more rejects the file (``too_large``). Bounds what decoding one answer
            costs the node's memory (about 100 bytes per value).
        landlock: ``auto`` (use it when the kernel offers it), ``required`` (refuse to start
            without it), ``off``.
        namespaces: ``auto`` (a PID, network, mount and IPC namespace per worker, inside a user
            namespace, where the kernel allows them), ``required`` (refuse to start without
            them), ``off``.
        seccomp: ``auto`` (a system-call filter that kills a worker calling what no converter
            needs: ptrace, sockets, mount...), ``required``, ``off``.
        temp_mb: size of a worker's private temporary folder (a tmpfs of its own when the
            worker has a mount namespace).
        hide_paths: files and folders no worker may see, whatever else it is granted (the
            configuration, the token, the spool); hidden by the mount namespace and never
            granted by Landlock.
        max_conversions_per_worker: a worker process is replaced by a fresh one after this many
            files (bounds leaks in converters).
        cpu_lifetime_seconds: hard RLIMIT_CPU of a worker process; it is recycled before it gets
            close.
        start_timeout: seconds a worker may take to start and load its converters.
        stop_grace: seconds a worker may take to finish its file when the pool stops.
        poll_interval: seconds between two RSS/CPU checks of a converting worker.
        detect_head_kb: how much of a file ``detect()`` sees.
        restart_intensity, restart_period: each trust domain's worker supervisor gives up after
            more than this many restarts within this many seconds (counted per domain). When
            the built-in domain's gives up, the pool fails; when a plug-in domain's does, only
            that domain stops: its converters answer ``Unavailable`` and the domain starts
            again after ``start_backoff_max`` seconds, while the other domains go on. Each bad
            file that kills workers costs two restarts (the retry runs on a fresh worker).
        backoff_min, backoff_max: delay before a crashed worker is restarted (doubles per
            consecutive crash, with jitter).
        start_backoff_max: once the pool runs, a worker process that cannot be started (the
            interpreter is missing, ``fork`` fails, no memory) is tried again after
            ``backoff_min`` seconds, doubling up to this, for as long as it takes; such
            failures never make the pool give up.
        python: the interpreter that runs workers.
        python_path: extra import paths for workers (granted read-only under Landlock).
        read_paths: extra read-only paths for converters (reference data...).
        temp_root: where each worker's private temporary folder is created (default: the
            system's).
    """

    workers: Annotated[int, msgspec.Meta(ge=1, le=64)] = 2
    timeout: Positive = 60.0
    cpu_seconds: Annotated[int, msgspec.Meta(ge=1)] = 60
    memory_mb: Annotated[int, msgspec.Meta(ge=16)] = 1024
    address_space_mb: Annotated[int, msgspec.Meta(ge=64)] = 2048
    open_files: Annotated[int, msgspec.Meta(ge=16)] = 256
    max_written_file_mb: Annotated[int, msgspec.Meta(ge=1)] = 64
    max_input_mb: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 64
    max_output_mb: Annotated[int, msgspec.Meta(ge=1, le=2048)] = 32
    max_reports_per_file: Annotated[int, msgspec.Meta(ge=1)] = 10_000
    max_values_per_report: Annotated[int, msgspec.Meta(ge=100)] = 500_000
    landlock: Literal["auto", "required", "off"] = "auto"
    namespaces: Literal["auto", "required", "off"] = "auto"
    seccomp: Literal["auto", "required", "off"] = "auto"
    temp_mb: Annotated[int, msgspec.Meta(ge=1, le=65536)] = 128
    hide_paths: tuple[str, ...] = ()
    max_conversions_per_worker: Annotated[int, msgspec.Meta(ge=1)] = 1000
    cpu_lifetime_seconds: Annotated[int, msgspec.Meta(ge=2)] = 3600
    start_timeout: Positive = 30.0
    stop_grace: Positive = 5.0
    poll_interval: Positive = 0.1
    detect_head_kb: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 64
    restart_intensity: Annotated[int, msgspec.Meta(ge=0)] = 20
    restart_period: Positive = 10.0
    backoff_min: Positive = 0.1
    backoff_max: Positive = 5.0
    start_backoff_max: Positive = 60.0
    python: str = sys.executable
    python_path: tuple[str, ...] = ()
    read_paths: tuple[str, ...] = ()
    temp_root: str | None = None

    def __post_init__(self) -> None:
        if self.backoff_max < self.backoff_min:
            raise ValueError("backoff_max must be at least backoff_min")
        if self.start_backoff_max < self.backoff_min:
            raise ValueError("start_backoff_max must be at least backoff_min")
        if self.cpu_lifetime_seconds <= self.cpu_seconds:
            raise ValueError("cpu_lifetime_seconds must be larger than cpu_seconds")

    @property
    def max_input(self) -> int:
        """``max_input_mb`` in bytes."""
        return self.max_input_mb * _MiB

    @property
    def max_output(self) -> int:
        """``max_output_mb`` in bytes."""
        return self.max_output_mb * _MiB

    @property
    def max_frame(self) -> int:
        """The largest frame the parent reads from a worker, in bytes: ``max_output`` plus
        1 MiB for the message around the reports. A longer frame is refused before it is read
        (a protocol violation)."""
        return self.max_output + _MiB
