"""The demo's verdict counts every delivery the server saw, not distinct ids."""

from __future__ import annotations

import httpx
import trio

from pywats_actors.emulator import open_emulator
from pywats_actors.node._demo import _Tally, _verdict

from ..._reports import built_report

TOKEN = "demo-verdict-token"


def _report(n: int) -> tuple[str, bytes]:
    body, report_id = built_report(n)
    return report_id, body


async def _deliver(url: str, bodies: list[bytes]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        for body in bodies:
            answer = await client.post(
                "/api/Report/WSJF",
                content=body,
                headers={"Authorization": f"Basic {TOKEN}", "Content-Type": "application/json"},
            )
            assert answer.status_code == 200, answer.text


def _tally(ids: list[str]) -> _Tally:
    tally = _Tally()
    tally.reports = set(ids)
    tally.uploaded = set(ids)
    tally.uploads = len(ids)
    return tally


class TestDemoVerdict:
    async def test_each_report_once_is_a_success(self) -> None:
        """Two reports delivered once each give no problem."""
        (a, body_a), (b, body_b) = _report(1), _report(2)
        async with open_emulator(token=TOKEN) as emu:
            with trio.fail_after(30):
                await _deliver(emu.url, [body_a, body_b])
            stats = emu.stats()
        assert _verdict(_tally([a, b]), stats.ids, stats.accepted, stats.duplicates) == []

    async def test_a_report_delivered_twice_fails_the_verdict(self) -> None:
        """The same id sent twice (one copy stored) is a failure, although every id arrived."""
        (a, body_a), (b, body_b) = _report(1), _report(2)
        async with open_emulator(token=TOKEN) as emu:
            with trio.fail_after(30):
                await _deliver(emu.url, [body_a, body_b, body_a])
            stats = emu.stats()
        assert sorted(stats.ids) == sorted([a, b])  # distinct ids alone look perfect
        problems = _verdict(_tally([a, b]), stats.ids, stats.accepted, stats.duplicates)
        assert "the server received 1 report(s) more than once" in problems
        assert "the server received 3 deliveries for 2 reports" in problems

    async def test_a_missing_report_fails_the_verdict(self) -> None:
        """A report the node made that the server never saw is a failure."""
        (a, body_a), (b, _) = _report(1), _report(2)
        async with open_emulator(token=TOKEN) as emu:
            with trio.fail_after(30):
                await _deliver(emu.url, [body_a])
            stats = emu.stats()
        problems = _verdict(_tally([a, b]), stats.ids, stats.accepted, stats.duplicates)
        assert "1 report(s) never reached the server" in problems

    def test_the_node_reporting_an_upload_twice_fails_the_verdict(self) -> None:
        """Two upload events for one report are counted, not folded into a set."""
        tally = _tally(["x"])
        tally.uploads = 2
        assert _verdict(tally, ["x"], 1, 0) == ["the node reported 2 uploads of 1 reports"]
