"""``pywats-node emulator``: run the emulator until SIGINT or SIGTERM.

Standard output gets the URL on its first line (and ``token: ...`` on the second when the token
was generated), flushed at once, so a script can read it; log lines go to standard error.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys

import trio

from .._http_server import HttpLimits
from .._logging import configure_logging, get_logger
from ._faults import Faults
from ._server import open_emulator

__all__ = ["run_emulator"]

TOKEN_VARIABLE = "PYWATS_EMULATOR_TOKEN"


def run_emulator(args: argparse.Namespace) -> int:
    """Run the emulator that *args* (from ``pywats-node emulator``) describe; the exit code."""
    try:
        faults = Faults(
            latency=args.latency,
            jitter=args.jitter,
            unauthorized=args.unauthorized,
            throttle=args.throttle,
            error_500=args.error_500,
            error_503=args.error_503,
            html_200=args.html_200,
            hang=args.hang,
            reset=args.reset,
            reset_after_store=args.reset_after_store,
            reject=args.reject,
            retry_after=args.retry_after or None,
        )
    except ValueError as exc:
        print(f"pywats-node emulator: {exc}", file=sys.stderr)
        return 2
    configure_logging(stream=sys.stderr)
    token = args.token or os.environ.get(TOKEN_VARIABLE) or None
    generated = token is None
    if token is None:
        token = secrets.token_urlsafe(24)
    try:
        trio.run(_serve, args, faults, token, generated)
    except OSError as exc:
        print(
            f"pywats-node emulator: cannot listen on {args.host}:{args.port}: {exc}",
            file=sys.stderr,
        )
        return 1
    return 0


async def _serve(args: argparse.Namespace, faults: Faults, token: str, generated: bool) -> None:
    log = get_logger(actor="emulator")
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with open_emulator(
            host=args.host,
            port=args.port,
            token=token,
            admin_token=args.admin_token,
            store=args.store,
            faults=faults,
            seed=args.seed,
            limits=HttpLimits(max_body_bytes=args.max_body),
        ) as emulator:
            print(emulator.url, flush=True)
            if generated:
                print(f"token: {token}", flush=True)
            log.info("emulator running", url=emulator.url, seed=emulator.seed, store=args.store)
            async for signum in signals:
                log.info("emulator stopping", signal=signal.Signals(signum).name)
                break
