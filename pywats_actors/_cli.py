"""The ``pywats-node`` command line.

Each subcommand declares its arguments here and sets ``handler``, a function that imports its
implementation only when that subcommand runs, so ``pywats-node --version`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeAlias

from ._cli_values import (
    count,
    days,
    instance_name,
    new_file,
    probability,
    seconds,
    token,
)
from ._version import __version__

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pywats-node",
        description=(
            "The pywats-actors station node: watch, convert, spool and upload test results."
        ),
    )
    parser.add_argument("--version", action="version", version=f"pywats-node {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_run_command(commands)
    _add_demo_command(commands)
    _add_config_command(commands)
    _add_queue_command(commands)
    _add_convert_command(commands)
    _add_converters_command(commands)
    _add_ipc_commands(commands)
    _add_emulator_command(commands)
    _add_bench_command(commands)
    return parser


def _add_bench_command(commands: _Commands) -> None:
    # the arguments only (argparse); a suite's code is imported when it runs
    from .bench._command import add_bench_command

    add_bench_command(commands)


if TYPE_CHECKING:
    _Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


def _instance_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="the configuration file (default: $XDG_CONFIG_HOME/pywats-node/<instance>.toml)",
    )
    parser.add_argument(
        "--instance", type=instance_name, help="the instance name (default: 'default')"
    )


def _add_run_command(commands: _Commands) -> None:
    run = commands.add_parser(
        "run",
        help="run the node in the foreground (the service)",
        description=(
            "Run the node until SIGTERM or SIGINT: watch folders, convert, spool and upload. "
            "A first signal drains files and uploads in flight for up to --stop-grace seconds; "
            "a second one stops at once. Exit codes: see docs/operators.md."
        ),
    )
    _instance_options(run)
    run.add_argument("--log-format", choices=["auto", "console", "json"], help="log rendering")
    run.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    run.add_argument(
        "--stop-grace", type=seconds, default=30.0, help="seconds to drain on stop (30)"
    )
    run.set_defaults(handler=_run_node)


def _run_node(args: argparse.Namespace) -> int:
    from .node._service import run_service

    return run_service(
        args.config,
        args.instance,
        log_format=args.log_format,
        log_level=args.log_level,
        stop_grace=args.stop_grace,
    )


def _add_demo_command(commands: _Commands) -> None:
    demo = commands.add_parser(
        "demo",
        help="run a node against a local emulator on a bundled demo set, then print a summary",
        description=(
            "Start the WATS emulator and a node on a temporary configuration, drop a demo set "
            "(real sample reports and generated CSV files) into its watch folder, show "
            "progress, and print what was seen, converted, uploaded and rejected. Exits 0 only "
            "if every report arrived."
        ),
    )
    demo.add_argument(
        "--csv-files", type=count(0, 100_000), default=20, help="generated CSV files (20)"
    )
    demo.add_argument("--keep", metavar="DIR", help="keep the demo's folders in DIR")
    demo.add_argument("--timeout", type=seconds, default=120.0, help="give up after (120 s)")
    demo.set_defaults(handler=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from .node._demo import run_demo

    if args.keep is not None:
        try:
            os.makedirs(args.keep, exist_ok=True)
        except OSError as exc:
            print(f"pywats-node: cannot create {args.keep}: {exc.strerror}", file=sys.stderr)
            return 1
    return run_demo(csv_files=args.csv_files, keep=args.keep, timeout=args.timeout)


def _add_config_command(commands: _Commands) -> None:
    config = commands.add_parser("config", help="write or check a configuration file")
    actions = config.add_subparsers(dest="action", metavar="ACTION", required=True)
    init = actions.add_parser("init", help="write a commented default configuration file")
    _instance_options(init)
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(handler=_config_init)
    validate = actions.add_parser("validate", help="check a configuration file")
    validate.add_argument("file", nargs="?", help="the file (default: the instance's file)")
    validate.add_argument("--instance", type=instance_name, help="the instance name")
    validate.set_defaults(handler=_config_validate)


def _config_init(args: argparse.Namespace) -> int:
    from ._commands import config_init

    return config_init(args.config, args.instance, args.force)


def _config_validate(args: argparse.Namespace) -> int:
    from ._commands import config_validate

    return config_validate(args.file, args.instance)


def _add_queue_command(commands: _Commands) -> None:
    queue = commands.add_parser(
        "queue",
        help="look at and manage the spool of reports",
        description=(
            "Times are ISO 8601 UTC (as in the node's log); --json gives raw epoch seconds. "
            "Exit codes: 0 done, 1 the spool could not be read or written (retry and purge need "
            "the node stopped), 2 invalid input, 3 no such file, spool or report."
        ),
    )
    actions = queue.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = actions.add_parser("ls", help="list reports, newest first (safe while the node runs)")
    _instance_options(ls)
    ls.add_argument("--state", choices=["pending", "sent", "rejected"])
    ls.add_argument(
        "--limit", type=count(1, 10_000), default=50, help="at most this many, 1 to 10000 (50)"
    )
    ls.add_argument("--json", action="store_true", help="machine-readable output, raw values")
    ls.set_defaults(handler=_queue_ls)
    show = actions.add_parser("show", help="one report's record (safe while the node runs)")
    _instance_options(show)
    show.add_argument("report_id")
    show.add_argument("--body", action="store_true", help="print the WSJF body instead")
    show.add_argument("--json", action="store_true", help="the record as JSON, raw values")
    show.set_defaults(handler=_queue_show)
    retry = actions.add_parser("retry", help="make rejected reports pending again")
    _instance_options(retry)
    retry.add_argument("report_ids", nargs="+", metavar="REPORT_ID")
    retry.set_defaults(handler=_queue_retry)
    purge = actions.add_parser(
        "purge",
        help="delete reports for good (pending ones only with --force)",
        description=(
            "Delete the reports that match every filter given. A pending report was never "
            "uploaded: purging it loses it, so a purge that would delete any is refused (saying "
            "how many) unless --force is given."
        ),
    )
    _instance_options(purge)
    purge.add_argument("--state", choices=["pending", "sent", "rejected"])
    purge.add_argument(
        "--older-than", type=days, metavar="DAYS", help="last changed at least DAYS ago"
    )
    purge.add_argument(
        "--id",
        dest="report_ids",
        action="append",
        default=[],
        metavar="REPORT_ID",
        help="this report (repeatable)",
    )
    purge.add_argument(
        "--force", action="store_true", help="also purge pending, never uploaded reports"
    )
    purge.set_defaults(handler=_queue_purge)


def _queue_ls(args: argparse.Namespace) -> int:
    from ._queue import queue_ls

    return queue_ls(
        args.config, args.instance, state=args.state, limit=args.limit, as_json=args.json
    )


def _queue_show(args: argparse.Namespace) -> int:
    from ._queue import queue_show

    return queue_show(args.config, args.instance, args.report_id, body=args.body, as_json=args.json)


def _queue_retry(args: argparse.Namespace) -> int:
    from ._queue import queue_retry

    return queue_retry(args.config, args.instance, args.report_ids)


def _queue_purge(args: argparse.Namespace) -> int:
    from ._queue import queue_purge

    return queue_purge(
        args.config,
        args.instance,
        state=args.state,
        older_than_days=args.older_than,
        report_ids=args.report_ids,
        force=args.force,
    )


def _add_convert_command(commands: _Commands) -> None:
    convert = commands.add_parser(
        "convert",
        help="convert one file in the sandbox and print the WSJF (a dry run)",
        description=(
            "Convert FILE in a sandboxed worker exactly as the node would, and print each "
            "report as WSJF, or the reason it was refused. Nothing is spooled or moved. With "
            "--config, the node's converters (and a watch folder id as --converter) apply."
        ),
    )
    convert.add_argument("file")
    convert.add_argument("--converter", help="converter name or watch folder id (default: auto)")
    convert.add_argument("--config", metavar="FILE", help="use this node configuration")
    convert.add_argument("--instance", type=instance_name, help="use this instance's configuration")
    convert.add_argument(
        "--explain",
        action="store_true",
        help="print every converter's detection score and the outcome instead of the WSJF",
    )
    convert.set_defaults(handler=_convert)


def _convert(args: argparse.Namespace) -> int:
    from ._commands import convert_command

    return convert_command(
        args.file, args.converter, args.config, args.instance, explain=args.explain
    )


def _add_converters_command(commands: _Commands) -> None:
    listing = commands.add_parser(
        "converters",
        help="list the installed converters (built-in and plug-ins)",
        description=(
            "List every converter this node can use: the built-ins and the plug-ins installed "
            "as entry points, with version, kind, file patterns, whether auto-detection asks "
            "it, and its arguments. Plug-ins are loaded in sandboxed workers to describe "
            "themselves. With --config, the configuration's [conversion] settings apply."
        ),
    )
    listing.add_argument("name", nargs="?", help="show only this converter, with its arguments")
    listing.add_argument("--json", action="store_true", help="print JSON (with argument schemas)")
    listing.add_argument("--config", metavar="FILE", help="use this node configuration")
    listing.add_argument("--instance", type=instance_name, help="use this instance's configuration")
    listing.set_defaults(handler=_converters)


def _converters(args: argparse.Namespace) -> int:
    from ._converter_list import converters_command

    return converters_command(args.name, args.config, args.instance, as_json=args.json)


_IPC_EXIT_CODES = (
    "Exit codes: 0 done, 1 the node answered with an error or the connection broke, "
    "3 no running node for the instance. See docs/ipc.md."
)


def _add_ipc_commands(commands: _Commands) -> None:
    discover = commands.add_parser(
        "discover",
        help="list the running nodes of this user on this station",
        description="List the running instances from their discovery files. " + _IPC_EXIT_CODES,
    )
    discover.add_argument("--json", action="store_true", help="print JSON")
    discover.set_defaults(handler=_discover)
    status = commands.add_parser(
        "status",
        help="ask the running node how it is (its IPC socket)",
        description=(
            "Ask the running node of the instance for its status: the node, the server's "
            "state, the spool's counts, the sandbox level and the whole supervision tree. "
            + _IPC_EXIT_CODES
        ),
    )
    status.add_argument(
        "--instance", type=instance_name, help="the instance name (default: 'default')"
    )
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.set_defaults(handler=_status)
    token_command = commands.add_parser(
        "token",
        help="show or replace the IPC token that clients show in their handshake",
        description=(
            "show prints the instance's IPC token; rotate writes a new one, which a running "
            "node asks for from the next connection on. Exit codes: 0 done, 1 the file could "
            "not be read or written, 2 invalid configuration, 3 no configuration file or no "
            "token yet."
        ),
    )
    actions = token_command.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, what in (("show", "print the token"), ("rotate", "write a new token")):
        parser = actions.add_parser(action, help=what)
        _instance_options(parser)
        parser.set_defaults(handler=_token)


def _discover(args: argparse.Namespace) -> int:
    from ._ipc_commands import discover_command

    return discover_command(as_json=args.json)


def _status(args: argparse.Namespace) -> int:
    from ._ipc_commands import status_command

    return status_command(args.instance, as_json=args.json)


def _token(args: argparse.Namespace) -> int:
    from ._ipc_commands import token_command

    return token_command(args.action, args.config, args.instance)


def _add_emulator_command(commands: _Commands) -> None:
    emulator = commands.add_parser(
        "emulator",
        help="run a WATS-compatible server for tests and demos",
        description=(
            "Run a WATS-compatible server with fault injection. It prints its URL on the first "
            "line of standard output and runs until SIGINT or SIGTERM. See docs/emulator.md."
        ),
    )
    emulator.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    emulator.add_argument(
        "--port", type=count(0, 65535), default=0, help="port to listen on (0: any free)"
    )
    emulator.add_argument(
        "--token",
        type=token,
        help="the API token to accept; default $PYWATS_EMULATOR_TOKEN, else a random one (printed)",
    )
    emulator.add_argument(
        "--admin-token", type=token, help="token of the /_emulator admin API (--token)"
    )
    emulator.add_argument(
        "--store", type=new_file, metavar="FILE", help="keep reports in this SQLite file"
    )
    emulator.add_argument("--seed", type=int, help="seed of the fault dice (random)")
    emulator.add_argument(
        "--max-body",
        type=count(1, 1 << 34),
        default=64 << 20,
        metavar="BYTES",
        help="largest request body",
    )
    faults = emulator.add_argument_group("faults (probabilities per /api request, 0 to 1)")
    faults.add_argument("--latency", type=seconds, default=0.0, help="seconds before answering")
    faults.add_argument("--jitter", type=seconds, default=0.0, help="± seconds on the latency")
    for name, what in (
        ("unauthorized", "401"),
        ("throttle", "429 with Retry-After"),
        ("error-500", "500"),
        ("error-503", "503 with Retry-After"),
        ("html-200", "200 with an HTML page"),
        ("hang", "never answer"),
        ("reset", "reset the connection, report not stored"),
        ("reset-after-store", "store the report, then reset the connection"),
        ("reject", "refuse a submission with 400 (not stored)"),
    ):
        faults.add_argument(f"--{name}", type=probability, default=0.0, metavar="P", help=what)
    faults.add_argument(
        "--retry-after", default="1", help="Retry-After value sent with 429 and 503 (1)"
    )
    emulator.set_defaults(handler=_run_emulator)


def _run_emulator(args: argparse.Namespace) -> int:
    from .emulator._cli import run_emulator

    return run_emulator(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code.

    A user's mistake never ends in a traceback: argparse refuses bad arguments (exit 2), each
    command prints one line for a problem it knows, and any other error of the documented tree
    (docs/errors.md) is printed as one line with exit code 1. A closed output pipe
    (``queue ls | head``) ends the command quietly with 141, as for a command killed by SIGPIPE;
    Ctrl+C ends it with 130.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    from ._errors import PywatsError

    try:
        code = int(args.handler(args))
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except PywatsError as exc:
        print(f"pywats-node: {exc}", file=sys.stderr)
        return 1
    return code


EXIT_BROKEN_PIPE = 128 + 13
EXIT_INTERRUPTED = 128 + 2


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that the interpreter's last flush at exit does
    not fail again on the closed pipe (and print "Exception ignored ...")."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
