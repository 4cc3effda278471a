"""The commented configuration file that ``pywats-node config init`` writes.

It is generated from the schema's defaults, one line per key with a one-line comment, so that a
new key cannot be forgotten here: a test checks that every schema field has a comment. The
``[[watch]]`` table has no default, so it is written as a commented-out example.
"""

from __future__ import annotations

import math
import uuid

import msgspec

from ._schema import CURRENT_SCHEMA_VERSION, NodeConfig, NodeSection, WatchFolder

__all__ = ["COMMENTS", "render_default_config", "toml_value"]

_SECTION_HEADINGS = {
    "node": "Who this node is and where it keeps its state.",
    "server": "The WATS server. With base_url empty, reports are kept in the spool, not sent.",
    "upload": "Uploads from the spool: concurrency, retry backoff (full jitter), circuit breaker.",
    "spool": "The durable local store of reports (SQLite).",
    "conversion": "The sandboxed converter worker processes.",
    "ipc": "The local socket that the pywats-node CLI and GUIs talk to (docs/ipc.md).",
    "watch": "Watched folders: one [[watch]] table per folder. Remove the '# ' to enable.",
}

COMMENTS: dict[str, str] = {
    "schema_version": "layout of this file; older layouts are migrated when read",
    "node.instance": "instance name: lock file and data folder",
    "node.station_name": "machineName on reports; empty: this computer's host name",
    "node.station_namespace": "makes report ids deterministic; never change it once uploading",
    "node.data_dir": "spool and state; empty: $XDG_STATE_HOME/pywats-node/<instance>",
    "node.log_format": "auto (console on a terminal, else json), console or json",
    "node.log_level": "debug, info, warning, error or critical",
    "server.base_url": "server root, e.g. https://acme.wats.com; empty: do not upload",
    "server.token": "API token inline (this file must then be mode 0600); prefer token_file",
    "server.token_file": "file holding the API token, mode 0600; set token or token_file",
    "server.connect_timeout": "seconds to connect (TCP and TLS)",
    "server.read_timeout": "seconds to wait for each chunk of an answer",
    "server.write_timeout": "seconds to wait for each chunk of a request to be sent",
    "server.pool_timeout": "seconds to wait for a free pooled connection",
    "server.ping_interval": "seconds between reachability checks, 1 to 3600",
    "server.verify_tls": "true, false (tests only), or the path of a CA bundle file",
    "server.trust_env": "honour HTTPS_PROXY, NO_PROXY and SSL_CERT_FILE",
    "upload.concurrency": "uploads in flight at the start, 1 to 16; then adaptive",
    "upload.max_concurrency": "most uploads in flight once adapted, 1 to 64",
    "upload.attempt_timeout": "seconds one upload attempt may take in all, 1 to 3600",
    "upload.backoff_base": "seconds; retry n waits random(0, min(cap, base * multiplier**(n-1)))",
    "upload.backoff_multiplier": "growth of the backoff ceiling per failure, 1 to 10",
    "upload.backoff_cap": "seconds; the largest backoff ceiling",
    "upload.breaker_threshold": "consecutive retryable failures that open the circuit breaker",
    "upload.breaker_open_for": "seconds open the first time; doubles per failed probe",
    "upload.breaker_max_open": "seconds; the longest the breaker stays open",
    "upload.max_requests_per_second": "cap on upload requests per second; 0: no cap",
    "upload.separate_process": "HTTP work in a helper process (true) or in the node's own",
    "spool.path": "the SQLite file; empty: spool.sqlite3 in node.data_dir",
    "spool.max_bytes": "most bytes of reports not yet sent; sent ones make room; 0: no limit",
    "spool.max_reports": "most reports not yet sent; sent ones make room; 0: no limit",
    "spool.when_full": "pause (files wait in their folders) or error (to the error folder)",
    "spool.keep_sent_days": "days the record of a sent report is kept",
    "spool.keep_sent_bodies_days": "days the body of a sent report is kept; <= keep_sent_days",
    "spool.keep_acknowledged_days": "days the id of an accepted report is remembered",
    "spool.max_acknowledged": "most accepted ids remembered (about 67 bytes each)",
    "conversion.workers": "converter worker processes, 1 to 64",
    "conversion.timeout": "seconds one file may take to convert",
    "conversion.memory_mb": "memory (RSS) a worker may use, in MiB",
    "conversion.cpu_seconds": "CPU seconds a worker may spend on one file",
    "conversion.landlock": "Landlock sandbox: required, auto or off",
    "conversion.namespaces": "own user/PID/network/mount/IPC namespaces: required, auto or off",
    "conversion.seccomp": "system-call filter for workers: required, auto or off",
    "conversion.temp_mb": "size of a worker's private temporary folder, in MiB",
    "conversion.max_input_mb": "largest file converted, in MiB; larger ones go to error/",
    "conversion.max_output_mb": "most WSJF one file may give, in MiB",
    "conversion.max_reports_per_file": "most reports one file may give",
    "conversion.disabled": "built-in converters auto-detection leaves out",
    "conversion.plugins": "converter plug-ins auto-detection asks too",
    "ipc.enabled": "serve the IPC socket",
    "ipc.transport": "unix (socket, mode 0600) or tcp (127.0.0.1 only)",
    "ipc.socket_path": "Unix socket; empty: ipc.sock in the instance's runtime folder",
    "ipc.tcp_port": "loopback TCP port with transport = tcp; 0: a free one",
    "ipc.max_connections": "connections served at once",
    "ipc.max_message_kb": "largest message a client may send, in KiB",
    "ipc.rate_per_second": "requests per second per connection (token bucket)",
    "ipc.burst": "requests at once above the rate; refusals in a row before closing",
    "ipc.read_timeout": "seconds a started message may take to arrive whole",
    "ipc.idle_timeout": "seconds a connection may stay silent",
    "ipc.request_timeout": "seconds one request may take to answer",
    "watch.id": "unique name of this folder (logs, events)",
    "watch.path": "the folder; relative to this file's folder unless absolute",
    "watch.include": "file name patterns to take (any of them)",
    "watch.exclude": "file name patterns to leave alone",
    "watch.recursive": "watch sub-folders too (done and error folders are skipped)",
    "watch.settle": "seconds a file must stay unchanged before it is taken",
    "watch.rescan_interval": "seconds between full rescans (catches what events miss)",
    "watch.converter": 'auto, a converter name, "package.module:Class" or "file.py:Class"',
    "watch.converter_args": "arguments for the converter, as a table",
    "watch.after_success": "move (to done_folder), delete or keep",
    "watch.done_folder": "folder inside path that converted files move to",
    "watch.error_folder": "folder inside path for files that failed, with a .error.json",
    "watch.unit": "file (each file is a result) or folder (each sub-folder is one)",
    "watch.unit_sibling": "folder units: sibling <name>.<ext> file required, optional or none",
    "watch.unit_marker": "folder units: complete once a file matches this glob (empty: none)",
    "watch.unit_min_files": "folder units without marker: fewest files of a complete unit",
    "watch.unit_quiet": "folder units without marker: seconds with no change before taken",
}

