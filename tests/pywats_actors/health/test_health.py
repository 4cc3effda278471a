"""The health actor over real sockets: /healthz, /readyz, /metrics, /status, and its limits."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from pywats_actors.config import load_config
from pywats_actors.emulator import Faults, open_emulator
from pywats_actors.health import MAX_CONNECTIONS
from pywats_actors.node import Node, open_node
from pywats_actors.spool import SpoolFull
from supervisors import ChildState

from ..._reports import built_report
from ..node.test_node import NAMESPACE, TOKEN

OPERATORS = (Path(__file__).resolve().parents[3] / "docs" / "operators.md").read_text()


def write_config(
    tmp_path: Path, *, url: str = "", health: str = "", spool: str = "", watch: str = ""
) -> Path:
    server = f'base_url = "{url}"\ntoken = "{TOKEN}"\nping_interval = 1' if url else ""
    path = tmp_path / "node.toml"
    path.write_text(
        f"""
schema_version = 2

[node]
instance = "{tmp_path.name[:60]}"
station_namespace = "{NAMESPACE}"
data_dir = "{tmp_path / "data"}"
log_format = "json"

[server]
{server}

[spool]
{spool}

[conversion]
workers = 1

[health]
{health}

{watch}
"""
    )
    path.chmod(0o600)
    return path


@asynccontextmanager
async def running(path: Path) -> AsyncIterator[tuple[Node, httpx.AsyncClient]]:
    """A node on *path* with its health endpoints listening, and a client for them."""
    async with open_node(load_config(path), stop_grace=5) as node:
        await wait_for(lambda: node.health_url is not None, "health endpoints listening")
        assert node.health_url is not None
        async with httpx.AsyncClient(base_url=node.health_url, timeout=5, trust_env=False) as c:
            yield node, c


async def wait_for(predicate: object, what: str, within: float = 10) -> None:
    assert callable(predicate)
    with trio.move_on_after(within):
        while not predicate():
            await trio.sleep(0.02)
        return
    raise AssertionError(f"not within {within} s: {what}")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a text exposition, parsed by prometheus_client's own parser."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(
    parsed: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    for (sample, sample_labels), number in parsed.items():
        if sample == name and all(dict(sample_labels).get(k) == v for k, v in labels.items()):
            return number
    raise KeyError(f"{name} {labels}")


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = await client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(answer.text)


class TestEndpoints:
    async def test_every_endpoint_answers_on_loopback(self, tmp_path: Path) -> None:
        """With a server online, /healthz and /readyz answer 200, /status is the node's JSON,
        the address is loopback, and unknown paths and other methods are refused."""
        async with (
            open_emulator(token=TOKEN) as emu,
            running(write_config(tmp_path, url=emu.url)) as (node, client),
        ):
            assert node.health_address is not None
            assert node.health_address[0] == "127.0.0.1"
            assert (await client.get("/healthz")).json() == {"status": "alive"}
            ready = await client.get("/readyz")
            assert (ready.status_code, ready.json()) == (200, {"ready": True, "reasons": []})
            status = (await client.get("/status")).json()
            assert status["instance"] == tmp_path.name[:60]
            assert status["ready"] is True
            assert status["spool"]["pending"] == 0
            paths = {child["path"]: child["state"] for child in status["tree"]}
            assert paths["health"] == paths["spool"] == paths["uplink/uploader"] == "running"
            assert (await client.get("/nope")).status_code == 404
            assert (await client.post("/healthz")).status_code == 405

    async def test_metrics_follow_conventions_and_count_real_work(self, tmp_path: Path) -> None:
        """/metrics parses with prometheus_client's parser; every sample has the instance
        label, counters end in _total; a submitted report shows as spooled, then the server
        as online and the report as sent."""
        async with (
            open_emulator(token=TOKEN) as emu,
            running(write_config(tmp_path, url=emu.url)) as (node, client),
        ):
            body, _ = built_report(1, id_label="health-test")
            await node.submit(body)
            await wait_for(lambda: emu.stats().accepted == 1, "report uploaded")
            await wait_for(
                lambda: node.spool is not None and node.spool.statistics().sent == 1,
                "report marked sent",
            )
            answer = await client.get("/metrics")
            families = list(text_string_to_metric_families(answer.text))
            instance = tmp_path.name[:60]
            for family in families:
                assert family.name.startswith("pywats_")
                for sample in family.samples:
                    assert sample.labels["instance"] == instance, sample
                    if family.type == "counter" and not sample.name.endswith("_created"):
                        assert sample.name.endswith("_total"), sample
            parsed = samples(answer.text)
            exported = {name for name, _ in parsed}
            documented = set(re.findall(r"^\| `(pywats_\w+)` \|", OPERATORS, re.MULTILINE))
            assert exported == documented  # docs/operators.md lists exactly these
            assert value(parsed, "pywats_reports_spooled_total") == 1
            assert value(parsed, "pywats_spool_reports", state="sent") == 1
            assert value(parsed, "pywats_spool_reports", state="pending") == 0
            assert value(parsed, "pywats_server_state", state="online") == 1
            assert value(parsed, "pywats_upload_breaker_state", state="closed") == 1
            assert value(parsed, "pywats_node_ready") == 1
            assert value(parsed, "pywats_child_up", child="uplink/uploader") == 1
            assert value(parsed, "pywats_worker_restarts_total") == 0


class TestReadiness:
    async def test_a_stopped_server_shows_in_metrics_not_readiness(self, tmp_path: Path) -> None:
        """When the WATS server goes down the node stays ready (it still takes and keeps
        results) and /metrics and /status show the server offline."""
        async with (
            open_emulator(token=TOKEN) as emu,
            running(write_config(tmp_path, url=emu.url)) as (node, client),
        ):
            await wait_for(
                lambda: node.link is not None and node.link.state.value == "online", "online"
            )
            emu.set_faults(Faults(down=True))
            await wait_for(
                lambda: node.link is not None and node.link.state.value == "offline",
                "server seen offline",
            )
            parsed = await scrape(client)
            assert value(parsed, "pywats_server_state", state="offline") == 1
            assert value(parsed, "pywats_server_state", state="online") == 0
            assert (await client.get("/readyz")).status_code == 200
            assert (await client.get("/status")).json()["server"]["state"] == "offline"

    async def test_a_full_spool_makes_the_node_unready(self, tmp_path: Path) -> None:
        """With no server and a spool limit of two reports, filling the spool turns /readyz
        into 503 naming the paused intake, and /metrics shows it."""
        path = write_config(tmp_path, spool="max_reports = 2")
        async with running(path) as (node, client):
            for n in range(3):
                body, _ = built_report(n, id_label="health-full")
                try:
                    await node.submit(body)
                except SpoolFull:
                    break
            else:
                pytest.fail("the spool took more reports than its limit")
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["ready"] is False
            assert any("size_limit" in reason for reason in ready.json()["reasons"])
            parsed = await scrape(client)
            assert value(parsed, "pywats_spool_intake_paused", reason="size_limit") == 1
            assert value(parsed, "pywats_spool_reports", state="pending") == 2
            assert value(parsed, "pywats_spool_max_reports") == 2
            assert value(parsed, "pywats_node_ready") == 0
            assert value(parsed, "pywats_spool_oldest_pending_age_seconds") >= 0
            assert value(parsed, "pywats_server_state", state="unconfigured") == 1

    async def test_one_broken_watch_folder_leaves_the_node_ready(self, tmp_path: Path) -> None:
        """A watch folder that cannot exist (its parent is a file) is retried alone: the node
        stays ready and /metrics shows that folder's watcher down or degraded."""
        (tmp_path / "plain-file").write_text("not a folder")
        watch = f'[[watch]]\nid = "broken"\npath = "{tmp_path / "plain-file" / "in"}"'
        async with running(write_config(tmp_path, watch=watch)) as (node, client):
            await wait_for(
                lambda: node.statistics().find("intake/broken").state is not ChildState.RUNNING,
                "the broken folder's watcher not running",
            )
            assert (await client.get("/readyz")).status_code == 200
            parsed = await scrape(client)
            down = value(parsed, "pywats_child_up", child="intake/broken") == 0
            assert down or value(parsed, "pywats_child_degraded", child="intake/broken") == 1
            assert value(parsed, "pywats_node_ready") == 1


