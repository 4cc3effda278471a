"""The configuration schema: one frozen msgspec Struct per TOML section.

Decoding is strict: unknown keys are refused (a typo is an error, not a silently ignored key),
types are not coerced (``"8"`` is not ``8``), and every number and string is range-checked
through ``msgspec.Meta``. Patterns are anchored, because msgspec's are not. A ``Meta`` whose
``extra`` carries ``"expected"`` gives error messages a human description instead of a regex.

Durations are in seconds (floats allowed) unless the key's name says otherwise. Empty strings
mean "the default described below", because TOML has no null. ``docs/configuration.md`` is the
operator's reference; a test keeps it in step with these classes.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

__all__ = [
    "CURRENT_SCHEMA_VERSION",
    "ConversionSection",
    "HealthSection",
    "IpcSection",
    "NodeConfig",
    "NodeSection",
    "Schedule",
    "ServerSection",
    "SpoolSection",
    "UploadSection",
    "WatchFolder",
]

CURRENT_SCHEMA_VERSION = 2
"""The schema version this pywats-node writes and reads natively; older files are migrated."""

_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_NAME_EXPECTED = (
    "a name of 1 to 64 letters, digits, '.', '_' or '-' that starts with a letter or digit"
)

InstanceName = Annotated[str, Meta(pattern=_NAME_PATTERN, extra={"expected": _NAME_EXPECTED})]
_OptionalInstanceName = Annotated[
    str,
    Meta(
        pattern=r"^$|" + _NAME_PATTERN,
        extra={"expected": _NAME_EXPECTED + ", or empty"},
    ),
]
_Uuid = Annotated[
    str,
    Meta(
        pattern=r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$",
        extra={"expected": "a UUID such as 6f1c3a52-0b7e-4c21-9d3e-5a8f2b1c4d70"},
    ),
]
_Path = Annotated[str, Meta(max_length=4096)]
_RequiredPath = Annotated[str, Meta(min_length=1, max_length=4096)]
_FolderName = Annotated[
    str,
    Meta(
        pattern=r"^(?!\.\.?$)[^/\\\x00]{1,255}$",
        extra={"expected": "a folder name without '/' (not '.' or '..')"},
    ),
]
_Glob = Annotated[str, Meta(min_length=1, max_length=256)]
_ConverterRef = Annotated[
    str,
    Meta(
        pattern=(
            r"^(?:[A-Za-z0-9_.-]+"  # "auto", an entry-point name, or a dotted path
            r"|[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*"  # package.module:Class
            r"|.+\.py:[A-Za-z_][A-Za-z0-9_]*)$"  # path/to/file.py:Class
        ),
        extra={
            "expected": (
                '"auto", a converter name, a dotted path (package.module:Class) '
                "or a file (path/to/file.py:Class)"
            )
        },
    ),
]
_ConverterName = Annotated[
    str,
    Meta(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$", extra={"expected": "a converter name"}),
]
_Timeout = Annotated[float, Meta(gt=0, le=3600)]
_LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class NodeSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[node]``: who this node is and where it keeps its state.

    Attributes:
        instance: the instance name; it names the lock file and the data folder.
            Empty: the ``--instance`` the node was started with, else the config
            file's name without ``.toml``.
        station_name: ``machineName`` on reports. Empty: this computer's host name.
        station_namespace: the UUID that makes report ids deterministic (UUIDv5 names are
            derived from it). ``config init`` generates one. Never change it on a station that
            has uploaded reports: the same file would get a new id and be stored twice.
        data_dir: folder for the spool and other state. Empty:
            ``$XDG_STATE_HOME/pywats-node/<instance>``.
        log_format: ``auto`` (console on a terminal, JSON otherwise), ``console`` or ``json``.
        log_level: ``debug``, ``info``, ``warning``, ``error`` or ``critical``.
    """

    instance: _OptionalInstanceName = ""
    station_name: Annotated[str, Meta(max_length=100)] = ""
    station_namespace: _Uuid
    data_dir: _Path = ""
    log_format: Literal["auto", "console", "json"] = "auto"
    log_level: _LogLevel = "info"


class ServerSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[server]``: the WATS server.

    Attributes:
        base_url: the server root, ``https://acme.wats.com``. Empty: no server; reports
            are converted and kept in the spool until one is configured.
        token: the API token from WATS Control Panel, inline. Prefer ``token_file``.
        token_file: a file holding the token (mode 0600). Set ``token`` or ``token_file``,
            not both.
        connect_timeout: seconds to establish a connection (TCP and TLS).
        read_timeout: seconds to wait for each chunk of an answer.
        write_timeout: seconds to wait for each chunk of a request to be sent.
        pool_timeout: seconds to wait for a free pooled connection.
        ping_interval: seconds between reachability checks of the server.
        verify_tls: ``true`` to verify the server's certificate, ``false`` to skip it (tests
            only), or the path of a CA bundle file to verify it against.
        trust_env: honour ``HTTPS_PROXY``, ``NO_PROXY`` and ``SSL_CERT_FILE``.
    """

    base_url: Annotated[str, Meta(max_length=2048)] = ""
    token: Annotated[str, Meta(max_length=4096)] = ""
    token_file: _Path = ""
    connect_timeout: _Timeout = 5.0
    read_timeout: _Timeout = 30.0
    write_timeout: _Timeout = 30.0
    pool_timeout: _Timeout = 5.0
    ping_interval: Annotated[float, Meta(ge=1, le=3600)] = 30.0
    verify_tls: bool | _Path = True
    trust_env: bool = False

    def __repr__(self) -> str:
        # the token must never reach a log line or a traceback
        shown = "'***'" if self.token else "''"
        return (
            f"ServerSection(base_url={self.base_url!r}, token={shown}, "
            f"token_file={self.token_file!r}, ...)"
        )


class UploadSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[upload]``: how reports go from the spool to the server.

    Attributes:
        concurrency: uploads in flight at the start; the limit then adapts to the server's
            latency and overload signals (``docs/configuration.md``), never above
            *max_concurrency*.
        max_concurrency: the most uploads in flight at once; equal to *concurrency* (or 1)
            for a limit that only shrinks under overload and never grows past it.
        attempt_timeout: seconds one upload attempt may take from start to finish.
        backoff_base: seconds; the retry after the n-th failure waits a random time between
            0 and ``min(backoff_cap, backoff_base * backoff_multiplier**(n-1))`` (full jitter).
        backoff_multiplier: growth factor of the backoff ceiling per failure.
        backoff_cap: seconds; the largest backoff ceiling.
        breaker_threshold: consecutive retryable failures that open the circuit breaker.
        breaker_open_for: seconds the breaker stays open the first time; each failed probe
            doubles it (with full jitter).
        breaker_max_open: seconds; the longest the breaker stays open.
        max_requests_per_second: a cap on upload requests per second; 0 means no cap
            (the server's 429 answers are the primary brake).
        separate_process: do the HTTP work of uploads (httpx, TLS, sockets) in a helper
            process, which leaves the node's own process free for intake; ``false`` keeps it
            in the node's process (one process less, about 1.8 ms more CPU per report there).
    """

    concurrency: Annotated[int, Meta(ge=1, le=16)] = 2
    max_concurrency: Annotated[int, Meta(ge=1, le=64)] = 16
    attempt_timeout: Annotated[float, Meta(ge=1, le=3600)] = 90.0
    backoff_base: Annotated[float, Meta(gt=0, le=3600)] = 1.0
    backoff_multiplier: Annotated[float, Meta(ge=1, le=10)] = 2.0
    backoff_cap: Annotated[float, Meta(ge=1, le=86400)] = 300.0
    breaker_threshold: Annotated[int, Meta(ge=1, le=1000)] = 5
    breaker_open_for: Annotated[float, Meta(ge=1, le=3600)] = 30.0
    breaker_max_open: Annotated[float, Meta(ge=1, le=86400)] = 300.0
    max_requests_per_second: Annotated[float, Meta(ge=0, le=1000)] = 0.0
    separate_process: bool = True


class SpoolSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[spool]``: the durable local store of reports.

    Attributes:
        path: the SQLite file. Empty: ``spool.sqlite3`` in ``node.data_dir``.
        max_bytes: the most bytes of report bodies not yet sent (pending and rejected); sent
            reports make room by themselves. 0 means no limit.
        max_reports: the most reports not yet sent (pending and rejected); sent reports make
            room by themselves. 0 means no limit.
        when_full: ``pause`` (intake stops and files wait in their watch folders) or
            ``error`` (new files go to the error folder with "spool full"). Nothing is
            dropped either way.
        keep_sent_days: days the record of a sent report (id, time, server answer) is kept.
        keep_sent_bodies_days: days the body of a sent report is kept, for resending by hand;
            at most ``keep_sent_days``.
        keep_acknowledged_days: days the id of a report the server accepted is remembered
            (with a fingerprint of its content), so the node never uploads it again.
        max_acknowledged: the most acknowledged ids remembered; the oldest go first.
    """

    path: _Path = ""
    max_bytes: Annotated[int, Meta(ge=0, le=1 << 50)] = 1 << 30
    max_reports: Annotated[int, Meta(ge=0, le=100_000_000)] = 100_000
    when_full: Literal["pause", "error"] = "pause"
    keep_sent_days: Annotated[float, Meta(ge=0, le=3650)] = 30.0
    keep_sent_bodies_days: Annotated[float, Meta(ge=0, le=3650)] = 7.0
    keep_acknowledged_days: Annotated[float, Meta(gt=0, le=36_500)] = 1095.0
    max_acknowledged: Annotated[int, Meta(ge=1, le=1 << 40)] = 4_000_000


class ConversionSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[conversion]``: the sandboxed converter worker processes.

    Attributes:
        workers: converter worker processes.
        timeout: seconds one file may take to convert before its worker is killed.
        memory_mb: memory (resident set) a worker may use, in MiB; a worker that uses more
            is killed and replaced.
        cpu_seconds: CPU seconds a worker may spend on one file.
        landlock: ``required`` (refuse to start without the Landlock sandbox), ``auto`` (use
            it where the kernel offers it) or ``off``.
        namespaces: ``required`` (refuse to start a worker without its own user, PID,
            network, mount and IPC namespaces), ``auto`` (enter the ones the kernel allows) or
            ``off``.
        seccomp: ``required`` (refuse to start a worker without its system-call filter),
            ``auto`` (install it where the kernel supports it) or ``off``.
        temp_mb: the size of a worker's private temporary folder, in MiB (a tmpfs of its own
            when the worker has a mount namespace; writing past it fails with "no space").
        max_input_mb: the largest file converted, in MiB; a larger one is moved to the error
            folder without being read (a converter's worker gets the whole file).
        max_output_mb: the most WSJF one file may give, in MiB (all its reports; the node
            holds them until they are in the spool); more sends the file to the error folder.
        max_reports_per_file: the most reports one file may give (a lot of STDF parts, a
            batch of units); more sends the file to the error folder.
        disabled: built-in converters that auto-detection leaves out (``auto`` folders);
            a file they would have taken is refused with a note saying which one is disabled.
            A folder that names one still uses it.
        plugins: converter plug-ins (an entry-point name, ``package.module:Class`` or
            ``path/to/file.py:Class``) that take part in auto-detection beside the built-ins,
            each in its own sandboxed workers.
    """

    workers: Annotated[int, Meta(ge=1, le=64)] = 2
    timeout: Annotated[float, Meta(ge=1, le=3600)] = 60.0
    memory_mb: Annotated[int, Meta(ge=64, le=1 << 20)] = 1024
    cpu_seconds: Annotated[int, Meta(ge=1, le=86400)] = 60
    landlock: Literal["required", "auto", "off"] = "auto"
    namespaces: Literal["required", "auto", "off"] = "auto"
    seccomp: Literal["required", "auto", "off"] = "auto"
    temp_mb: Annotated[int, Meta(ge=1, le=65536)] = 128
    max_input_mb: Annotated[int, Meta(ge=1, le=1024)] = 64
    max_output_mb: Annotated[int, Meta(ge=1, le=2048)] = 32
    max_reports_per_file: Annotated[int, Meta(ge=1, le=1_000_000)] = 10_000
    disabled: Annotated[tuple[_ConverterName, ...], Meta(max_length=64)] = ()
    plugins: Annotated[tuple[_ConverterRef, ...], Meta(max_length=32)] = ()


