"""Benchmark of the WATS client and the emulator (a benchmark, not a test).

Run::

    python -m pywats_actors._bench_wats [--requests 3000] [--connections 8] [--seconds 5]

What it measures, each server in its own process so that the CPU figures are separable:

1. **client**: CPU time of this process per submission, :meth:`WatsClient.submit_wsjf` against
   the emulator, one at a time; next to it the same POST made with bare httpx (same headers, a
   pooled ``AsyncClient``), which is the floor the client adds to. The two alternate in batches
   of 100 so that other load on the machine affects both alike.
2. **emulator**: submissions per second and the emulator process's CPU per submission, under a
   load generator (h11 over trio, keep-alive connections, unique report ids) in this process.
3. **floor**: the same load against the emulator's own HTTP core with a handler that answers a
   fixed 200 (no routing, no validation, no store), and against a minimal ASGI app under
   hypercorn when hypercorn is installed: what any server on this stack costs.

CPU is read with :func:`os.times` (this process) and psutil (the server process).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h11
import httpx
import psutil
import trio

TOKEN = "bench-token"
_TEMPLATE = {
    "type": "T",
    "id": "",
    "pn": "DEMO-BOARD-01",
    "sn": "SN000123",
    "rev": "B",
    "processCode": 10,
    "processName": "SW Debug",
    "result": "P",
    "machineName": "STATION-07",
    "location": "Line 2",
    "purpose": "Production",
    "start": "2026-03-02T14:05:00.000+01:00",
    "startUTC": "2026-03-02T13:05:00.000Z",
    "uut": {"user": "operator1", "execTime": 3.25},
    "root": {
        "id": 1,
        "group": "M",
        "stepType": "SequenceCall",
        "name": "MainSequence Callback",
        "status": "P",
        "totTime": 3.25,
        "seqCall": {"path": "bench", "name": "MainSequence Callback", "version": "1.0"},
        "steps": [],
    },
}


def make_reports(count: int, steps: int) -> list[tuple[str, bytes]]:
    """*count* valid WSJF reports with *steps* numeric steps each, unique ids: [(id, bytes)]."""
    template = json.loads(json.dumps(_TEMPLATE))
    template["root"]["steps"] = [
        {
            "id": index + 2,
            "group": "M",
            "stepType": "ET_NLT",
            "name": f"Voltage {index}",
            "status": "P",
            "totTime": 0.01,
            "numericMeas": [
                {
                    "compOp": "GELE",
                    "status": "P",
                    "unit": "V",
                    "value": 5.0,
                    "lowLimit": 4.75,
                    "highLimit": 5.25,
                }
            ],
        }
        for index in range(steps)
    ]
    text = json.dumps(template).replace('"id": ""', '"id": "%s"', 1)
    reports = []
    for _ in range(count):
        report_id = str(uuid.uuid4())
        reports.append((report_id, (text % report_id).encode()))
    return reports


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


@dataclass
class Server:
    """A server under test, running in its own process."""

    process: subprocess.Popen[bytes]
    url: str

    def cpu(self) -> float:
        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(kind: str) -> Server:
    """Start the server *kind* (emulator, floor, hypercorn) and wait for its URL."""
    if kind == "emulator":
        command = [sys.executable, "-m", "pywats_actors._cli", "emulator", "--token", TOKEN]
        command += ["--seed", "1"]
    else:
        command = [sys.executable, "-m", "pywats_actors._bench_wats", "--serve", kind]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    url = process.stdout.readline().decode().strip()
    if not url.startswith("http://") or not _accepts(url):
        process.kill()
        raise RuntimeError(f"{kind} server did not start")
    return Server(process, url)


def _accepts(url: str) -> bool:
    """Whether *url* accepts connections within ten seconds (a server may print it early)."""
    import socket
    import time

    host, port = url.removeprefix("http://").rsplit(":", 1)
    for _ in range(200):
        with socket.socket() as probe:
            if probe.connect_ex((host, int(port))) == 0:
                return True
        time.sleep(0.05)
    return False


# -- the client, measured in this process ------------------------------------------------------


async def _client_cpu(
    url: str, reports: list[tuple[str, bytes]], warmup: int, batch: int = 100
) -> tuple[float, float]:
    """CPU seconds per submission: (WatsClient, bare httpx), in alternating batches.

    Alternating cancels most of the drift that other load on the machine causes.
    """
    from .client import WatsClientSettings, open_wats_client

    settings = WatsClientSettings(base_url=url, token=TOKEN)
    headers = {
        "Authorization": f"Basic {TOKEN}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    async with (
        open_wats_client(settings) as wats,
        httpx.AsyncClient(base_url=url, headers=headers) as bare,
    ):

        async def with_client(report_id: str, data: bytes) -> None:
            await wats.submit_wsjf(data, report_id)

        async def with_httpx(report_id: str, data: bytes) -> None:
            answer = await bare.post(
                "/api/Report/WSJF", content=data, headers={"Idempotency-Key": f'"{report_id}"'}
            )
            assert answer.status_code == 200, answer.text

        for report_id, data in reports[:warmup]:
            await with_client(report_id, data)
            await with_httpx(report_id, data)
        spent = {with_client: 0.0, with_httpx: 0.0}
        measured = reports[warmup:]
        for first in range(0, len(measured), batch):
            for submit in spent:
                start = _cpu()
                for report_id, data in measured[first : first + batch]:
                    await submit(report_id, data)
                spent[submit] += _cpu() - start
        return spent[with_client] / len(measured), spent[with_httpx] / len(measured)


# -- load against a server in another process ---------------------------------------------------


def _request_bytes(path: bytes, body: bytes, report_id: str) -> bytes:
    conn = h11.Connection(h11.CLIENT)
    head = conn.send(
        h11.Request(
            method="POST",
            target=path,
            headers=[
                ("Host", "bench"),
                ("Authorization", f"Basic {TOKEN}"),
                ("Content-Type", "application/json"),
                ("Idempotency-Key", f'"{report_id}"'),
                ("Content-Length", str(len(body))),
            ],
        )
    )
    return (head or b"") + body


async def _load(
    url: str, requests: list[bytes], connections: int, seconds: float
) -> tuple[int, float]:
    """Send *requests* over keep-alive connections for up to *seconds*; (answered, elapsed)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    answered = 0
    queue = iter(requests)

    async def one_connection() -> None:
        nonlocal answered
        stream = await trio.open_tcp_stream(host, int(port))
        conn = h11.Connection(h11.CLIENT)
        async with stream:
            for request in queue:
                # the request goes out pre-encoded; h11 only tracks the exchange and parses
                conn.send(h11.Request(method="GET", target="/", headers=[("Host", "b")]))
                conn.send(h11.EndOfMessage())
                await stream.send_all(request)
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        conn.receive_data(await stream.receive_some(65536))
                    elif isinstance(event, h11.Response) and event.status_code != 200:
                        raise RuntimeError(f"server answered {event.status_code}")
                    elif isinstance(event, h11.EndOfMessage):
                        break
                answered += 1
                conn.start_next_cycle()

    start = trio.current_time()
    with trio.move_on_after(seconds):
        async with trio.open_nursery() as nursery:
            for _ in range(connections):
                nursery.start_soon(one_connection)
    return answered, trio.current_time() - start


