"""The WATS client against a real server on loopback: every outcome, classified."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from email.utils import formatdate
from typing import Any

import msgspec
import pytest
import trio

from pywats_actors._http_server import Disconnect, Request, Response
from pywats_actors.client import (
    ReportAccepted,
    ReportRejected,
    ServerPing,
    WatsAuthError,
    WatsClient,
    WatsClientSettings,
    WatsConnectError,
    WatsConnectionLost,
    WatsNotFound,
    WatsProtocolError,
    WatsServerError,
    WatsThrottled,
    WatsTimeout,
    WatsTLSError,
    WatsUnexpectedAnswer,
)
from pywats_actors.emulator import Emulator, Faults, open_emulator

Scripted = Callable[[Any], AbstractAsyncContextManager[str]]
Raw = Callable[[bytes], AbstractAsyncContextManager[str]]
Settings = Callable[..., WatsClientSettings]
Wsjf = Callable[..., tuple[str, bytes]]
OpenClient = Callable[[WatsClientSettings], AbstractAsyncContextManager[WatsClient]]


async def _submit_new(wats: WatsClient, wsjf: Wsjf) -> ReportAccepted:
    report_id, data = wsjf()
    return await wats.submit_wsjf(data, report_id)


class TestSubmit:
    async def test_valid_report_is_accepted(self, wats: WatsClient, wsjf: Wsjf) -> None:
        """A valid report gets a ReportAccepted carrying the server's InsertReportResult."""
        report_id, data = wsjf()
        accepted = await wats.submit_wsjf(data, report_id)
        assert accepted == ReportAccepted(
            report_id=report_id, server_id=report_id, legacy_report_id=1, status_code=200
        )

    async def test_report_reaches_the_server_unchanged(
        self, wats: WatsClient, emulator: Emulator, wsjf: Wsjf
    ) -> None:
        """The bytes stored by the server are exactly the bytes submitted."""
        report_id, data = wsjf()
        await wats.submit_wsjf(data, uuid.UUID(report_id))
        assert emulator.stored_report(report_id) == data

    async def test_request_headers(
        self, open_client: OpenClient, scripted_server: Scripted, client_settings: Settings
    ) -> None:
        """The POST carries Basic auth, JSON content type and the quoted report id as key."""
        seen: list[Request] = []
        report_id = str(uuid.uuid4())

        async def handler(request: Request) -> Response:
            seen.append(request)
            return Response(200, json.dumps({"ID": report_id}).encode())

        async with (
            scripted_server(handler) as url,
            open_client(client_settings(url + "/api")) as wats,
        ):
            await wats.submit_wsjf(b"{}", report_id.upper())
        (request,) = seen
        assert (request.method, request.target) == (b"POST", b"/api/Report/WSJF")
        assert request.headers[b"authorization"] == b"Basic client-test-token"
        assert request.headers[b"content-type"] == b"application/json"
        assert request.headers[b"accept"] == b"application/json"
        assert request.headers[b"idempotency-key"] == f'"{report_id}"'.encode()
        assert request.body == b"{}"

    async def test_report_id_must_be_a_guid(self, wats: WatsClient) -> None:
        """A report id that is not a GUID is a programming error, refused before sending."""
        with pytest.raises(ValueError, match="not a GUID"):
            await wats.submit_wsjf(b"{}", "report-1")

    async def test_repeated_id_is_a_duplicate_not_an_error(
        self, wats: WatsClient, emulator: Emulator, wsjf: Wsjf
    ) -> None:
        """Submitting the same id twice succeeds both times; the server keeps one report."""
        report_id, data = wsjf()
        first = await wats.submit_wsjf(data, report_id)
        second = await wats.submit_wsjf(data, report_id)
        assert first.legacy_report_id == second.legacy_report_id
        stats = emulator.stats()
        assert (stats.accepted, stats.duplicates, stats.ids) == (2, 1, [report_id])

    async def test_connections_are_pooled(
        self, wats: WatsClient, emulator: Emulator, wsjf: Wsjf
    ) -> None:
        """Sequential submissions reuse one keep-alive connection."""
        for _ in range(10):
            await _submit_new(wats, wsjf)
        assert emulator.stats().connections == 1

    async def test_concurrency_is_bounded_by_the_pool(
        self, open_client: OpenClient, emulator: Emulator, wsjf: Wsjf, client_settings: Settings
    ) -> None:
        """Many concurrent submissions share at most max_connections connections."""
        settings = client_settings(emulator.url, max_connections=3, max_keepalive_connections=3)
        async with open_client(settings) as wats, trio.open_nursery() as nursery:
            for _ in range(20):
                nursery.start_soon(_submit_new, wats, wsjf)
        stats = emulator.stats()
        assert stats.accepted == 20
        assert stats.connections <= 3


