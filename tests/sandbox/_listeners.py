"""Sockets the suite listens on, so that a plug-in that reaches one is caught in the act: TCP and
UDP on 127.0.0.1, a pathname and an abstract Unix socket. Everything received is recorded."""

from __future__ import annotations

import os
import secrets
import selectors
import socket
import threading
from pathlib import Path


class Listeners:
    """The four listeners, served by one thread until :meth:`close`.

    Attributes:
        tcp_port, udp_port: the ports on 127.0.0.1.
        unix_path: the pathname socket (mode 0777: only a sandbox may keep a plug-in out).
        abstract: the abstract socket's name (without the leading NUL).
        received: ``(kind, bytes)`` of every connection or datagram, in order.
    """

    def __init__(self, folder: Path) -> None:
        self.received: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        tcp = socket.create_server(("127.0.0.1", 0))
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        folder.mkdir(parents=True, exist_ok=True)
        self.unix_path = str(folder / "hostile.sock")
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        unix.bind(self.unix_path)
        os.chmod(self.unix_path, 0o777)
        unix.listen()
        self.abstract = f"pywats-hostile-{secrets.token_hex(8)}"
        abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        abstract.bind("\0" + self.abstract)
        abstract.listen()
        self.tcp_port = tcp.getsockname()[1]
        self.udp_port = udp.getsockname()[1]
        self._sockets = [tcp, udp, unix, abstract]
        for kind, sock in zip(("tcp", "udp", "unix", "abstract"), self._sockets, strict=True):
            sock.setblocking(False)
            self._selector.register(sock, selectors.EVENT_READ, kind)
        self._thread = threading.Thread(target=self._serve, name="listeners", daemon=True)
        self._thread.start()

    def hits(self, needle: str) -> list[str]:
        """The kinds of listener that received ``needle`` or a connection carrying it."""
        with self._lock:
            return [kind for kind, data in self.received if needle.encode() in data]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self._sockets:
            sock.close()
        self._selector.close()
        Path(self.unix_path).unlink(missing_ok=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(0.1):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                kind = key.data
                try:
                    if kind == "udp":
                        self._record(kind, sock.recv(4096))
                    else:
                        conn, _ = sock.accept()
                        with conn:
                            conn.settimeout(1.0)
                            self._record(kind, _read_some(conn))
                except OSError:
                    continue

    def _record(self, kind: str, data: bytes) -> None:
        with self._lock:
            self.received.append((kind, data))


def _read_some(conn: socket.socket) -> bytes:
    """What a client sends within a second (up to 4 KiB); the connection is the evidence."""
    try:
        return conn.recv(4096) or b"<connected>"
    except OSError:
        return b"<connected>"
