"""Servers the suites measure against, each in a process of its own: the emulator
(``pywats-node emulator``), and two floors for the client suite (the emulator's HTTP core with a
fixed answer, a minimal ASGI app under hypercorn) run as ``python -m
pywats_actors.bench._servers floor|hypercorn``."""

from __future__ import annotations

import socket
import subprocess
import sys
from typing import Any

import httpx
import trio

from ._measure import BenchFailed, process_cpu, wait_until

__all__ = ["Emulator", "Server", "hypercorn_available", "start_floor"]

_ANSWER = b'{"ID":"x","uuid":"x","Report_ID":1}'


class Server:
    """A server under test in its own process, listening at :attr:`url`."""

    def __init__(self, command: list[str], what: str) -> None:
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://") or not _accepts(self.url):
            self.stop()
            raise BenchFailed(f"the {what} did not start (exit code {self.process.returncode})")

    def cpu(self) -> float:
        """The server process's CPU so far, seconds."""
        return process_cpu(self.process.pid)

    def stop(self) -> None:
        """Terminate the server (kill it after 10 s) and reap it."""
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


class Emulator(Server):
    """``pywats-node emulator`` with *token*, answering after *latency* seconds; started and
    accepting connections once constructed."""

    def __init__(self, token: str, *, latency: float = 0.0, seed: int | None = None) -> None:
        command = [sys.executable, "-m", "pywats_actors._cli", "emulator", "--token", token]
        if latency > 0:
            command += ["--latency", str(latency)]
        if seed is not None:
            command += ["--seed", str(seed)]
        super().__init__(command, "emulator")
        self.http = httpx.Client(headers={"Authorization": f"Basic {token}"}, timeout=10)

    def stored(self) -> int:
        """How many distinct reports the emulator has (a cheap admin call, fine to poll)."""
        try:
            answer = self.http.get(f"{self.url}/_emulator/count")
            answer.raise_for_status()
        except httpx.HTTPError as exc:
            code = self.process.poll()
            state = "is running" if code is None else f"exited with code {code}"
            raise BenchFailed(f"the emulator did not answer ({exc}); it {state}") from None
        count: int = answer.json()["stored"]
        return count

    def stop(self) -> None:
        self.http.close()
        super().stop()


def start_floor(kind: str) -> Server:
    """Start the floor server *kind* (``floor`` or ``hypercorn``)."""
    return Server([sys.executable, "-m", __name__, kind], f"{kind} server")


def hypercorn_available() -> bool:
    """Whether hypercorn is installed (it is not a dependency of the project)."""
    import importlib.util

    return importlib.util.find_spec("hypercorn") is not None


def _accepts(url: str) -> bool:
    """Whether *url* accepts connections within ten seconds (a server may print it early)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)

    def connects() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex((host, int(port))) == 0

    try:
        wait_until(connects, 10, "accepting", interval=0.05)
    except BenchFailed:
        return False
    return True


def _serve_floor() -> None:
    from .._http_server import HttpLimits, Request, Response, serve_connection

    answer = Response(200, _ANSWER)

    async def handler(request: Request) -> Response:
        return answer

    async def main() -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        print(f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}", flush=True)
        limits = HttpLimits()

        async def serve(stream: trio.SocketStream) -> None:
            await serve_connection(stream, handler, limits, name="bench")

        await trio.serve_listeners(serve, listeners)

    trio.run(main)


def _serve_hypercorn() -> None:
    import importlib

    # imported by name: hypercorn is optional and not a dependency of the project
    config = importlib.import_module("hypercorn.config").Config()
    serve = importlib.import_module("hypercorn.trio").serve
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"application/json")],
    }

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = (await receive())["type"]
                await send({"type": f"{message}.complete"})
                if message == "lifespan.shutdown":
                    return
        while (await receive()).get("more_body"):
            pass
        await send(start)
        await send({"type": "http.response.body", "body": _ANSWER})

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = None
    print(f"http://127.0.0.1:{port}", flush=True)
    trio.run(serve, app, config)


if __name__ == "__main__":
    if sys.argv[1:] == ["floor"]:
        _serve_floor()
    elif sys.argv[1:] == ["hypercorn"]:
        _serve_hypercorn()
    else:
        sys.exit(f"usage: python -m {__spec__.name if __spec__ else __name__} floor|hypercorn")