class TestSubmitReport:
    async def test_report_object_is_encoded_and_sent(
        self, wats: WatsClient, emulator: Emulator, wsjf: Wsjf
    ) -> None:
        """submit_report encodes a Report model and sends it under its own id."""
        from pywats_actors.report import decode_report

        report_id, data = wsjf()
        accepted = await wats.submit_report(decode_report(data))
        assert accepted.report_id == report_id
        assert emulator.stats().ids == [report_id]


class TestRejected:
    async def test_invalid_report_is_rejected_with_the_servers_message(
        self, wats: WatsClient, wsjf: Wsjf
    ) -> None:
        """A report the server refuses is ReportRejected, not retryable, with its message."""
        report_id, data = wsjf(sn=12345)
        with pytest.raises(ReportRejected) as caught:
            await wats.submit_wsjf(data, report_id)
        error = caught.value
        assert (error.status_code, error.report_id, error.retryable) == (400, report_id, False)
        assert error.server_message is not None
        assert "$.sn" in error.server_message

    async def test_malformed_json_is_rejected(self, wats: WatsClient) -> None:
        """Bytes that are not JSON are rejected by the server as a bad report."""
        with pytest.raises(ReportRejected, match="not valid WSJF"):
            await wats.submit_wsjf(b'{"id": ', str(uuid.uuid4()))


class TestAuthentication:
    async def test_wrong_token(
        self, open_client: OpenClient, emulator: Emulator, client_settings: Settings, wsjf: Wsjf
    ) -> None:
        """A wrong token is a WatsAuthError: not retryable, the uploads should pause."""
        async with open_client(client_settings(emulator.url, token="wrong")) as wats:
            with pytest.raises(WatsAuthError) as caught:
                await _submit_new(wats, wsjf)
        assert caught.value.status_code == 401
        assert not caught.value.retryable

    async def test_wrong_token_on_version(
        self, open_client: OpenClient, emulator: Emulator, client_settings: Settings
    ) -> None:
        """The version call is authenticated too."""
        async with open_client(client_settings(emulator.url, token="wrong")) as wats:
            with pytest.raises(WatsAuthError):
                await wats.server_version()


class TestNotFound:
    async def test_wrong_base_url(
        self, open_client: OpenClient, emulator: Emulator, client_settings: Settings
    ) -> None:
        """A base URL with a wrong path gives WatsNotFound, which says to check the URL."""
        async with open_client(client_settings(emulator.url + "/wats")) as wats:
            with pytest.raises(WatsNotFound, match="check the base URL") as caught:
                await wats.submit_wsjf(b"{}", str(uuid.uuid4()))
        assert caught.value.status_code == 404
        assert not caught.value.retryable


class TestThrottled:
    async def test_429_with_delay_seconds(
        self, wats: WatsClient, emulator: Emulator, wsjf: Wsjf
    ) -> None:
        """A 429 is WatsThrottled, retryable, with its Retry-After in seconds."""
        emulator.set_faults(Faults(throttle=1.0, retry_after="7"))
        with pytest.raises(WatsThrottled) as caught:
            await _submit_new(wats, wsjf)
        assert (caught.value.status_code, caught.value.retry_after) == (429, 7.0)
        assert caught.value.retryable

    async def test_429_with_http_date(
        self, wats: WatsClient, emulator: Emulator, wsjf: Wsjf
    ) -> None:
        """A Retry-After given as an HTTP-date becomes the seconds until then."""
        when = formatdate(time.time() + 60, usegmt=True)
        emulator.set_faults(Faults(throttle=1.0, retry_after=when))
        with pytest.raises(WatsThrottled) as caught:
            await _submit_new(wats, wsjf)
        assert caught.value.retry_after == pytest.approx(60, abs=2)

    async def test_429_with_garbage_retry_after(
        self, wats: WatsClient, emulator: Emulator, wsjf: Wsjf
    ) -> None:
        """An unusable Retry-After leaves retry_after unset: the caller's own backoff applies."""
        emulator.set_faults(Faults(throttle=1.0, retry_after="later, maybe"))
        with pytest.raises(WatsThrottled) as caught:
            await _submit_new(wats, wsjf)
        assert caught.value.retry_after is None


