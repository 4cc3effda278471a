"""The ``pywats-node`` command line.

Each subcommand declares its arguments here and sets ``handler``, a function that imports its
implementation only when that subcommand runs, so ``pywats-node --version`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

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
    _add_emulator_command(commands)
    return parser


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a probability between 0 and 1")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 3600.0:
        raise argparse.ArgumentTypeError(f"{text} is not a number of seconds from 0 to 3600")
    return value


def _add_emulator_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    emulator = commands.add_parser(
        "emulator",
        help="run a WATS-compatible server for tests and demos",
        description=(
            "Run a WATS-compatible server with fault injection. It prints its URL on the first "
            "line of standard output and runs until SIGINT or SIGTERM. See docs/emulator.md."
        ),
    )
    emulator.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    emulator.add_argument("--port", type=int, default=0, help="port to listen on (0: any free)")
    emulator.add_argument(
        "--token",
        help="the API token to accept; default $PYWATS_EMULATOR_TOKEN, else a random one (printed)",
    )
    emulator.add_argument("--admin-token", help="token of the /_emulator admin API (--token)")
    emulator.add_argument("--store", metavar="FILE", help="keep reports in this SQLite file")
    emulator.add_argument("--seed", type=int, help="seed of the fault dice (random)")
    emulator.add_argument(
        "--max-body", type=int, default=64 << 20, metavar="BYTES", help="largest request body"
    )
    faults = emulator.add_argument_group("faults (probabilities per /api request, 0 to 1)")
    faults.add_argument("--latency", type=_seconds, default=0.0, help="seconds before answering")
    faults.add_argument("--jitter", type=_seconds, default=0.0, help="± seconds on the latency")
    for name, what in (
        ("unauthorized", "401"),
        ("throttle", "429 with Retry-After"),
        ("error-500", "500"),
        ("error-503", "503 with Retry-After"),
        ("html-200", "200 with an HTML page"),
        ("hang", "never answer"),
        ("reset", "reset the connection, report not stored"),
        ("reset-after-store", "store the report, then reset the connection"),
    ):
        faults.add_argument(f"--{name}", type=_probability, default=0.0, metavar="P", help=what)
    faults.add_argument(
        "--retry-after", default="1", help="Retry-After value sent with 429 and 503 (1)"
    )
    emulator.set_defaults(handler=_run_emulator)


def _run_emulator(args: argparse.Namespace) -> int:
    from .emulator._cli import run_emulator

    return run_emulator(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
