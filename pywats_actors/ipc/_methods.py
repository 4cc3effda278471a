"""The methods of the IPC API and what they answer (``docs/ipc.md`` is the contract).

Each method takes the connection's :class:`IpcContext` and its one map argument and returns
a msgpack-able value, or raises :class:`~pywats_actors.ipc.IpcCallError`. ``hello`` is also the
handshake: the connection serves no other method before it succeeded.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
import trio

from supervisors import SupervisorStatistics

from .._logging import get_logger
from .._version import __version__
from ..config import IpcSection
from ._errors import IpcCallError
from ._protocol import API_LEVEL, COMPATIBLE_LEVELS, ErrorCode
from ._token import token_matches

if TYPE_CHECKING:
    from ..node import Node

__all__ = ["METHODS", "IpcContext", "IpcCounters", "Reply", "hello"]


@dataclass
class IpcCounters:
    """What the IPC server has done since it started (``stats``)."""

    connections: int = 0
    open_connections: int = 0
    refused_connections: int = 0
    requests: int = 0
    errors: int = 0
    rate_limited: int = 0
    unauthorized: int = 0
    closed_for_limits: int = 0


@dataclass
class IpcContext:
    """What methods see: the node, the server's settings and its counters."""

    node: Node
    settings: IpcSection
    token_path: str
    address: str
    counters: IpcCounters = field(default_factory=IpcCounters)


@dataclass(frozen=True)
class Reply:
    """A result, and what to do once it has been sent (``node.shutdown``)."""

    result: Any
    after: Callable[[], None] | None = None


Method = Callable[[IpcContext, dict[str, Any]], Awaitable[Any]]


def _no_params(method: str, params: dict[str, Any]) -> None:
    if params:
        raise IpcCallError(
            ErrorCode.INVALID_PARAMS,
            f"{method} takes no parameters; got {sorted(params)}",
            {"unknown": sorted(params)},
        )


async def hello(ctx: IpcContext, params: dict[str, Any]) -> dict[str, Any]:
    """The handshake: check the client's protocol version and token; answer the API."""
    version = params.get("protocol_version")
    name = params.get("client_name")
    if isinstance(version, bool) or not isinstance(version, int) or not isinstance(name, str):
        raise IpcCallError(
            ErrorCode.INVALID_PARAMS,
            "hello takes {client_name: str, protocol_version: int, token: str}",
        )
    if version not in COMPATIBLE_LEVELS:
        raise IpcCallError(
            ErrorCode.INCOMPATIBLE_VERSION,
            f"protocol version {version} is not supported; this server accepts "
            f"{list(COMPATIBLE_LEVELS)}",
            {"api_level": API_LEVEL, "compatible": list(COMPATIBLE_LEVELS)},
        )
    token = params.get("token")
    if not await trio.to_thread.run_sync(token_matches, ctx.token_path, token):
        ctx.counters.unauthorized += 1
        raise IpcCallError(ErrorCode.UNAUTHORIZED, "wrong token (pywats-node token show)")
    get_logger().info("ipc client connected", client=name[:100])
    return {
        "api_level": API_LEVEL,
        "compatible": list(COMPATIBLE_LEVELS),
        "server_version": __version__,
        "instance": ctx.node.config.node.instance,
        "capabilities": [],
        "methods": sorted(METHODS),
        "error_codes": {code.name.lower(): int(code) for code in ErrorCode},
    }


def tree_of(stats: SupervisorStatistics) -> dict[str, Any]:
    """A supervision tree snapshot as plain maps (``status``'s ``tree``)."""
    return {
        "name": stats.name,
        "strategy": stats.strategy,
        "total_restarts": stats.total_restarts,
        "stopping": stats.stopping,
        "children": [
            {
                "id": child.id,
                "state": child.state.value,
                "kind": child.kind,
                "restarts": child.restarts,
                "incarnation": child.incarnation,
                "pid": child.pid,
                "degraded": child.degraded,
                "last_exit": None if child.last_exit is None else str(child.last_exit),
                "supervisors": [tree_of(inner) for inner in child.supervisors],
            }
            for child in stats.children
        ],
    }


async def _status(ctx: IpcContext, params: dict[str, Any]) -> dict[str, Any]:
    _no_params("status", params)
    node = ctx.node
    spool = node.spool.statistics() if node.spool is not None else None
    return {
        "node": {
            "instance": node.config.node.instance,
            "version": __version__,
            "pid": os.getpid(),
            "started": node.started,
            "uptime": time.monotonic() - node.started_monotonic,
            "config_path": node.config_path,
            "health_url": node.health_url,
        },
        "tree": tree_of(node.statistics()),
        "server": {
            "url": node.config.server.base_url,
            "state": node.link.state.value if node.link is not None else None,
        },
        "spool": None
        if spool is None
        else {
            "pending": spool.pending,
            "sent": spool.sent,
            "rejected": spool.rejected,
            "claimed": spool.claimed,
            "quarantined": spool.quarantined,
        },
        "sandbox": node.pool.sandbox_level if node.pool is not None else None,
    }


async def _stats(ctx: IpcContext, params: dict[str, Any]) -> dict[str, Any]:
    _no_params("stats", params)
    node = ctx.node
    return {
        "ipc": msgspec.to_builtins(ctx.counters),
        "spool": msgspec.to_builtins(node.spool.statistics()) if node.spool else None,
        "conversion": msgspec.to_builtins(node.pool.statistics()) if node.pool else None,
    }


async def _converters_list(ctx: IpcContext, params: dict[str, Any]) -> list[Any]:
    _no_params("converters.list", params)
    pool = ctx.node.pool
    if pool is None:
        raise IpcCallError(ErrorCode.INTERNAL, "the converter pool is not running now; try again")
    return msgspec.to_builtins(pool.catalog())  # type: ignore[no-any-return]


async def _shutdown(ctx: IpcContext, params: dict[str, Any]) -> Reply:
    _no_params("node.shutdown", params)
    node = ctx.node
    get_logger().warning("stop asked over IPC")

    async def stop() -> None:
        try:
            await node.stop()
        except Exception as exc:  # a system task must not raise
            get_logger().error("stop asked over IPC failed", error=repr(exc))

    def after() -> None:
        trio.lowlevel.spawn_system_task(stop)

    return Reply({"stopping": True}, after)


METHODS: dict[str, Method] = {
    "hello": hello,
    "status": _status,
    "stats": _stats,
    "converters.list": _converters_list,
    "node.shutdown": _shutdown,
}
"""Every method this server answers, by name (``hello``'s ``methods``)."""