class TestServerErrors:
    @pytest.mark.parametrize(("fault", "status"), [("error_500", 500), ("error_503", 503)])
    async def test_5xx(
        self, wats: WatsClient, emulator: Emulator, wsjf: Wsjf, fault: str, status: int
    ) -> None:
        """A 5xx is a retryable WatsServerError carrying the server's message."""
        emulator.set_faults(msgspec.convert({fault: 1.0}, Faults))
        report_id, data = wsjf()
        with pytest.raises(WatsServerError) as caught:
            await wats.submit_wsjf(data, report_id)
        error = caught.value
        assert (error.status_code, error.report_id, error.retryable) == (status, report_id, True)
        assert error.server_message

    async def test_503_carries_retry_after(
        self, wats: WatsClient, emulator: Emulator, wsjf: Wsjf
    ) -> None:
        """A 503's Retry-After is honoured like a 429's."""
        emulator.set_faults(Faults(error_503=1.0, retry_after="3"))
        with pytest.raises(WatsServerError) as caught:
            await _submit_new(wats, wsjf)
        assert caught.value.retry_after == 3.0

    async def test_html_error_page(
        self, open_client: OpenClient, scripted_server: Scripted, client_settings: Settings
    ) -> None:
        """A proxy's HTML error page is summarised by its title."""

        async def handler(request: Request) -> Response:
            page = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
            return Response(502, page, content_type=b"text/html")

        async with scripted_server(handler) as url, open_client(client_settings(url)) as wats:
            with pytest.raises(WatsServerError) as caught:
                await wats.submit_wsjf(b"{}", str(uuid.uuid4()))
        assert caught.value.server_message == "HTML page: 502 Bad Gateway"


class TestUnexpectedAnswers:
    async def test_html_200(self, wats: WatsClient, emulator: Emulator, wsjf: Wsjf) -> None:
        """A 200 with a login page is not an acceptance: WatsUnexpectedAnswer, retryable."""
        emulator.set_faults(Faults(html_200=1.0))
        with pytest.raises(WatsUnexpectedAnswer) as caught:
            await _submit_new(wats, wsjf)
        assert caught.value.status_code == 200
        assert caught.value.retryable
        assert "text/html" in str(caught.value)

    @pytest.mark.parametrize("body", [b"", b"OK", b"null", b"\x00\xff\x00"])
    async def test_2xx_without_result(
        self,
        open_client: OpenClient,
        scripted_server: Scripted,
        client_settings: Settings,
        body: bytes,
    ) -> None:
        """An empty, plain-text, null or binary 2xx body is an unexpected answer."""

        async def handler(request: Request) -> Response:
            return Response(200, body, content_type=b"text/plain")

        async with scripted_server(handler) as url, open_client(client_settings(url)) as wats:
            with pytest.raises(WatsUnexpectedAnswer):
                await wats.submit_wsjf(b"{}", str(uuid.uuid4()))

    async def test_huge_body(
        self, open_client: OpenClient, scripted_server: Scripted, client_settings: Settings
    ) -> None:
        """A body beyond max_answer_bytes is not kept, and the answer is called unexpected."""

        async def handler(request: Request) -> Response:
            return Response(200, b"[" + b"0," * (1 << 20) + b"0]")

        async with (
            scripted_server(handler) as url,
            open_client(client_settings(url, max_answer_bytes=65536)) as wats,
        ):
            with pytest.raises(WatsUnexpectedAnswer, match="more than 65536 bytes"):
                await wats.submit_wsjf(b"{}", str(uuid.uuid4()))

    async def test_huge_chunked_body(
        self, open_client: OpenClient, raw_server: Raw, client_settings: Settings
    ) -> None:
        """A huge body without a Content-Length (chunked) is capped the same way."""
        chunk = b"x" * 4096
        reply = (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + (b"1000\r\n" + chunk + b"\r\n") * 64
            + b"0\r\n\r\n"
        )
        async with (
            raw_server(reply) as url,
            open_client(client_settings(url, max_answer_bytes=65536)) as wats,
        ):
            with pytest.raises(WatsUnexpectedAnswer, match="more than 65536 bytes"):
                await wats.submit_wsjf(b"{}", str(uuid.uuid4()))

    async def test_redirect_is_not_followed(
        self, open_client: OpenClient, scripted_server: Scripted, client_settings: Settings
    ) -> None:
        """A redirect is reported with its target, never followed with the report."""
        calls = 0

        async def handler(request: Request) -> Response:
            nonlocal calls
            calls += 1
            return Response(302, headers=[(b"location", b"https://sso.example/login")])

        async with scripted_server(handler) as url, open_client(client_settings(url)) as wats:
            with pytest.raises(WatsUnexpectedAnswer, match=r"sso\.example"):
                await wats.submit_wsjf(b"{}", str(uuid.uuid4()))
        assert calls == 1

    async def test_acknowledgement_of_another_report(
        self, open_client: OpenClient, scripted_server: Scripted, client_settings: Settings
    ) -> None:
        """An InsertReportResult naming another report is not taken as ours."""

        async def handler(request: Request) -> Response:
            return Response(200, b'{"ID": "00000000-0000-0000-0000-000000000000"}')

        async with scripted_server(handler) as url, open_client(client_settings(url)) as wats:
            with pytest.raises(WatsUnexpectedAnswer, match="instead"):
                await wats.submit_wsjf(b"{}", str(uuid.uuid4()))


