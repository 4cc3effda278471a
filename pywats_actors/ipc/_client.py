"""The Python IPC client: Trio-native, plus a blocking call for scripts and the CLI.

>>> async with open_ipc_client(instance="line1") as client:   # doctest: +SKIP
...     status = await client.call("status")

Without an address the instance's discovery file says where the node listens and where its
token is (readable by the same user only).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import trio

from ._address import connect
from ._discovery import Discovered, list_instances
from ._errors import IpcCallError, IpcConnectionError
from ._framing import Framer
from ._protocol import API_LEVEL, Notification, Request, Response
from ._token import read_ipc_token

__all__ = [
    "IpcClient",
    "call_ipc",
    "find_instance",
    "open_ipc_client",
]

_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Request | Response | Notification)
_ANY = msgspec.msgpack.Decoder()


def find_instance(instance: str, env: Mapping[str, str] | None = None) -> Discovered:
    """The running *instance*'s discovery entry.

    Raises:
        IpcConnectionError: no node of that instance runs (for this user).
    """
    for entry in list_instances(env):
        if entry.instance == instance:
            return entry
    raise IpcConnectionError(f"no running pywats-node for instance {instance!r}")


def _result(response: Response) -> Any:
    error = response.error
    if error is None:
        return response.result
    if isinstance(error, list) and len(error) >= 2:
        data = error[2] if len(error) > 2 else None
        raise IpcCallError(int(error[0]), str(error[1]), data)
    raise IpcCallError(-32603, f"unexpected error value {error!r}")


class IpcClient:
    """A connection that has passed the handshake; :attr:`server` is ``hello``'s answer."""

    def __init__(self, stream: trio.abc.Stream, max_bytes: int = 64 << 20) -> None:
        self._stream = stream
        self._framer = Framer(max_bytes)
        self._ids = itertools.count(1)
        self._lock = trio.Lock()
        self._ready: list[bytes] = []
        self.server: dict[str, Any] = {}

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """Call *method* with *params* and return its result.

        Raises:
            IpcCallError: the node answered with an error.
            IpcConnectionError: the connection broke.
        """
        async with self._lock:
            msgid = next(self._ids) & 0xFFFFFFFF
            args = [dict(params)] if params else []
            data = _ENCODER.encode(Request(msgid, method, msgspec.Raw(_ENCODER.encode(args))))
            try:
                await self._stream.send_all(data)
                while True:
                    message = await self._next()
                    if isinstance(message, Response) and message.msgid in (msgid, None):
                        return _result(message)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise IpcConnectionError(f"the connection broke: {exc}") from None

    async def _next(self) -> Request | Response | Notification:
        while not self._ready:
            chunk = await self._stream.receive_some(65536)
            if not chunk:
                raise IpcConnectionError("the node closed the connection")
            self._ready.extend(self._framer.feed(bytes(chunk)))
        message: Request | Response | Notification = _DECODER.decode(self._ready.pop(0))
        return message

    async def aclose(self) -> None:
        """Close the connection."""
        await self._stream.aclose()


@asynccontextmanager
async def open_ipc_client(
    address: str | None = None,
    token: str | None = None,
    *,
    instance: str = "default",
    client_name: str = "pywats_actors.ipc",
) -> AsyncIterator[IpcClient]:
    """Connect to a node and pass the handshake.

    Args:
        address: ``unix:PATH`` or ``tcp:HOST:PORT``; by default the discovery file of
            *instance* says.
        token: the shared secret; by default read from the token file named in the discovery
            file.
        instance: which instance to find when *address* is not given.
        client_name: how the node's log names this client.

    Raises:
        IpcConnectionError: no node answers.
        IpcCallError: the handshake was refused (wrong token, incompatible version).
    """
    if address is None or token is None:
        entry = find_instance(instance)
        address = address or entry.address
        if token is None:
            try:
                token = read_ipc_token(entry.token_file)
            except (OSError, ValueError) as exc:
                raise IpcConnectionError(f"cannot read the IPC token: {exc}") from None
    try:
        stream = await connect(address)
    except OSError as exc:
        raise IpcConnectionError(f"nothing answers at {address}: {exc}") from None
    client = IpcClient(stream)
    try:
        hello = {"client_name": client_name, "protocol_version": API_LEVEL, "token": token}
        client.server = await client.call("hello", hello)
        yield client
    finally:
        await client.aclose()


def call_ipc(
    method: str,
    params: Mapping[str, Any] | None = None,
    *,
    address: str | None = None,
    token: str | None = None,
    instance: str = "default",
    timeout: float = 30.0,
) -> Any:
    """Blocking: connect, call *method* once, close (not from inside a Trio run).

    Raises:
        IpcConnectionError: no node answers, or not within *timeout* seconds.
        IpcCallError: the node answered with an error.
    """

    async def once() -> Any:
        with trio.fail_after(timeout):
            async with open_ipc_client(address, token, instance=instance) as client:
                return await client.call(method, params)

    try:
        return trio.run(once)
    except trio.TooSlowError:
        raise IpcConnectionError(f"no answer within {timeout:g} s") from None