_EXAMPLE_WATCH = WatchFolder(id="line1", path="/srv/results/line1")
_COMMENT_COLUMN = 34


def toml_value(value: object) -> str:
    """*value* written as TOML (strings, numbers, booleans, arrays and inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:_}" if abs(value) >= 100_000 else str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{_toml_key(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _toml_string(text: str) -> str:
    escaped = []
    for char in text:
        if char in ('"', "\\"):
            escaped.append("\\" + char)
        elif char < " " or char == "\x7f":
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def _toml_key(key: str) -> str:
    bare = key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key)
    return key if bare else _toml_string(key)


def _line(key: str, value: object, comment: str, prefix: str = "") -> str:
    assignment = f"{prefix}{key} = {toml_value(value)}"
    return f"{assignment.ljust(_COMMENT_COLUMN)} # {comment}"


def _section_lines(name: str, section: msgspec.Struct, prefix: str = "") -> list[str]:
    lines = [f"# {_SECTION_HEADINGS[name]}"]
    lines.append(f"{prefix}[[{name}]]" if name == "watch" else f"[{name}]")
    for field in msgspec.structs.fields(section):
        value = getattr(section, field.name)
        lines.append(_line(field.encode_name, value, COMMENTS[f"{name}.{field.name}"], prefix))
    return lines


def render_default_config(instance: str = "default", station_namespace: str | None = None) -> str:
    """The commented default configuration file for *instance*.

    Args:
        instance: the instance name written as ``node.instance``.
        station_namespace: the namespace UUID; a fresh random one by default.
    """
    namespace = station_namespace or str(uuid.uuid4())
    config = NodeConfig(node=NodeSection(instance=instance, station_namespace=namespace))
    lines = [
        f'# pywats-node configuration, instance "{instance}".',
        "#",
        "# Reference: docs/configuration.md. Check it with: pywats-node config validate <file>",
        "# Durations are in seconds. An empty string means the default named in the comment.",
        "# Relative paths are relative to this file's folder, and ~ is your home folder.",
        "# A running node reloads this file when it changes; an invalid change is reported",
        "# and ignored, and the node keeps running with what it had.",
        "",
        _line("schema_version", CURRENT_SCHEMA_VERSION, COMMENTS["schema_version"]),
    ]
    for name in ("node", "server", "upload", "spool", "conversion", "ipc"):
        lines += ["", *_section_lines(name, getattr(config, name))]
    lines += ["", *_section_lines("watch", _EXAMPLE_WATCH, prefix="# ")]
    return "\n".join(lines) + "\n"
