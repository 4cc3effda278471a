"""``python -m pywats_actors.spool``: check or salvage a spool file from a shell.

::

    python -m pywats_actors.spool check /var/lib/pywats/spool.db
    python -m pywats_actors.spool salvage /var/lib/pywats/spool.db.damaged /var/lib/pywats/spool.db

``check`` is read-only and safe while a node runs. Run ``salvage`` with the node stopped.
"""

from __future__ import annotations

import argparse
import sys

from ._errors import SpoolError
from ._reader import open_reader
from ._salvage import salvage_spool


def main(argv: list[str] | None = None) -> int:
    """Run the command; return the exit status (0 sound, 1 damaged or failed)."""
    parser = argparse.ArgumentParser(prog="python -m pywats_actors.spool")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="quick_check, counts and quarantine (read-only)")
    check.add_argument("path")
    salvage = commands.add_parser("salvage", help="copy readable reports into a new spool")
    salvage.add_argument("damaged")
    salvage.add_argument("new")
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            with open_reader(args.path) as reader:
                problems = reader.check()
                print("quick_check:", "; ".join(problems))
                print(reader.statistics())
                for row in reader.quarantined():
                    print("quarantined:", row.report_id, row.reason)
            return 0 if problems == ["ok"] else 1
        result = salvage_spool(args.damaged, args.new)
    except SpoolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"copied {result.copied} reports; {result.unreadable} unreadable, {result.invalid} damaged"
    )
    for problem in result.problems:
        print("  ", problem)
    return 0


if __name__ == "__main__":
    sys.exit(main())
