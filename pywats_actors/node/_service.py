"""``pywats-node run``: the node as a foreground service, with signals and exit codes.

Exit codes (also in ``docs/operators.md``):

==  ==========================================================================================
0   stopped on request (SIGTERM/SIGINT) after an orderly drain
1   the node failed: a part kept crashing until the top supervisor gave up (see the log)
2   the configuration is invalid (every problem is printed with its path)
3   the configuration file does not exist (``pywats-node config init`` writes one)
4   another node runs this instance (the message names its pid)
5   the node could not start (for example the spool or the sandbox failed at start)
130 a second signal forced the stop before the drain finished
==  ==========================================================================================
"""

from __future__ import annotations

import signal
import sys
from typing import Final

import trio

from supervisors import ChildStartError, SupervisorGaveUp

from .._logging import LogFormat, configure_logging, get_logger
from ..config import (
    ConfigError,
    ConfigInvalid,
    ConfigNotFound,
    InstanceLocked,
    LoadedConfig,
    acquire_instance_lock,
    load_config,
    resolve_config_path,
)
from ._node import build_node

__all__ = ["EXIT_CODES", "run_service"]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_CONFIG_INVALID: Final = 2
EXIT_CONFIG_NOT_FOUND: Final = 3
EXIT_LOCKED: Final = 4
EXIT_START_FAILED: Final = 5
EXIT_FORCED: Final = 130

EXIT_CODES: Final = {
    EXIT_OK: "stopped on request after an orderly drain",
    EXIT_FAILED: "a part kept failing until the node gave up",
    EXIT_CONFIG_INVALID: "the configuration is invalid",
    EXIT_CONFIG_NOT_FOUND: "the configuration file does not exist",
    EXIT_LOCKED: "another node runs this instance",
    EXIT_START_FAILED: "the node could not start",
    EXIT_FORCED: "a second signal forced the stop",
}


def run_service(
    config: str | None,
    instance: str | None,
    *,
    log_format: LogFormat | None = None,
    log_level: str | None = None,
    stop_grace: float = 30.0,
) -> int:
    """Load the configuration, take the instance lock, and run the node until a signal."""
    try:
        location = resolve_config_path(config, instance)
        loaded = load_config(location.path, instance=location.instance)
    except ConfigNotFound as exc:
        print(f"pywats-node: {exc}\n(create one with: pywats-node config init)", file=sys.stderr)
        return EXIT_CONFIG_NOT_FOUND
    except ConfigInvalid as exc:
        print(f"pywats-node: {exc}", file=sys.stderr)
        return EXIT_CONFIG_INVALID
    except ConfigError as exc:  # it cannot be read: a folder, permissions
        print(f"pywats-node: {exc}", file=sys.stderr)
        return EXIT_START_FAILED
    node_cfg = loaded.config.node
    configure_logging(fmt=log_format or node_cfg.log_format, level=log_level or node_cfg.log_level)
    try:
        lock = acquire_instance_lock(node_cfg.instance, node_cfg.data_dir)
    except InstanceLocked as exc:
        print(f"pywats-node: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    with lock:
        for note in loaded.notes:
            get_logger().warning("configuration note", note=note)
        return trio.run(_serve, loaded, stop_grace)


async def _serve(loaded: LoadedConfig, stop_grace: float) -> int:
    log = get_logger(actor="node")
    _, supervisor = build_node(loaded)
    forced = False
    failure: int | None = None
    try:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:
                started = trio.current_time()
                await nursery.start(supervisor.run)
                log.info(
                    "node ready",
                    seconds=round(trio.current_time() - started, 3),
                    config=loaded.path,
                    folders=[w.id for w in loaded.config.watch],
                )

                async def handle_signals() -> None:
                    nonlocal forced
                    async for signum in signals:
                        if supervisor.statistics().stopping or forced:
                            log.warning("second signal: stopping now", signal=signum)
                            forced = True
                            nursery.cancel_scope.cancel(reason="forced stop")
                            return
                        log.info("stopping", signal=signal.Signals(signum).name, grace=stop_grace)
                        nursery.start_soon(supervisor.stop, stop_grace)

                nursery.start_soon(handle_signals)
                await supervisor.wait_stopped()
                nursery.cancel_scope.cancel()
    except* ChildStartError as group:
        log.error("the node could not start", error=str(group.exceptions[0]))
        failure = EXIT_START_FAILED
    except* SupervisorGaveUp as group:
        log.error("the node gave up", error=str(group.exceptions[0]))
        failure = EXIT_FAILED
    if failure is not None:
        return failure
    if forced:
        return EXIT_FORCED
    log.info("node stopped")
    return EXIT_OK
