"""``pywats-node bench [SUITE]``: the arguments of every suite, and the handlers that run them.

Building the parser imports nothing but argparse; a handler imports its suite only when it runs.
Without a suite, ``bench`` runs the node suite, so ``pywats-node bench --files 1000`` is the
same as ``pywats-node bench node --files 1000``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from .._cli_values import count, new_file, number, positive, probability

__all__ = ["add_bench_command"]

if TYPE_CHECKING:
    _Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

_MANY = 100_000_000


def add_bench_command(commands: _Commands) -> None:
    """Add ``bench`` and its suites to the ``pywats-node`` parser."""
    bench = commands.add_parser(
        "bench",
        help="measure the node, or one of its parts, on this machine",
        description=(
            "Measure on this machine and print the figures (see docs/benchmarks.md). Without a "
            "suite: the node end to end (the 'node' suite): the emulator and a node in their own "
            "processes; startup to ready, idle memory, reports/s and CPU per report for a burst "
            "of CSV files, latency from file stable to acknowledgement at a steady rate, and stop "
            "time."
        ),
    )
    _node_options(bench, suppress=False)
    bench.set_defaults(handler=_RUN_NODE)
    suites = bench.add_subparsers(dest="suite", metavar="[SUITE]", title="suites")
    node = suites.add_parser(
        "node", help="the node end to end against a local emulator (the default)"
    )
    _node_options(node, suppress=True)
    node.set_defaults(handler=_RUN_NODE)
    _add_client(suites)
    _add_converters(suites)
    _add_csv_rss(suites)
    _add_formats(suites)
    _add_spool(suites)
    _add_supervisors(suites)
    _add_probe(suites)


def _json_option(parser: argparse.ArgumentParser, suppress: bool = False) -> None:
    parser.add_argument(
        "--json",
        metavar="FILE",
        type=new_file,
        default=argparse.SUPPRESS if suppress else None,
        help="also write the figures as JSON",
    )


def _milliseconds(text: str) -> float:
    """A number of milliseconds from 0 to 60000."""
    value = number(text)
    if not 0.0 <= value <= 60_000.0:
        raise argparse.ArgumentTypeError(f"{text} is not a number of milliseconds from 0 to 60000")
    return value


def _folder(text: str) -> Path:
    """A folder that exists."""
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"there is no folder {text}")
    return Path(text)


def _file(text: str) -> Path:
    """A file that exists."""
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"there is no file {text}")
    return Path(text)


def _megabytes(text: str) -> float:
    """A size above 0 and at most 1000 MB."""
    value = number(text)
    if not 0.0 < value <= 1000.0:
        raise argparse.ArgumentTypeError(f"{text} is not a size above 0 and at most 1000 MB")
    return value


def _suite(run: Callable[[argparse.Namespace], Any]) -> Callable[[argparse.Namespace], int]:
    """A handler: run the suite, write its figures as JSON when asked; a suite that cannot
    finish prints one line and exits 1."""

    def handler(args: argparse.Namespace) -> int:
        from ._measure import BenchFailed

        try:
            figures = run(args)
        except BenchFailed as exc:
            print(f"pywats-node bench: {exc}", file=sys.stderr)
            return 1
        if args.json is not None:
            Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
        return 0

    return handler


# --- node -----------------------------------------------------------------------------------


def _node_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """The node suite's options; with *suppress*, without defaults (``bench node`` keeps
    what ``bench`` parsed)."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--files",
        type=count(1, 1_000_000),
        default=default(1000),
        help="files in the burst (1000)",
    )
    parser.add_argument(
        "--rate", type=positive, default=default(50.0), help="files/s of the steady run (50)"
    )
    parser.add_argument(
        "--seconds", type=positive, default=default(10.0), help="length of the steady run (10)"
    )
    _json_option(parser, suppress)
    parser.add_argument(
        "--uploads-in-node",
        action="store_true",
        default=default(False),
        help="do the uploads' HTTP in the node's process ([upload] separate_process = false)",
    )
    parser.add_argument(
        "--server-latency",
        type=_milliseconds,
        default=default(0.0),
        metavar="MS",
        help="the emulator waits this many milliseconds before each answer (0)",
    )
    parser.add_argument(
        "--fixed-concurrency",
        type=count(1, 64),
        default=default(None),
        metavar="N",
        help="uploads in flight fixed at N ([upload] concurrency = max_concurrency = N); "
        "default: the adaptive limit, 2 up to 16",
    )


def _node(args: argparse.Namespace) -> dict[str, Any]:
    from ._node import run_bench

    result = run_bench(
        files=args.files,
        rate=args.rate,
        seconds=args.seconds,
        separate_process=not args.uploads_in_node,
        server_latency=args.server_latency / 1000,
        fixed_concurrency=args.fixed_concurrency,
    )
    return asdict(result)


_RUN_NODE = _suite(_node)


# --- client ---------------------------------------------------------------------------------


