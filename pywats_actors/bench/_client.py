"""``pywats-node bench client``: the WATS client and the emulator (a benchmark, not a test).

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

CPU is read with ``getrusage`` (this process) and psutil (the server process).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import h11
import httpx
import trio

from ._measure import BenchFailed, own_cpu
from ._reports import wsjf_reports
from ._servers import Emulator, Server, hypercorn_available, start_floor

__all__ = ["ClientOptions", "run_client"]

TOKEN = "bench-token"


@dataclass(frozen=True)
class ClientOptions:
    """The suite's settings (``pywats-node bench client --help``)."""

    requests: int = 3000
    warmup: int = 300
    load_requests: int = 40000
    connections: int = 8
    seconds: float = 5.0
    steps: int = 1


# -- the client, measured in this process ------------------------------------------------------


async def _client_cpu(
    url: str, reports: list[tuple[str, bytes]], warmup: int, batch: int = 100
) -> tuple[float, float]:
    """CPU seconds per submission: (WatsClient, bare httpx), in alternating batches.

    Alternating cancels most of the drift that other load on the machine causes.
    """
    from ..client import WatsClientSettings, open_wats_client

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
                start = own_cpu()[0]
                for report_id, data in measured[first : first + batch]:
                    await submit(report_id, data)
                spent[submit] += own_cpu()[0] - start
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


def _measure_load(
    server: Server, requests: list[bytes], connections: int, seconds: float
) -> dict[str, int]:
    """Requests answered, per second, and server CPU per request (µs), after a warm-up."""
    trio.run(_load, server.url, requests[:200], connections, seconds)  # warm-up
    before = server.cpu()
    answered, elapsed = trio.run(_load, server.url, requests[200:], connections, seconds)
    cpu = server.cpu() - before
    if answered == 0:
        raise BenchFailed(f"the server answered no request within {seconds:g} s")
    return {
        "requests": answered,
        "per_second": round(answered / elapsed),
        "cpu_us": round(cpu / answered * 1e6),
    }


# -- putting it together ------------------------------------------------------------------------


def _run(options: ClientOptions) -> dict[str, object]:
    results: dict[str, object] = {
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "report_bytes": len(wsjf_reports(1, options.steps)[0][1]),
    }
    emulator = Emulator(TOKEN, seed=1)
    try:
        reports = wsjf_reports(options.requests + options.warmup, options.steps)
        before = emulator.cpu()
        client, bare = trio.run(_client_cpu, emulator.url, reports, options.warmup)
        emulator_cpu = (emulator.cpu() - before) / len(reports) / 2
        results["client_cpu_us"] = round(client * 1e6)
        results["httpx_cpu_us"] = round(bare * 1e6)
        results["client_overhead_us"] = round((client - bare) * 1e6)
        results["emulator_cpu_us_sequential"] = round(emulator_cpu * 1e6)

        load = [
            _request_bytes(b"/api/Report/WSJF", data, report_id)
            for report_id, data in wsjf_reports(options.load_requests, options.steps)
        ]
        results["emulator"] = _measure_load(emulator, load, options.connections, options.seconds)
    finally:
        emulator.stop()
    for kind in ("floor", "hypercorn"):
        if kind == "hypercorn" and not hypercorn_available():
            continue
        server = start_floor(kind)
        try:
            results[kind] = _measure_load(server, load, options.connections, options.seconds)
        finally:
            server.stop()
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


def run_client(options: ClientOptions) -> dict[str, object]:
    """Run the suite, print its figures and return them."""
    results = _run(options)
    print(_report(results))
    return results