class TestInstancesAndPorts:
    async def test_two_instances_get_their_own_ports(self, tmp_path: Path) -> None:
        """Two nodes on one station with the default port 0 listen on different ports and
        each answers for itself."""
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        async with (
            running(write_config(tmp_path / "a")) as (a, client_a),
            running(write_config(tmp_path / "b")) as (b, client_b),
        ):
            assert a.health_address != b.health_address
            assert (await client_a.get("/status")).json()["instance"] == "a"
            assert (await client_b.get("/status")).json()["instance"] == "b"

    async def test_a_taken_port_degrades_the_child_not_the_node(self, tmp_path: Path) -> None:
        """A fixed port that another program holds leaves the node running and ready to take
        reports, with the health child degraded and saying why."""
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            path = write_config(tmp_path, health=f"port = {port}")
            async with open_node(load_config(path), stop_grace=5) as node:
                await wait_for(
                    lambda: node.statistics().child("health").state is ChildState.DEGRADED,
                    "health degraded",
                )
                child = node.statistics().child("health")
                assert child.degraded is not None
                assert f"port {port}" in child.degraded
                assert "in use" in child.degraded
                assert node.health_url is None
                assert node.statistics().child("spool").state is ChildState.RUNNING
                body, _ = built_report(1, id_label="health-taken")
                assert (await node.submit(body)).new

    async def test_disabled_serves_nothing(self, tmp_path: Path) -> None:
        """enabled = false: the child runs and no address is bound."""
        async with open_node(load_config(write_config(tmp_path, health="enabled = false"))) as node:
            await trio.sleep(0.1)
            assert node.health_url is None
            assert node.statistics().child("health").state is ChildState.RUNNING


