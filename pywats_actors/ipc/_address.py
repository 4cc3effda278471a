"""IPC addresses (``unix:PATH``, ``tcp:HOST:PORT``): parsing, listening and connecting.

Unix socket paths are limited to about 107 bytes by the kernel. A longer path (a deep data
folder) is reached through ``/proc/self/fd/<folder descriptor>/<name>`` on Linux, which binds
and connects to the same file.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator

import trio

__all__ = ["connect", "listen_tcp", "listen_unix", "parse_address"]

_SHORT_ENOUGH = 100


def parse_address(address: str) -> tuple[str, str, int]:
    """``("unix", path, 0)`` or ``("tcp", host, port)``.

    Raises:
        ValueError: neither form.
    """
    kind, _, rest = address.partition(":")
    if kind == "unix" and rest:
        return "unix", rest, 0
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        if host and port.isdigit() and 0 < int(port) < 65536:
            return "tcp", host, int(port)
    raise ValueError(f"not an IPC address (unix:PATH or tcp:HOST:PORT): {address!r}")


@contextlib.contextmanager
def _reachable(path: str) -> Iterator[str]:
    """*path*, or an equivalent short one while the block runs."""
    if len(os.fsencode(path)) <= _SHORT_ENOUGH:
        yield path
        return
    folder = os.open(os.path.dirname(path) or ".", os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{folder}/{os.path.basename(path)}"
    finally:
        os.close(folder)


async def _connect_unix(path: str) -> trio.SocketStream:
    sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    try:
        with _reachable(path) as short:
            await sock.connect(short)
    except BaseException:
        sock.close()
        raise
    return trio.SocketStream(sock)


async def connect(address: str) -> trio.SocketStream:
    """A stream to *address*.

    Raises:
        ValueError: not an address.
        OSError: nothing listens there.
    """
    kind, where, port = parse_address(address)
    if kind == "unix":
        return await _connect_unix(where)
    return await trio.open_tcp_stream(where, port)


async def listen_unix(path: str) -> trio.SocketListener:
    """Listen on the Unix socket *path* (mode 0600, its folder made 0700 if missing).

    A socket file left by a node that is gone is replaced; one that a live process answers on
    is not.

    Raises:
        OSError: with ``EADDRINUSE`` when another process serves *path*.
    """
    folder = trio.Path(path).parent
    await folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if await trio.Path(path).exists():
        try:
            stream = await _connect_unix(path)
        except OSError:
            os.unlink(path)  # stale: nobody answers
        else:
            await stream.aclose()
            raise OSError(errno.EADDRINUSE, f"another process serves {path}")
    sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    try:
        with _reachable(path) as short:
            await sock.bind(short)
        os.chmod(path, 0o600)  # (the umask is process-wide: not changed for this)
        sock.listen(64)
    except BaseException:
        sock.close()
        raise
    return trio.SocketListener(sock)


async def listen_tcp(port: int) -> tuple[trio.SocketListener, int]:
    """Listen on ``127.0.0.1:port`` (0: a free port); the listener and its port."""
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_STREAM)
    try:
        sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_REUSEADDR, 1)
        await sock.bind(("127.0.0.1", port))
        sock.listen(64)
    except BaseException:
        sock.close()
        raise
    return trio.SocketListener(sock), int(sock.getsockname()[1])
