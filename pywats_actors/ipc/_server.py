"""The IPC server actor: the ``ipc`` branch of the node's supervision tree.

It listens on the instance's Unix socket (or loopback TCP), writes the discovery file, and runs
each connection as a temporary child of its own dynamic supervisor, so that one connection's
trouble never touches another (and shows in the tree while it lasts). At an orderly stop the
discovery file and the socket file are removed.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from supervisors import ChildSpec, DynamicSupervisor, Restart, current_child

from .._logging import get_logger
from .._version import __version__
from ..config import default_runtime_dir
from ._address import listen_tcp, listen_unix
from ._connection import Connection
from ._discovery import Discovered, remove_discovery, write_discovery
from ._methods import IpcContext
from ._protocol import ErrorCode, encode_response, error_value
from ._token import TOKEN_FILE_NAME, ensure_token

if TYPE_CHECKING:
    from ..node import Node

__all__ = ["instance_paths", "run_ipc_server"]

SOCKET_FILE_NAME = "ipc.sock"


def instance_paths(node: Node) -> tuple[str, str, str]:
    """The node's instance name, IPC token file and Unix socket path."""
    cfg = node.config
    instance = cfg.node.instance or "default"
    data_dir = cfg.node.data_dir or None
    if node.runtime_dir is not None:
        runtime = Path(node.runtime_dir)
    else:
        runtime = default_runtime_dir(instance, data_dir=data_dir)
    data = Path(data_dir) if data_dir else runtime.parent
    socket_path = cfg.ipc.socket_path or str(runtime / SOCKET_FILE_NAME)
    return instance, str(data / TOKEN_FILE_NAME), socket_path


async def run_ipc_server(
    node: Node,
    observer: Callable[..., None],
    task_context: Any,
    *,
    task_status: trio.TaskStatus[None],
) -> None:
    """The ``ipc`` child: serve until the supervisor asks it to stop (idle when disabled)."""
    settings = node.config.ipc
    child = current_child()
    if not settings.enabled:
        task_status.started()
        await child.wait_stop_requested()
        return
    log = get_logger()
    instance, token_path, socket_path = instance_paths(node)
    try:
        await trio.to_thread.run_sync(ensure_token, token_path)
        if settings.transport == "unix":
            listener = await listen_unix(socket_path)
            address = f"unix:{socket_path}"
        else:
            listener, port = await listen_tcp(settings.tcp_port)
            address = f"tcp:127.0.0.1:{port}"
    except OSError as exc:  # the node runs on without IPC; the tree says why
        reason = f"cannot serve IPC: {exc}"
        log.error("ipc not served", reason=reason)
        task_status.started()
        child.report_degraded(reason)
        await child.wait_stop_requested()
        return
    ctx = IpcContext(node=node, settings=settings, token_path=token_path, address=address)
    connections = DynamicSupervisor(
        name="ipc",
        max_children=settings.max_connections,
        intensity=1_000_000,  # connections are temporary: never restarted, never counted
        period=1,
        observers=[observer],
        task_context=task_context,
    )
    entry = Discovered(
        instance=instance,
        address=address,
        pid=os.getpid(),
        version=__version__,
        started=node.started,
        token_file=token_path,
        health_url=node.health_url,
    )
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(connections.run)
            await trio.to_thread.run_sync(write_discovery, entry)
            nursery.start_soon(_accept, ctx, listener, connections)
            log.info("ipc listening", address=address)
            task_status.started()
            await child.wait_stop_requested()
            await listener.aclose()
            await connections.stop()
            nursery.cancel_scope.cancel()
    finally:
        with contextlib.suppress(OSError):
            remove_discovery(entry)
        if settings.transport == "unix":
            with contextlib.suppress(OSError):
                os.unlink(socket_path)


async def _accept(
    ctx: IpcContext, listener: trio.SocketListener, connections: DynamicSupervisor
) -> None:
    numbers = itertools.count(1)
    async with trio.open_nursery() as refusals:
        while True:
            try:
                stream = await listener.accept()
            except trio.ClosedResourceError:
                return
            except OSError as exc:  # EMFILE and the like: wait a moment, go on
                get_logger().warning("ipc accept failed", error=str(exc))
                await trio.sleep(0.1)
                continue
            if ctx.counters.open_connections >= ctx.settings.max_connections:
                ctx.counters.refused_connections += 1
                refusals.start_soon(_refuse, stream, ctx.settings.max_connections)
                continue
            ctx.counters.connections += 1
            ctx.counters.open_connections += 1
            spec = ChildSpec(
                f"connection-{next(numbers)}",
                _serve,
                (ctx, stream),
                restart=Restart.TEMPORARY,
            )
            try:
                await connections.start_child(spec)
            except Exception as exc:
                ctx.counters.open_connections -= 1
                get_logger().warning("ipc connection not started", error=repr(exc))
                await stream.aclose()


async def _refuse(stream: trio.SocketStream, limit: int) -> None:
    error = error_value(ErrorCode.TOO_MANY_CONNECTIONS, f"more than {limit} connections")
    with trio.move_on_after(1):
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await stream.send_all(encode_response(None, error, None))
    await stream.aclose()


async def _serve(
    ctx: IpcContext, stream: trio.SocketStream, *, task_status: trio.TaskStatus[None]
) -> None:
    """One connection's child: it always ends normally, whatever the client did."""
    from ..node._actor import stop_requested_cancels

    task_status.started()
    try:
        async with stream, stop_requested_cancels():
            await Connection(ctx, stream).serve()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    except Exception as exc:  # this connection's trouble, nobody else's
        ctx.counters.errors += 1
        get_logger().error("ipc connection failed", error=repr(exc))
    finally:
        ctx.counters.open_connections -= 1
