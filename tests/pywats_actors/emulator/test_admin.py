"""The admin API and fault injection over HTTP: stats, faults, reproducibility, down."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import trio

from pywats_actors.emulator import Emulator, Faults, open_emulator

from .conftest import AUTH, TOKEN, encode

Report = Callable[..., dict[str, Any]]
JSON = {"Content-Type": "application/json"}


async def _statuses(url: str, count: int, report: Report) -> list[int]:
    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=5.0) as client:
        statuses = []
        for _ in range(count):
            answer = await client.post("/api/Report/WSJF", content=encode(report()), headers=JSON)
            statuses.append(answer.status_code)
        return statuses


class TestAdminApi:
    async def test_stats(self, http: httpx.AsyncClient, report: Report) -> None:
        """GET /_emulator/stats reports accepted, rejected, duplicates and ids as JSON."""
        wsjf = report()
        for body in (encode(wsjf), encode(wsjf), b"nonsense"):
            await http.post("/api/Report/WSJF", content=body, headers=JSON)
        stats = (await http.get("/_emulator/stats")).json()
        assert stats["accepted"] == 2
        assert stats["duplicates"] == 1
        assert stats["rejected"] == 1
        assert stats["requests"] == 3
        assert stats["ids"] == [wsjf["id"]]
        assert stats["seed"] == 1

    async def test_count(self, http: httpx.AsyncClient, report: Report) -> None:
        """GET /_emulator/count is the number of distinct stored reports, duplicates not
        counted twice and refused submissions not at all."""
        assert (await http.get("/_emulator/count")).json() == {"stored": 0, "deliveries": 0}
        first, second = report(), report()
        for body in (encode(first), encode(first), encode(second), b"nonsense"):
            await http.post("/api/Report/WSJF", content=body, headers=JSON)
        counts = (await http.get("/_emulator/count")).json()
        assert counts == {"stored": 2, "deliveries": 3}
        assert (await http.post("/_emulator/count")).status_code == 405

    async def test_admin_needs_the_admin_token(self, emulator: Emulator) -> None:
        """The admin routes answer 401 without the admin token."""
        async with httpx.AsyncClient(base_url=emulator.url) as client:
            assert (await client.get("/_emulator/stats")).status_code == 401
            answer = await client.get("/_emulator/stats", headers={"Authorization": "Basic x"})
            assert answer.status_code == 401

    async def test_separate_admin_token(self) -> None:
        """With its own admin token, the API token does not open the admin routes."""
        async with (
            open_emulator(token="api", admin_token="admin") as emu,
            httpx.AsyncClient(base_url=emu.url) as client,
        ):
            api = await client.get("/_emulator/stats", headers={"Authorization": "Basic api"})
            admin = await client.get("/_emulator/stats", headers={"Authorization": "Basic admin"})
        assert (api.status_code, admin.status_code) == (401, 200)

    async def test_admin_requests_are_not_counted_or_faulted(
        self, http: httpx.AsyncClient, emulator: Emulator
    ) -> None:
        """Admin requests bypass the faults and do not count as API requests."""
        emulator.set_faults(Faults(error_500=1.0))
        for _ in range(3):
            assert (await http.get("/_emulator/stats")).status_code == 200
        assert emulator.stats().requests == 0

    async def test_get_faults(self, http: httpx.AsyncClient, emulator: Emulator) -> None:
        """GET /_emulator/faults shows the faults in force and the seed."""
        emulator.set_faults(Faults(error_503=0.25, retry_after="9"))
        answer = (await http.get("/_emulator/faults")).json()
        assert (answer["error_503"], answer["retry_after"], answer["seed"]) == (0.25, "9", 1)

    async def test_set_faults(
        self, http: httpx.AsyncClient, emulator: Emulator, report: Report
    ) -> None:
        """POST /_emulator/faults replaces the faults, and they apply to the next requests."""
        answer = await http.post("/_emulator/faults", json={"throttle": 1.0, "retry_after": "4"})
        assert answer.status_code == 200
        assert emulator.faults == Faults(throttle=1.0, retry_after="4")
        refused = await http.post("/api/Report/WSJF", content=encode(report()), headers=JSON)
        assert (refused.status_code, refused.headers["retry-after"]) == (429, "4")
        await http.post("/_emulator/faults", json={})
        accepted = await http.post("/api/Report/WSJF", content=encode(report()), headers=JSON)
        assert accepted.status_code == 200
        assert emulator.stats().faults["throttle"] == 1

    @pytest.mark.parametrize(
        ("body", "words"),
        [
            (b'{"hang": 2}', "$.hang"),
            (b'{"error_500": 0.7, "error_503": 0.7}', "add up to"),
            (b'{"teleport": 1}', "teleport"),
            (b"{", "not valid JSON"),
            (b'{"down": true}', "down_for"),
        ],
    )
    async def test_bad_faults_are_refused(
        self, http: httpx.AsyncClient, emulator: Emulator, body: bytes, words: str
    ) -> None:
        """Invalid faults are a 400 saying why, and the faults in force stay."""
        answer = await http.post("/_emulator/faults", content=body)
        assert answer.status_code == 400
        assert words in answer.json()["Message"]
        assert emulator.faults == Faults()

    async def test_unknown_admin_route(self, http: httpx.AsyncClient) -> None:
        """An unknown admin path is a 404, a wrong method a 405."""
        assert (await http.get("/_emulator/nothing")).status_code == 404
        assert (await http.delete("/_emulator/stats")).status_code == 405


class TestReproducibleFaults:
    async def test_same_seed_same_answers(self, report: Report) -> None:
        """Two emulators with the same seed and faults answer the same request sequence alike."""
        faults = Faults(error_500=0.3, error_503=0.2, unauthorized=0.1)
        runs = []
        for _ in range(2):
            async with open_emulator(token=TOKEN, faults=faults, seed=1234) as emu:
                runs.append(await _statuses(emu.url, 40, report))
        assert runs[0] == runs[1]
        assert {200, 500, 503, 401} <= set(runs[0])

    async def test_reseed_over_http(
        self, http: httpx.AsyncClient, emulator: Emulator, report: Report
    ) -> None:
        """Posting faults with a seed restarts the sequence, so a run can be replayed."""
        faults = {"error_500": 0.5, "seed": 77}
        await http.post("/_emulator/faults", json=faults)
        first = await _statuses(emulator.url, 20, report)
        await http.post("/_emulator/faults", json=faults)
        second = await _statuses(emulator.url, 20, report)
        assert first == second
        assert emulator.seed == 77


class TestLatency:
    async def test_latency_delays_answers(
        self, emulator: Emulator, http: httpx.AsyncClient
    ) -> None:
        """With latency set, each /api answer takes at least that long."""
        emulator.set_faults(Faults(latency=0.15))
        start = trio.current_time()
        await http.get("/api/App/Version")
        assert trio.current_time() - start >= 0.15


async def _read_to_end(stream: trio.SocketStream) -> None:
    while await stream.receive_some(100):
        pass


async def _refused(port: int) -> bool:
    try:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
    except OSError:
        return True
    await stream.aclose()
    return False


class TestDown:
    async def test_down_refuses_connections_until_up(self, emulator: Emulator) -> None:
        """Down closes the port (connects are refused); up listens on the same port again."""
        emulator.set_faults(Faults(down=True))
        assert await _refused(emulator.port)
        emulator.set_faults(Faults())
        with trio.fail_after(5):
            while await _refused(emulator.port):
                await trio.sleep(0.01)

    async def test_down_resets_open_connections(self, emulator: Emulator) -> None:
        """Going down resets keep-alive connections that are already open."""
        stream = await trio.open_tcp_stream("127.0.0.1", emulator.port)
        async with stream:
            with trio.fail_after(5):
                while emulator.stats().connections == 0:
                    await trio.sleep(0.01)
            emulator.set_faults(Faults(down=True))
            with pytest.raises(trio.BrokenResourceError), trio.fail_after(5):
                await _read_to_end(stream)

    async def test_down_for_over_http(self, emulator: Emulator, http: httpx.AsyncClient) -> None:
        """Down with down_for over the admin API answers first, then comes back by itself."""
        answer = await http.post("/_emulator/faults", json={"down": True, "down_for": 0.3})
        assert answer.status_code == 200
        assert answer.json()["down"] is True
        assert await _refused(emulator.port)
        with trio.fail_after(5):
            while await _refused(emulator.port):
                await trio.sleep(0.02)
        assert emulator.faults == Faults()

    async def test_start_down(self) -> None:
        """An emulator can start down, with down_for, and come up later on its port."""
        async with open_emulator(faults=Faults(down=True, down_for=0.2)) as emu:
            assert emu.port != 0
            assert await _refused(emu.port)
            with trio.fail_after(5):
                while await _refused(emu.port):
                    await trio.sleep(0.02)


class TestDeliveryRecordApi:
    async def test_every_accepted_submission_is_listed(
        self, http: httpx.AsyncClient, emulator: Emulator, report: Report
    ) -> None:
        """GET /_emulator/deliveries lists each accepted submission, resends included, with
        the SHA-256 of its body; refused ones are not deliveries."""
        wsjf = report()
        changed = dict(wsjf, sn="OTHER")
        for body in (encode(wsjf), encode(wsjf), encode(changed), b"nonsense"):
            await http.post("/api/Report/WSJF", content=body, headers=JSON)
        page = (await http.get("/_emulator/deliveries")).json()
        assert page["next_after"] is None
        rows = page["deliveries"]
        assert [row["seq"] for row in rows] == [1, 2, 3]
        assert {row["report_id"] for row in rows} == {wsjf["id"]}
        assert rows[0]["sha256"] == hashlib.sha256(encode(wsjf)).hexdigest()
        assert rows[0]["sha256"] == rows[1]["sha256"] != rows[2]["sha256"]
        assert [row["status"] for row in rows] == [200, 200, 200]
        assert [d.seq for d in emulator.deliveries()] == [1, 2, 3]
        assert emulator.delivery_count() == 3

    async def test_pages_follow_the_cursor(
        self, http: httpx.AsyncClient, emulator: Emulator, report: Report
    ) -> None:
        """?after=N&limit=M pages through the record; next_after is the next cursor."""
        for _ in range(5):
            await http.post("/api/Report/WSJF", content=encode(report()), headers=JSON)
        first = (await http.get("/_emulator/deliveries?limit=2")).json()
        assert [row["seq"] for row in first["deliveries"]] == [1, 2]
        assert first["next_after"] == 2
        rest = (await http.get("/_emulator/deliveries?after=2&limit=10")).json()
        assert [row["seq"] for row in rest["deliveries"]] == [3, 4, 5]
        assert rest["next_after"] is None
        assert [d.seq for d in emulator.deliveries(after=3)] == [4, 5]

    @pytest.mark.parametrize("query", ["after=-1", "limit=0", "limit=10001", "after=x"])
    async def test_bad_cursor_is_400(self, http: httpx.AsyncClient, query: str) -> None:
        """A malformed or out-of-range cursor or limit is a 400 with a message."""
        answer = await http.get(f"/_emulator/deliveries?{query}")
        assert answer.status_code == 400
        assert "limit" in answer.json()["Message"]

    async def test_reset_after_store_is_recorded_unanswered(self, report: Report) -> None:
        """A report stored and then reset is a delivery whose status is 0 (never answered)."""
        async with open_emulator(token=TOKEN, faults=Faults(reset_after_store=1.0), seed=3) as emu:
            async with httpx.AsyncClient(base_url=emu.url, headers=AUTH, timeout=5.0) as client:
                with pytest.raises(httpx.TransportError):
                    await client.post("/api/Report/WSJF", content=encode(report()), headers=JSON)
            (delivery,) = emu.deliveries()
        assert delivery.status == 0
