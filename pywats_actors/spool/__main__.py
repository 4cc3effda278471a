"""``python -m pywats_actors.spool``: check or salvage a spool file from a shell.

::

    python -m pywats_actors.spool check /var/lib/pywats/spool.db
    python -m pywats_actors.spool salvage /var/lib/pywats/spool.db.damaged /var/lib/pywats/spool.db

``check`` is read-only and safe while a node runs. Run ``salvage`` with the node stopped.
Exit codes: 0 sound (or salvaged), 1 damaged or failed, 2 bad arguments, 3 no such file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys

from ._errors import SpoolError
from ._reader import open_reader
from ._salvage import salvage_spool

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_NOT_FOUND = 3


def _utc(epoch: float) -> str:
    moment = dt.datetime.fromtimestamp(epoch, dt.UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds") + "Z"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def check(path: str) -> int:
    """Print whether the spool at *path* is sound, its counts and its quarantine."""
    with open_reader(path) as reader:
        problems = reader.check()
        stats = reader.statistics()
        quarantined = reader.quarantined()
    sound = problems == ["ok"]
    print(f"{path}: {'sound' if sound else 'DAMAGED'} (quick_check: {problems[0]})")
    for problem in problems[1:]:
        print(f"  quick_check: {problem}")
    print(f"reports:        {stats.pending} pending, {stats.sent} sent, {stats.rejected} rejected")
    print(f"stored bodies:  {stats.bytes} bytes ({stats.pending_bytes} pending)")
    print(f"oldest pending: {_age(stats.oldest_pending_age)}")
    print(f"quarantined:    {len(quarantined)}")
    for row in quarantined:
        print(f"  {row.report_id}  {_utc(row.quarantined_at)}  {row.reason}")
    return EXIT_OK if sound else EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    """Run the command; return the exit status (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m pywats_actors.spool")
    commands = parser.add_subparsers(dest="command", required=True)
    check_cmd = commands.add_parser("check", help="quick_check, counts and quarantine (read-only)")
    check_cmd.add_argument("path")
    salvage = commands.add_parser("salvage", help="copy readable reports into a new spool")
    salvage.add_argument("damaged")
    salvage.add_argument("new")
    args = parser.parse_args(argv)
    source = args.path if args.command == "check" else args.damaged
    if not os.path.isfile(source):
        print(f"error: there is no spool file at {source}", file=sys.stderr)
        return EXIT_NOT_FOUND
    try:
        if args.command == "check":
            return check(args.path)
        result = salvage_spool(args.damaged, args.new)
    except SpoolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(
        f"copied {result.copied} reports; {result.unreadable} unreadable, {result.invalid} damaged"
    )
    for problem in result.problems:
        print("  ", problem)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