class WatchFolder(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[[watch]]``: one folder of result files (repeat the table for more).

    Attributes:
        id: a stable name for the folder (logs and events); unique.
        path: the folder. Relative paths are relative to the config file's folder.
        include: glob patterns a file name must match (any of them).
        exclude: glob patterns that rule a file out.
        recursive: watch sub-folders too (the done and error folders are skipped).
        settle: seconds a file's size and modification time must stay unchanged before it
            is taken.
        rescan_interval: seconds between full rescans (what file events miss, such as on
            network shares).
        converter: ``auto`` (the converter most confident about each file), a converter
            name, ``package.module:Class`` or ``path/to/file.py:Class``.
        converter_args: a table of arguments for the converter.
        after_success: what to do with a file once its reports are in the spool:
            ``move`` to the done folder, ``delete``, or ``keep``.
        done_folder: name of the folder inside ``path`` that converted files move to.
        error_folder: name of the folder inside ``path`` that files which failed to
            convert move to, each with a ``<name>.error.json`` saying why.
        unit: ``file`` (each file is a result) or ``folder`` (each sub-folder of ``path``,
            with its sibling files ``<folder name>.<ext>``, is one result, for a folder
            converter such as ``klippel``).
        unit_sibling: for folder units: ``required`` (a unit is complete only once a sibling
            file is there too), ``optional`` (taken with the folder if it is there) or
            ``none`` (sibling files are not part of the unit).
        unit_marker: for folder units: a glob; a unit is complete once a file in its folder
            matches it (and nothing changed for ``settle`` seconds). Empty: no marker, the
            unit is complete once it has ``unit_min_files`` files and nothing changed for
            ``unit_quiet`` seconds.
        unit_min_files: for folder units without a marker: the fewest files (in the folder
            and its siblings) that make a complete unit.
        unit_quiet: for folder units without a marker: seconds during which no file of the
            unit may appear, change or go before the unit is taken.
    """

    id: InstanceName
    path: _RequiredPath
    include: Annotated[tuple[_Glob, ...], Meta(min_length=1, max_length=64)] = ("*",)
    exclude: Annotated[tuple[_Glob, ...], Meta(max_length=64)] = ("*.tmp", "*.part")
    recursive: bool = False
    settle: Annotated[float, Meta(ge=0.1, le=3600)] = 2.0
    rescan_interval: Annotated[float, Meta(ge=1, le=86400)] = 60.0
    converter: _ConverterRef = "auto"
    converter_args: dict[str, object] = {}
    after_success: Literal["move", "delete", "keep"] = "move"
    done_folder: _FolderName = "done"
    error_folder: _FolderName = "error"
    unit: Literal["file", "folder"] = "file"
    unit_sibling: Literal["required", "optional", "none"] = "optional"
    unit_marker: Annotated[str, Meta(max_length=256)] = ""
    unit_min_files: Annotated[int, Meta(ge=1, le=100_000)] = 1
    unit_quiet: Annotated[float, Meta(ge=0.1, le=86400)] = 10.0


class Schedule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[[schedule]]``: a scheduled converter run on an interval or a cron expression (repeat
    the table for more).

    Attributes:
        id: a stable name for the schedule (logs, events, its stored cursor); unique. It is
            part of the ids of the reports it makes: never rename one in production.
        converter: a scheduled converter: a name, ``package.module:Class`` or
            ``path/to/file.py:Class``.
        converter_args: a table of arguments for the converter.
        source: the folder or file it reads (read-only). Relative paths are relative to the
            config file's folder.
        interval: seconds between runs; give ``interval`` or ``cron``, not both.
        cron: a five-field cron expression (minute hour day-of-month month day-of-week) in
            the station's local time, such as ``"*/15 6-22 * * mon-fri"``.
        run_at_start: also run once when the node starts (runs missed while it was down are
            made up by this one run).
        timeout: seconds one run may take before its worker is killed.
    """

    id: InstanceName
    converter: _ConverterRef
    converter_args: dict[str, object] = {}
    source: _RequiredPath
    interval: Annotated[float, Meta(ge=0, le=31 * 86400)] = 0.0
    cron: Annotated[str, Meta(max_length=256)] = ""
    run_at_start: bool = False
    timeout: Annotated[float, Meta(ge=1, le=3600)] = 60.0


class HealthSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[health]``: ``/healthz``, ``/readyz``, ``/metrics`` and ``/status`` over HTTP.

    Attributes:
        enabled: serve the health endpoints.
        host: the loopback address to listen on: ``127.0.0.1`` or ``::1``. Nothing else is
            accepted: the endpoints have no authentication.
        port: the TCP port; 0 (the default) takes a free port at each start, so two instances
            on one station never collide (the bound address is logged and given by the
            node's ``health_url``). Give each instance a fixed port of its own for a
            Prometheus scrape target.
    """

    enabled: bool = True
    host: Literal["127.0.0.1", "::1"] = "127.0.0.1"
    port: Annotated[int, Meta(ge=0, le=65535)] = 0


class IpcSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[ipc]``: the local socket that the ``pywats-node`` CLI and GUIs talk to (``docs/ipc.md``).

    Attributes:
        enabled: serve the IPC socket.
        transport: ``unix`` (a Unix socket, mode 0600) or ``tcp`` (loopback ``127.0.0.1``
            only).
        socket_path: the Unix socket. Empty: ``ipc.sock`` in the instance's runtime folder.
        tcp_port: the loopback TCP port with ``transport = "tcp"``; 0 picks a free one (the
            discovery file says which).
        max_connections: connections served at once; one more is refused with an error.
        max_message_kb: the largest message a client may send, in KiB; a larger one is
            refused (as soon as its header says so) and the connection closed.
        rate_per_second: requests per second a connection may make on average (token bucket).
        burst: requests a connection may make at once above the rate; also the number of
            refused requests in a row after which a flooding connection is closed.
        read_timeout: seconds a message that has started arriving may take to arrive whole.
        idle_timeout: seconds a connection may stay silent before it is closed.
        request_timeout: seconds one request may take to answer, and to send its answer.
    """

    enabled: bool = True
    transport: Literal["unix", "tcp"] = "unix"
    socket_path: _Path = ""
    tcp_port: Annotated[int, Meta(ge=0, le=65535)] = 0
    max_connections: Annotated[int, Meta(ge=1, le=1024)] = 32
    max_message_kb: Annotated[int, Meta(ge=1, le=65536)] = 1024
    rate_per_second: Annotated[float, Meta(gt=0, le=100_000)] = 100.0
    burst: Annotated[int, Meta(ge=1, le=100_000)] = 200
    read_timeout: Annotated[float, Meta(gt=0, le=3600)] = 10.0
    idle_timeout: Annotated[float, Meta(gt=0, le=86400)] = 3600.0
    request_timeout: Annotated[float, Meta(gt=0, le=3600)] = 30.0


class NodeConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A whole configuration file.

    Attributes:
        schema_version: the layout of the file; older layouts are migrated when read.
        node: who this node is (``[node]``, required: it holds the station namespace).
        server: the WATS server.
        upload: upload concurrency, backoff and circuit breaker.
        spool: the local store of reports.
        conversion: the converter workers.
        watch: the watched folders, one ``[[watch]]`` table each.
        schedule: the scheduled converters, one ``[[schedule]]`` table each.
        health: the health and metrics endpoints.
        ipc: the local control socket.
    """

    schema_version: Annotated[int, Meta(ge=1)] = CURRENT_SCHEMA_VERSION
    node: NodeSection
    server: ServerSection = ServerSection()
    upload: UploadSection = UploadSection()
    spool: SpoolSection = SpoolSection()
    conversion: ConversionSection = ConversionSection()
    watch: tuple[WatchFolder, ...] = ()
    schedule: tuple[Schedule, ...] = ()
    health: HealthSection = HealthSection()
    ipc: IpcSection = IpcSection()
