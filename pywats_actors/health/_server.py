"""The health actor: ``/healthz``, ``/readyz``, ``/metrics`` and ``/status`` on loopback.

HTTP is h11's, through the project's server core (``serve_connection``: header and body
limits, a request timeout against slow clients, 400 on malformed requests, keep-alive). On
top of it this actor bounds the connections it serves at once; one more is closed at once.
Nothing a client does reaches the node's other parts: every answer is built from snapshots.

The actor never fails its supervisor: a port that is taken (another program, or another
instance given the same fixed port) shows the child as degraded with the reason, and the
bind is tried again with backoff while the node goes on.
"""

from __future__ import annotations

import errno
import socket
from typing import TYPE_CHECKING, Final

import msgspec
import trio
from prometheus_client.registry import CollectorRegistry

from supervisors import current_child

from .._http_server import HttpLimits, Request, Response, serve_connection
from .._logging import get_logger
from ._metrics import NodeCollector, render_metrics
from ._state import node_status, readiness

if TYPE_CHECKING:
    from ..node import Node

__all__ = ["HEALTH_LIMITS", "MAX_CONNECTIONS", "run_health"]

MAX_CONNECTIONS: Final = 16
"""Connections served at once; more are closed as soon as they are accepted."""

HEALTH_LIMITS: Final = HttpLimits(
    max_header_bytes=8192, max_body_bytes=0, idle_timeout=15.0, request_timeout=5.0
)
"""No request body, small headers, and a request must arrive whole within 5 s."""

_RETRY_MIN: Final = 1.0
_RETRY_MAX: Final = 60.0
_METRICS_TYPE: Final = b"text/plain; version=0.0.4; charset=utf-8"
_JSON_TYPE: Final = b"application/json; charset=utf-8"


async def run_health(node: Node, *, task_status: trio.TaskStatus[None]) -> None:
    """Serve the health endpoints of *node* as ``[health]`` says, until stopped.

    Started at once (the node does not wait for the port); :attr:`Node.health_address` is
    set while the endpoints listen.
    """
    cfg = node.config.health
    task_status.started()
    child = current_child()
    if not cfg.enabled:
        await child.wait_stop_requested()
        return
    instance = node.config.node.instance or "default"
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(node, instance))
    handler = _Handler(node, instance, registry)
    log = get_logger(actor="health")
    delay = _RETRY_MIN
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_cancel_on_stop, nursery.cancel_scope)
        while True:
            try:
                listener = await _listen(cfg.host, cfg.port)
            except OSError as exc:
                reason = f"cannot listen on {cfg.host} port {cfg.port}: {_describe(exc)}"
                child.report_degraded(reason)
                log.error("health endpoints unavailable", reason=reason, retry_in=delay)
                await trio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)
                continue
            break
        child.report_recovered()
        host, port = listener.socket.getsockname()[:2]
        node.health_address = (host, port)
        log.info("health endpoints listening", url=node.health_url)
        try:
            await _accept(listener, handler)
        finally:
            node.health_address = None
            await listener.aclose()


async def _cancel_on_stop(scope: trio.CancelScope) -> None:
    await current_child().wait_stop_requested()
    scope.cancel()


def _describe(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "the port is in use (give each instance its own health.port, or 0)"
    return exc.strerror or str(exc)


async def _listen(host: str, port: int) -> trio.SocketListener:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = trio.socket.socket(family, socket.SOCK_STREAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        await sock.bind((host, port))
        sock.listen(64)
    except BaseException:
        sock.close()
        raise
    return trio.SocketListener(sock)


async def _accept(listener: trio.SocketListener, handler: _Handler) -> None:
    serving = _Count()
    async with trio.open_nursery() as nursery:
        while True:
            stream = await listener.accept()
            if serving.value >= MAX_CONNECTIONS:
                with trio.CancelScope(shield=True):
                    await stream.aclose()
                continue
            serving.value += 1
            nursery.start_soon(_serve, stream, handler, serving)


class _Count:
    def __init__(self) -> None:
        self.value = 0


async def _serve(stream: trio.SocketStream, handler: _Handler, serving: _Count) -> None:
    try:
        await serve_connection(stream, handler, HEALTH_LIMITS, name="pywats-node health")
    finally:
        serving.value -= 1


class _Handler:
    """Answers one request from snapshots of the node."""

    def __init__(self, node: Node, instance: str, registry: CollectorRegistry) -> None:
        self._node = node
        self._instance = instance
        self._registry = registry

    async def __call__(self, request: Request) -> Response:
        path = request.target.split(b"?", 1)[0]
        if path not in _ROUTES:
            return _json(404, {"error": "not found", "endpoints": sorted(_ENDPOINTS)})
        if request.method != b"GET":
            return Response(405, b"", content_type=_JSON_TYPE, headers=[(b"allow", b"GET")])
        if path == b"/healthz":
            return _json(200, {"status": "alive"})
        if path == b"/readyz":
            reasons = readiness(self._node)
            if reasons:
                return _json(503, {"ready": False, "reasons": list(reasons)})
            return _json(200, {"ready": True, "reasons": []})
        if path == b"/metrics":
            return Response(200, render_metrics(self._registry), content_type=_METRICS_TYPE)
        return _json(200, node_status(self._node, self._instance))


_ENDPOINTS: Final = ("/healthz", "/readyz", "/metrics", "/status")
_ROUTES: Final = frozenset(endpoint.encode() for endpoint in _ENDPOINTS)


def _json(status: int, document: object) -> Response:
    return Response(status, msgspec.json.encode(document), content_type=_JSON_TYPE)
