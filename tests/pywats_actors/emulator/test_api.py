"""The emulator's WATS API: submit, read back, version, ping, authentication, validation."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from pywats_actors.emulator import EMULATED_VERSION, Emulator, open_emulator

from .conftest import AUTH, TOKEN, encode

Report = Callable[..., dict[str, Any]]
JSON = {"Content-Type": "application/json"}


async def _submit(http: httpx.AsyncClient, body: bytes, **headers: str) -> httpx.Response:
    return await http.post("/api/Report/WSJF", content=body, headers={**JSON, **headers})


class TestSubmit:
    async def test_valid_report_gets_insert_report_result(
        self, http: httpx.AsyncClient, report: Report
    ) -> None:
        """A valid report is answered 200 with InsertReportResult: ID, uuid and Report_ID."""
        wsjf = report()
        answer = await _submit(http, encode(wsjf))
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.json() == {"ID": wsjf["id"], "uuid": wsjf["id"], "Report_ID": 1}

    async def test_stored_report_reads_back_unchanged(
        self, http: httpx.AsyncClient, report: Report
    ) -> None:
        """GET /api/Report/Wsjf/{id} returns exactly the bytes that were submitted."""
        body = encode(report())
        report_id = json.loads(body)["id"]
        await _submit(http, body)
        answer = await http.get(f"/api/Report/Wsjf/{report_id.upper()}?detailLevel=7")
        assert (answer.status_code, answer.content) == (200, body)

    async def test_unknown_report_is_404(self, http: httpx.AsyncClient) -> None:
        """Reading an id never stored is a 404."""
        answer = await http.get(f"/api/Report/Wsjf/{uuid.uuid4()}")
        assert answer.status_code == 404

    async def test_read_back_needs_a_guid(self, http: httpx.AsyncClient) -> None:
        """Reading back something that is not a GUID is a 400."""
        assert (await http.get("/api/Report/Wsjf/latest")).status_code == 400

    @pytest.mark.parametrize(
        "path", ["/api/report/wsjf", "/API/REPORT/WSJF", "/api/Report/Wsjf/", "/Api/rePort/wSjF"]
    )
    async def test_paths_are_case_insensitive(
        self, http: httpx.AsyncClient, report: Report, path: str
    ) -> None:
        """Routes match in any letter case, as on the real server."""
        answer = await http.post(path, content=encode(report()), headers=JSON)
        assert answer.status_code == 200

    async def test_duplicate_replaces_and_counts(
        self, http: httpx.AsyncClient, emulator: Emulator, report: Report
    ) -> None:
        """A repeated id replaces the stored report, keeps its number, and counts a duplicate."""
        first = report()
        await _submit(http, encode(first))
        changed = dict(first, sn="SN-CHANGED")
        answer = await _submit(http, encode(changed))
        assert answer.json()["Report_ID"] == 1
        stats = emulator.stats()
        assert (stats.accepted, stats.duplicates, stats.ids) == (2, 1, [first["id"]])
        stored = emulator.stored_report(first["id"])
        assert stored is not None
        assert json.loads(stored)["sn"] == "SN-CHANGED"

    async def test_matching_idempotency_key(self, http: httpx.AsyncClient, report: Report) -> None:
        """An Idempotency-Key equal to the report id is accepted, quoted or bare."""
        wsjf = report()
        quoted = await _submit(http, encode(wsjf), **{"Idempotency-Key": f'"{wsjf["id"]}"'})
        bare = await _submit(http, encode(wsjf), **{"Idempotency-Key": wsjf["id"].upper()})
        assert (quoted.status_code, bare.status_code) == (200, 200)

    async def test_mismatched_idempotency_key(
        self, http: httpx.AsyncClient, emulator: Emulator, report: Report
    ) -> None:
        """An Idempotency-Key that is not the report id is a 400: a client bug, caught early."""
        answer = await _submit(http, encode(report()), **{"Idempotency-Key": f'"{uuid.uuid4()}"'})
        assert answer.status_code == 400
        assert "Idempotency-Key" in answer.json()["Message"]
        assert emulator.stats().ids == []


class TestValidation:
    async def test_malformed_json_names_the_place(
        self, http: httpx.AsyncClient, emulator: Emulator
    ) -> None:
        """Bytes that are not JSON are a 400 whose message says where, and count as rejected."""
        answer = await _submit(http, b'{"type": "T", "id": ')
        assert answer.status_code == 400
        assert "not valid WSJF" in answer.json()["Message"]
        assert answer.json()["Errors"][0]["Path"] == "$"
        assert emulator.stats().rejected == 1

    async def test_wrong_type_names_the_json_path(
        self, http: httpx.AsyncClient, report: Report
    ) -> None:
        """A value of the wrong JSON type is a 400 naming its JSON path."""
        answer = await _submit(http, encode(report(sn=12345)))
        assert answer.status_code == 400
        assert "$.sn" in answer.json()["Message"]

    async def test_nested_error_names_the_json_path(
        self, http: httpx.AsyncClient, report: Report
    ) -> None:
        """An error deep in the step tree is reported with its full path."""
        wsjf = report()
        wsjf["root"]["steps"][0]["numericMeas"][0]["compOp"] = "NOT_AN_OP"
        answer = await _submit(http, encode(wsjf))
        assert answer.status_code == 400
        assert "$.root.steps[0].numericMeas[0].compOp" in answer.json()["Message"]

    async def test_rule_violation_lists_every_problem(
        self, http: httpx.AsyncClient, emulator: Emulator, report: Report
    ) -> None:
        """A report that decodes but breaks WSJF rules is a 400 listing each problem's path."""
        wsjf = report(sn="", pn="")
        answer = await _submit(http, encode(wsjf))
        assert answer.status_code == 400
        paths = {error["Path"] for error in answer.json()["Errors"]}
        assert {"$.sn", "$.pn"} <= paths
        assert emulator.stats().ids == []

    async def test_json_content_type_is_required(
        self, http: httpx.AsyncClient, report: Report
    ) -> None:
        """A body sent as anything but application/json is a 415."""
        answer = await http.post(
            "/api/Report/WSJF", content=encode(report()), headers={"Content-Type": "text/xml"}
        )
        assert answer.status_code == 415


