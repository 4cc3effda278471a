"""A client written directly on msgspec's msgpack, independent of ``pywats_actors.ipc``."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import msgspec
import trio

_TRAILING = re.compile(r"trailing characters \(byte (\d+)\)")


async def connect(address: str) -> trio.SocketStream:
    """Open a stream to ``unix:PATH`` or ``tcp:HOST:PORT`` (long Unix paths via /proc)."""
    kind, _, rest = address.partition(":")
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        return await trio.open_tcp_stream(host, int(port))
    path = Path(rest)
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    import os

    folder = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        await sock.connect(f"/proc/self/fd/{folder}/{path.name}")
    finally:
        os.close(folder)
    return trio.SocketStream(sock)


class Raw:
    """Bytes in, decoded msgpack objects out."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def send(self, value: Any) -> None:
        await self.stream.send_all(msgspec.msgpack.encode(value))

    async def receive(self, within: float = 5.0) -> Any:
        """The next object the server sends; ``EOFError`` when it closed."""
        with trio.fail_after(within):
            while True:
                if self.buffer:
                    try:
                        value = msgspec.msgpack.decode(self.buffer)
                        self.buffer = b""
                        return value
                    except msgspec.DecodeError as exc:
                        match = _TRAILING.search(str(exc))
                        if match:
                            end = int(match.group(1))
                            value = msgspec.msgpack.decode(self.buffer[:end])
                            self.buffer = self.buffer[end:]
                            return value
                        if "truncated" not in str(exc):
                            raise
                chunk = await self.stream.receive_some(65536)
                if not chunk:
                    raise EOFError("the server closed the connection")
                self.buffer += chunk

    async def closed(self, within: float = 5.0) -> bool:
        """Whether the server closes the connection (reads and drops what comes first)."""
        with trio.fail_after(within):
            try:
                while await self.stream.receive_some(65536):
                    pass
            except trio.BrokenResourceError:
                pass
        return True

    async def call(self, msgid: int, method: str, params: Any = None) -> list[Any]:
        await self.send([0, msgid, method, [] if params is None else [params]])
        return await self.receive()  # type: ignore[no-any-return]

    async def hello(self, token: str, version: int = 1) -> list[Any]:
        params = {"client_name": "raw test", "protocol_version": version, "token": token}
        return await self.call(0, "hello", params)


class Clients:
    """Opens raw clients to *address* and closes them all at the end of the block."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.opened: list[Raw] = []

    async def open(self) -> Raw:
        raw = Raw(await connect(self.address))
        self.opened.append(raw)
        return raw

    async def __aenter__(self) -> Clients:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for raw in self.opened:
            await raw.stream.aclose()