@dataclass
class LoadResult:
    requests: int
    per_second: float
    server_cpu_us: float


def measure_load(
    server: Server, requests: list[bytes], connections: int, seconds: float
) -> LoadResult:
    trio.run(_load, server.url, requests[:200], connections, seconds)  # warm-up
    before = server.cpu()
    answered, elapsed = trio.run(_load, server.url, requests[200:], connections, seconds)
    cpu = server.cpu() - before
    return LoadResult(answered, answered / elapsed, cpu / answered * 1e6)


# -- the floor servers ------------------------------------------------------------------------


def _serve_floor() -> None:
    from .emulator._http import HttpLimits, Request, Response, serve_connection

    answer = Response(200, b'{"ID":"x","uuid":"x","Report_ID":1}')

    async def handler(request: Request) -> Response:
        return answer

    async def main() -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        print(f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}", flush=True)
        limits = HttpLimits()

        async def serve(stream: trio.SocketStream) -> None:
            await serve_connection(stream, handler, limits)

        await trio.serve_listeners(serve, listeners)

    trio.run(main)


def _serve_hypercorn() -> None:
    import importlib
    import socket

    # imported by name: hypercorn is optional and not a dependency of the project
    config = importlib.import_module("hypercorn.config").Config()
    serve = importlib.import_module("hypercorn.trio").serve
    body = b'{"ID":"x","uuid":"x","Report_ID":1}'
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
        await send({"type": "http.response.body", "body": body})

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = None
    print(f"http://127.0.0.1:{port}", flush=True)
    trio.run(serve, app, config)