class TestAuthentication:
    @pytest.mark.parametrize(
        "authorization",
        [None, "Basic wrong", f"Bearer {TOKEN}", "Basic", f"basic{TOKEN}"],
    )
    async def test_missing_or_wrong_token_is_401(
        self, emulator: Emulator, report: Report, authorization: str | None
    ) -> None:
        """Without exactly 'Basic <token>' every /api route answers 401."""
        headers = {} if authorization is None else {"Authorization": authorization}
        async with httpx.AsyncClient(base_url=emulator.url, headers=headers) as client:
            submit = await _submit(client, encode(report()))
            version = await client.get("/api/App/Version")
        assert (submit.status_code, version.status_code) == (401, 401)
        assert emulator.stats().unauthorized == 2

    async def test_scheme_is_case_insensitive(self, emulator: Emulator) -> None:
        """The auth scheme matches in any case, as RFC 9110 says."""
        async with httpx.AsyncClient(base_url=emulator.url) as client:
            answer = await client.get(
                "/api/App/Version", headers={"Authorization": f"BASIC {TOKEN}"}
            )
        assert answer.status_code == 200

    async def test_no_token_configured_accepts_any(self) -> None:
        """An emulator started without a token accepts any non-empty Basic token."""
        async with open_emulator() as emu, httpx.AsyncClient(base_url=emu.url) as client:
            ok = await client.get("/api/App/Version", headers={"Authorization": "Basic anything"})
            refused = await client.get("/api/App/Version")
        assert (ok.status_code, refused.status_code) == (200, 401)


class TestOtherRoutes:
    async def test_version_is_a_json_string(self, http: httpx.AsyncClient) -> None:
        """GET /api/App/Version answers a JSON string."""
        answer = await http.get("/api/App/Version")
        assert answer.json() == EMULATED_VERSION

    async def test_ping(self, http: httpx.AsyncClient) -> None:
        """GET /api/internal/Client/Ping answers the server name and its UTC time."""
        answer = (await http.get("/api/internal/Client/Ping")).json()
        assert answer["ServerName"] == "pywats-emulator"
        assert answer["ServerTime"].endswith("Z")

    async def test_unknown_path_is_404(self, http: httpx.AsyncClient) -> None:
        """A path the server does not have is a 404 with a message."""
        answer = await http.get("/api/Nothing/Here")
        assert answer.status_code == 404
        assert "Message" in answer.json()

    async def test_wrong_method_is_405(self, http: httpx.AsyncClient) -> None:
        """A known path with the wrong method is a 405 naming the allowed method."""
        answer = await http.get("/api/Report/WSJF")
        assert (answer.status_code, answer.headers["allow"]) == (405, "POST")
        answer = await http.delete(f"/api/Report/Wsjf/{uuid.uuid4()}")
        assert (answer.status_code, answer.headers["allow"]) == (405, "GET")


class TestSqliteStore:
    async def test_reports_survive_a_restart(self, tmp_path: Path, report: Report) -> None:
        """With a store file, reports accepted before a restart can be read after it."""
        store = tmp_path / "emulator.db"
        wsjf = report()
        async with (
            open_emulator(token=TOKEN, store=store) as emu,
            httpx.AsyncClient(base_url=emu.url, headers=AUTH) as client,
        ):
            assert (await _submit(client, encode(wsjf))).status_code == 200
        async with (
            open_emulator(token=TOKEN, store=store) as emu,
            httpx.AsyncClient(base_url=emu.url, headers=AUTH) as client,
        ):
            answer = await client.get(f"/api/Report/Wsjf/{wsjf['id']}")
            again = await _submit(client, encode(wsjf))
            stats = emu.stats()
        assert answer.content == encode(wsjf)
        assert again.json()["Report_ID"] == 1
        assert (stats.ids, stats.duplicates) == ([wsjf["id"]], 1)