def _add_client(suites: _Commands) -> None:
    client = suites.add_parser(
        "client",
        help="the WATS client's CPU per submission, and the emulator under load",
        description=(
            "CPU per submission of the WATS client against the emulator (next to a bare httpx "
            "POST), and requests/s and server CPU per request under load for the emulator, its "
            "HTTP core alone, and a minimal hypercorn app (when installed)."
        ),
    )
    client.add_argument(
        "--requests", type=count(1, _MANY), default=3000, help="client submissions timed (3000)"
    )
    client.add_argument(
        "--warmup", type=count(0, _MANY), default=300, help="client submissions not timed (300)"
    )
    client.add_argument(
        "--load-requests",
        type=count(201, _MANY),
        default=40000,
        help="load requests ready, the first 200 a warm-up (40000)",
    )
    client.add_argument(
        "--connections", type=count(1, 1000), default=8, help="load connections (8)"
    )
    client.add_argument(
        "--seconds", type=positive, default=5.0, help="load duration per server (5)"
    )
    client.add_argument(
        "--steps", type=count(0, 100_000), default=1, help="numeric steps per report (1)"
    )
    _json_option(client)
    client.set_defaults(handler=_suite(_client))


def _client(args: argparse.Namespace) -> dict[str, object]:
    from ._client import ClientOptions, run_client

    return run_client(
        ClientOptions(
            requests=args.requests,
            warmup=args.warmup,
            load_requests=args.load_requests,
            connections=args.connections,
            seconds=args.seconds,
            steps=args.steps,
        )
    )


# --- converters -----------------------------------------------------------------------------


def _add_converters(suites: _Commands) -> None:
    converters = suites.add_parser(
        "converters",
        help="the converter sandbox: latency per file, throughput, worker start; or --csv",
        description=(
            "The per-file overhead of the converter sandbox with a warm worker (a trivial "
            "converter and the WSJF pass-through, pool against in-process), throughput, and "
            "worker start. With --csv: CPU per file on each side of the sandbox for the node "
            "suite's small CSV files, and only that."
        ),
    )
    converters.add_argument(
        "--files", type=count(1, _MANY), default=2000, help="conversions per measurement (2000)"
    )
    converters.add_argument(
        "--sample", type=_file, default=None, help="a WSJF file to pass through"
    )
    converters.add_argument(
        "--csv", action="store_true", help="CPU per file of the node's CSV case, and only that"
    )
    converters.add_argument(
        "--workers", type=count(1, 64), default=2, help="--csv: worker processes (2)"
    )
    converters.add_argument(
        "--callers",
        type=count(1, 10_000),
        default=None,
        help="--csv: most concurrent callers (also 1 and --workers); default 4 per worker, as "
        "the node's pipeline",
    )
    converters.add_argument(
        "--landlock", default="auto", choices=("auto", "off", "required"), help="--csv: setting"
    )
    converters.add_argument(
        "--profile",
        type=new_file,
        default=None,
        help="--csv: cProfile the parent's burst into FILE",
    )
    _json_option(converters)
    converters.set_defaults(handler=_suite(_converters))


def _converters(args: argparse.Namespace) -> dict[str, Any] | list[dict[str, Any]]:
    if not args.csv:
        from ._sandbox import run_sandbox

        return run_sandbox(args.files, args.sample)
    from ._csv_cpu import run_csv_cpu

    callers = args.callers if args.callers is not None else 4 * args.workers
    profile = Path(args.profile) if args.profile is not None else None
    runs = run_csv_cpu(args.files, args.workers, callers, args.landlock, profile)
    return [run.figures() for run in runs]


def _add_csv_rss(suites: _Commands) -> None:
    rss = suites.add_parser(
        "csv-rss",
        help="the peak memory of a worker converting one large CSV export",
        description=(
            "Write a CSV export of --mb megabytes (50 rows per unit), convert it once in a pool "
            "of one worker with limits far above the defaults, and print the worker's peak "
            "resident memory (VmHWM)."
        ),
    )
    rss.add_argument(
        "--mb", type=_megabytes, default=50.0, metavar="MB", help="the export's size (50)"
    )
    rss.add_argument(
        "--one-report", action="store_true", help="the whole file is one unit's report"
    )
    _json_option(rss)
    rss.set_defaults(handler=_suite(_csv_rss))


def _csv_rss(args: argparse.Namespace) -> dict[str, Any]:
    from ._csv_rss import run_csv_rss

    return asdict(run_csv_rss(args.mb, one_report=args.one_report))


def _add_formats(suites: _Commands) -> None:
    formats = suites.add_parser(
        "formats",
        help="every sample file through auto-detection in a warm worker: time, MB/s, peak RSS",
        description=(
            "Convert every file of a samples folder (one sub-folder per format) in a warm "
            "worker that has every built-in converter, as auto-detection would: per file the "
            "converter chosen, reports, the median time inside the worker and of the whole call, "
            "MB/s, and the worker's peak resident memory (VmHWM, reset per file)."
        ),
    )
    formats.add_argument(
        "--samples",
        type=_folder,
        default=None,
        metavar="DIR",
        help="the samples folder (default: ../shared/samples, as this repository's tests use)",
    )
    formats.add_argument(
        "--repeat", type=count(1, 1000), default=5, help="timed conversions per file (5)"
    )
    _json_option(formats)
    formats.set_defaults(handler=_suite(_formats))