# -- putting it together ------------------------------------------------------------------------


def _hypercorn_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("hypercorn") is not None


def run(args: argparse.Namespace) -> dict[str, object]:
    results: dict[str, object] = {
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "report_bytes": len(make_reports(1, args.steps)[0][1]),
    }
    emulator = start_server("emulator")
    try:
        reports = make_reports(args.requests + args.warmup, args.steps)
        before = emulator.cpu()
        client, bare = trio.run(_client_cpu, emulator.url, reports, args.warmup)
        emulator_cpu = (emulator.cpu() - before) / len(reports) / 2
        results["client_cpu_us"] = round(client * 1e6)
        results["httpx_cpu_us"] = round(bare * 1e6)
        results["client_overhead_us"] = round((client - bare) * 1e6)
        results["emulator_cpu_us_sequential"] = round(emulator_cpu * 1e6)

        load = [
            _request_bytes(b"/api/Report/WSJF", data, report_id)
            for report_id, data in make_reports(args.load_requests, args.steps)
        ]
        emulated = measure_load(emulator, load, args.connections, args.seconds)
        results["emulator"] = {
            "requests": emulated.requests,
            "per_second": round(emulated.per_second),
            "cpu_us": round(emulated.server_cpu_us),
        }
    finally:
        emulator.stop()
    for kind in ("floor", "hypercorn"):
        if kind == "hypercorn" and not _hypercorn_available():
            continue
        server = start_server(kind)
        try:
            floor = measure_load(server, load, args.connections, args.seconds)
        finally:
            server.stop()
        results[kind] = {
            "requests": floor.requests,
            "per_second": round(floor.per_second),
            "cpu_us": round(floor.server_cpu_us),
        }
    return results


def _report(results: dict[str, object]) -> str:
    lines = [
        f"Python {results['python']}, {results['cpus']} CPUs, "
        f"report of {results['report_bytes']} bytes",
        "",
        "client (CPU per submission, in this process, one at a time):",
        f"  WatsClient.submit_wsjf   {results['client_cpu_us']:>6} us",
        f"  bare httpx POST          {results['httpx_cpu_us']:>6} us",
        f"  client overhead          {results['client_overhead_us']:>6} us",
        f"  (emulator meanwhile      {results['emulator_cpu_us_sequential']:>6} us per request)",
        "",
        "servers under load (server process CPU per request):",
    ]
    for kind, label in (
        ("emulator", "emulator (full)"),
        ("floor", "emulator HTTP core only"),
        ("hypercorn", "hypercorn minimal ASGI"),
    ):
        figures = results.get(kind)
        if isinstance(figures, dict):
            lines.append(
                f"  {label:<24} {figures['per_second']:>6} req/s  {figures['cpu_us']:>5} us/req"
                f"  ({figures['requests']} requests)"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pywats_actors._bench_wats")
    parser.add_argument("--requests", type=int, default=3000, help="client submissions timed")
    parser.add_argument("--warmup", type=int, default=300, help="client submissions not timed")
    parser.add_argument("--load-requests", type=int, default=40000, help="load requests ready")
    parser.add_argument("--connections", type=int, default=8, help="load connections")
    parser.add_argument("--seconds", type=float, default=5.0, help="load duration per server")
    parser.add_argument("--steps", type=int, default=1, help="numeric steps per report")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--serve", choices=["floor", "hypercorn"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve == "floor":
        _serve_floor()
        return 0
    if args.serve == "hypercorn":
        _serve_hypercorn()
        return 0
    results = run(args)
    print(_report(results))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