class TestHostileClients:
    async def test_garbage_slow_and_many_clients_do_not_hurt(self, tmp_path: Path) -> None:
        """Garbage gets a 400 and a close; a client that sends half a request and stalls,
        and more connections than the limit, leave /healthz answering at once."""
        async with running(write_config(tmp_path)) as (node, client):
            assert node.health_address is not None
            address = node.health_address

            garbage = await trio.open_tcp_stream(*address)
            await garbage.send_all(b"\x00\xff not http at all\r\n\r\n")
            with trio.fail_after(5):
                answer = b""
                while chunk := await garbage.receive_some():
                    answer += chunk
            assert answer.startswith(b"HTTP/1.1 400")
            await garbage.aclose()

            slow = await trio.open_tcp_stream(*address)
            await slow.send_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the rest
            idle = [await trio.open_tcp_stream(*address) for _ in range(MAX_CONNECTIONS + 4)]
            with trio.fail_after(2):
                while True:  # the surplus connections are closed by the server
                    extra = await trio.open_tcp_stream(*address)
                    closed = await extra.receive_some() == b""
                    await extra.aclose()
                    if closed:
                        break
            for stream in idle:
                await stream.aclose()
            with trio.fail_after(2):
                while True:  # once they are gone, a new client is answered at once
                    try:
                        answer_ = await client.get("/healthz")
                    except httpx.TransportError:
                        await trio.sleep(0.02)
                        continue
                    break
            assert answer_.status_code == 200
            await slow.aclose()
            assert json.loads((await client.get("/readyz")).text)["ready"] is True