class TestNetworkFailures:
    async def test_connection_refused(
        self, open_client: OpenClient, client_settings: Settings
    ) -> None:
        """Nothing listening is WatsConnectError: retryable, and the report was never sent."""
        async with open_emulator(token="x") as emu:
            url = emu.url
        async with open_client(client_settings(url)) as wats:
            with pytest.raises(WatsConnectError) as caught:
                await wats.submit_wsjf(b"{}", str(uuid.uuid4()))
        assert caught.value.retryable
        assert not caught.value.maybe_delivered

    async def test_server_down(self, wats: WatsClient, emulator: Emulator, wsjf: Wsjf) -> None:
        """A server switched down refuses connections, even after a pooled one worked."""
        await _submit_new(wats, wsjf)
        emulator.set_faults(Faults(down=True))
        with pytest.raises(WatsConnectError):
            await _submit_new(wats, wsjf)
        emulator.set_faults(Faults())
        with trio.fail_after(5):
            while True:
                try:
                    await _submit_new(wats, wsjf)
                    break
                except WatsConnectError:
                    await trio.sleep(0.01)

    async def test_hang_is_a_read_timeout(
        self, open_client: OpenClient, emulator: Emulator, client_settings: Settings, wsjf: Wsjf
    ) -> None:
        """A server that never answers trips the read timeout: WatsTimeout, maybe delivered."""
        emulator.set_faults(Faults(hang=1.0))
        async with open_client(client_settings(emulator.url, read_timeout=0.2)) as wats:
            with pytest.raises(WatsTimeout) as caught:
                await _submit_new(wats, wsjf)
        assert caught.value.phase == "read"
        assert caught.value.maybe_delivered
        assert caught.value.retryable

    async def test_attempt_deadline(
        self, open_client: OpenClient, emulator: Emulator, client_settings: Settings, wsjf: Wsjf
    ) -> None:
        """The whole-attempt deadline bounds a slow answer even when no single read times out."""
        emulator.set_faults(Faults(latency=2.0))
        settings = client_settings(emulator.url, read_timeout=5.0, attempt_timeout=0.2)
        async with open_client(settings) as wats:
            start = trio.current_time()
            with pytest.raises(WatsTimeout) as caught:
                await _submit_new(wats, wsjf)
        assert caught.value.phase == "attempt"
        assert trio.current_time() - start < 1.5

    async def test_reset(self, wats: WatsClient, emulator: Emulator, wsjf: Wsjf) -> None:
        """A connection reset before the answer is WatsConnectionLost; nothing was stored."""
        emulator.set_faults(Faults(reset=1.0))
        with pytest.raises(WatsConnectionLost) as caught:
            await _submit_new(wats, wsjf)
        assert caught.value.maybe_delivered
        assert caught.value.retryable
        assert emulator.stats().ids == []

    async def test_reset_after_store_then_retry(
        self, wats: WatsClient, emulator: Emulator, wsjf: Wsjf
    ) -> None:
        """After an ambiguous reset a retry with the same id succeeds and is a duplicate."""
        report_id, data = wsjf()
        emulator.set_faults(Faults(reset_after_store=1.0))
        with pytest.raises(WatsConnectionLost):
            await wats.submit_wsjf(data, report_id)
        emulator.set_faults(Faults())
        await wats.submit_wsjf(data, report_id)
        stats = emulator.stats()
        assert (stats.ids, stats.duplicates) == ([report_id], 1)

    async def test_tls_to_a_plain_server(
        self, open_client: OpenClient, emulator: Emulator, client_settings: Settings
    ) -> None:
        """https:// to a server that does not speak TLS is a WatsTLSError."""
        url = emulator.url.replace("http://", "https://")
        async with open_client(client_settings(url)) as wats:
            with pytest.raises(WatsTLSError) as caught:
                await wats.server_version()
        assert caught.value.retryable

    async def test_not_http_at_all(
        self, open_client: OpenClient, raw_server: Raw, client_settings: Settings
    ) -> None:
        """A peer that answers with garbage instead of HTTP is a WatsProtocolError."""
        async with (
            raw_server(b"SSH-2.0-OpenSSH_9.2\r\n\r\n") as url,
            open_client(client_settings(url)) as wats,
        ):
            with pytest.raises(WatsProtocolError):
                await wats.submit_wsjf(b"{}", str(uuid.uuid4()))

    async def test_closed_without_answer(
        self, open_client: OpenClient, raw_server: Raw, client_settings: Settings
    ) -> None:
        """A peer that closes without answering is WatsConnectionLost."""
        async with raw_server(b"") as url, open_client(client_settings(url)) as wats:
            with pytest.raises(WatsConnectionLost):
                await wats.submit_wsjf(b"{}", str(uuid.uuid4()))

    async def test_cancellation_is_not_converted(
        self, emulator: Emulator, wats: WatsClient, wsjf: Wsjf
    ) -> None:
        """Cancelling a submission propagates as cancellation, never as a WatsError."""
        emulator.set_faults(Faults(hang=1.0))
        with trio.move_on_after(0.1) as scope:
            await _submit_new(wats, wsjf)
        assert scope.cancelled_caught