def _formats(args: argparse.Namespace) -> list[dict[str, Any]]:
    from ._formats import run_formats
    from ._measure import BenchFailed

    samples = args.samples
    if samples is None:
        samples = Path("../shared/samples")
        if not samples.is_dir():
            raise BenchFailed("no ../shared/samples here: give --samples DIR")
    return [asdict(figures) for figures in run_formats(samples, args.repeat)]


# --- spool ----------------------------------------------------------------------------------


def _add_spool(suites: _Commands) -> None:
    spool = suites.add_parser(
        "spool",
        help="durable enqueues/s and upload bookkeeping; --startup: time to ready by size",
        description=(
            "Durable enqueues per second (one writer and eight concurrent), claim + mark_sent, "
            "and the raw SQLite floor, each --seconds long, --repeat times. With --startup: how "
            "long a spool of --rows reports takes to open. With --per-call N: the CPU cost of "
            "the writer's bookkeeping per call."
        ),
    )
    mode = spool.add_mutually_exclusive_group()
    mode.add_argument("--startup", action="store_true", help="time to ready by the spool's size")
    mode.add_argument(
        "--per-call",
        type=count(10, _MANY),
        default=0,
        metavar="N",
        help="CPU per call of the writer's bookkeeping, over N reports",
    )
    spool.add_argument("--seconds", type=positive, default=2.0, help="length of each run (2)")
    spool.add_argument(
        "--repeat", type=count(1, 1000), default=3, help="runs per scenario, opens per size (3)"
    )
    spool.add_argument(
        "--body-bytes",
        type=count(1, 64 << 20),
        default=None,
        help="report body size (4096; 2048 with --startup or --per-call)",
    )
    spool.add_argument(
        "--rows",
        type=count(1, _MANY),
        nargs="+",
        default=[1000, 100_000],
        help="--startup: spool sizes, in reports (1000 100000)",
    )
    spool.add_argument(
        "--sent", type=probability, default=0.9, help="--startup: fraction marked sent (0.9)"
    )
    spool.add_argument(
        "--dir",
        type=_folder,
        default=None,
        help="where the databases go (a temporary folder; not with --per-call)",
    )
    _json_option(spool)
    spool.set_defaults(handler=_suite(_spool))


def _spool(args: argparse.Namespace) -> dict[str, Any]:
    if args.per_call:
        from ._spool_startup import run_per_call

        seconds = run_per_call(
            args.per_call, repeat=args.repeat, body_bytes=args.body_bytes or 2048
        )
        return {f"{name} µs": value * 1e6 for name, value in seconds.items()}
    if args.startup:
        from ._spool_startup import run_startup

        found = run_startup(
            args.rows,
            sent=args.sent,
            repeat=args.repeat,
            body_bytes=args.body_bytes or 2048,
            directory=args.dir,
        )
        return {str(rows): times for rows, times in found.items()}
    from ._spool import run_spool

    results = run_spool(
        seconds=args.seconds,
        repeat=args.repeat,
        body_bytes=args.body_bytes or 4096,
        directory=args.dir,
    )
    return {name: [run.figures() for run in runs] for name, runs in results.items()}


# --- supervisors, probe ---------------------------------------------------------------------


def _add_supervisors(suites: _Commands) -> None:
    sup = suites.add_parser(
        "supervisors",
        help="the cost of supervision: starting, stopping and restarting children",
        description=(
            "The cost of starting a dynamic child, of stopping all of them, and of one "
            "crash-and-restart cycle, on the real clock."
        ),
    )
    sup.add_argument(
        "--children", type=count(1, 1_000_000), default=1000, help="dynamic children (1000)"
    )
    sup.add_argument(
        "--crashes", type=count(1, 1_000_000), default=2000, help="crash cycles (2000)"
    )
    _json_option(sup)
    sup.set_defaults(handler=_suite(_supervisors))


def _supervisors(args: argparse.Namespace) -> dict[str, float]:
    from ._supervisors import run_supervisors

    return run_supervisors(children=args.children, crashes=args.crashes)


def _add_probe(suites: _Commands) -> None:
    probe = suites.add_parser(
        "probe",
        help="what it costs to know that no writer holds a file",
        description=(
            "CPU per file of stat(), of opening and reading a byte, of the watcher's probe with "
            "and without a read lease, and of one scan of /proc for writers."
        ),
    )
    probe.add_argument("--files", type=count(1, 1_000_000), default=2000, help="files (2000)")
    probe.add_argument(
        "--repeat", type=count(1, 1000), default=5, help="passes, the best counts (5)"
    )
    probe.add_argument(
        "--dir", type=_folder, default=None, help="where the files go (a temporary folder)"
    )
    _json_option(probe)
    probe.set_defaults(handler=_suite(_probe))


def _probe(args: argparse.Namespace) -> dict[str, float]:
    from ._probe import run_probe

    return run_probe(files=args.files, repeat=args.repeat, directory=args.dir)