class TestVersionAndPing:
    async def test_version(self, wats: WatsClient) -> None:
        """The version call returns the server's version string."""
        assert await wats.server_version() == "2025.3.9.824"

    async def test_ping(self, wats: WatsClient) -> None:
        """Ping returns the server's name and a timezone-aware clock reading."""
        ping = await wats.ping()
        assert isinstance(ping, ServerPing)
        assert ping.server_name == "pywats-emulator"
        assert ping.server_time is not None
        assert ping.server_time.tzinfo is not None

    async def test_dotnet_time_with_seven_digits(
        self, open_client: OpenClient, scripted_server: Scripted, client_settings: Settings
    ) -> None:
        """A .NET timestamp with seven fractional digits is read, not dropped."""

        async def handler(request: Request) -> Response:
            body = b'{"ServerName": "wats", "ServerTime": "2026-11-23T03:11:53.1234567Z"}'
            return Response(200, body)

        async with scripted_server(handler) as url, open_client(client_settings(url)) as wats:
            ping = await wats.ping()
        assert ping.server_time is not None
        assert ping.server_time.microsecond == 123456

    async def test_version_that_is_not_a_string(
        self, open_client: OpenClient, scripted_server: Scripted, client_settings: Settings
    ) -> None:
        """A version answer that is not a JSON string is an unexpected answer."""

        async def handler(request: Request) -> Response | Disconnect:
            return Response(200, b'{"version": 1}')

        async with scripted_server(handler) as url, open_client(client_settings(url)) as wats:
            with pytest.raises(WatsUnexpectedAnswer, match="no version string"):
                await wats.server_version()
            with pytest.raises(WatsUnexpectedAnswer, match="no ServerName"):
                await wats.ping()

    async def test_base_url_is_normalised(
        self, open_client: OpenClient, emulator: Emulator, client_settings: Settings
    ) -> None:
        """A base URL ending in /api/ reaches the same endpoints."""
        async with open_client(client_settings(emulator.url + "/api/")) as wats:
            assert wats.base_url == emulator.url
            assert await wats.server_version()
