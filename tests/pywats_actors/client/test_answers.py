"""Classifying answers and transport failures, without a network (pure functions)."""

from __future__ import annotations

import ssl

import httpx
import pytest

from pywats_actors.client import (
    ReportAccepted,
    ReportRejected,
    WatsAuthError,
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
from pywats_actors.client._answers import (
    accepted_or_error,
    error_for_status,
    server_message,
    transport_error,
)

RID = "5f0c6a2e-8d1b-4c7a-9e3f-2b6d4a1c9e70"
JSON = httpx.Headers({"content-type": "application/json"})


class TestServerMessage:
    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (b'{"Message": "processCode 99 is unknown"}', "processCode 99 is unknown"),
            (b'{"message": "lower case"}', "lower case"),
            (b'{"error": "bad"}', "bad"),
            (b'{"errors": {"$.sn": ["required"]}}', '{"$.sn":["required"]}'),
            (b'"a bare JSON string"', "a bare JSON string"),
            (b'{"other": 1}', '{"other":1}'),
            (b"plain   text\nreason", "plain text reason"),
        ],
    )
    def test_message_is_found(self, body: bytes, message: str) -> None:
        """The server's words come from the usual JSON members, a JSON string, or plain text."""
        assert server_message(body, "application/json") == message

    def test_html_page_gives_its_title(self) -> None:
        """An HTML error page is summarised by its title, not dumped."""
        page = b"<html><head><title>502 Bad\n Gateway</title></head><body>" + b"x" * 5000
        assert server_message(page, "text/html") == "HTML page: 502 Bad Gateway"

    def test_html_without_title_gives_its_text(self) -> None:
        """An HTML body without a title is reduced to its text."""
        assert server_message(b"<h1>Oops</h1>", "text/html") == "HTML page: Oops"

    def test_empty_body_gives_none(self) -> None:
        """An empty answer has no message."""
        assert server_message(b"  ", "text/plain") is None

    def test_long_message_is_shortened(self) -> None:
        """A very long message is cut to one readable line."""
        message = server_message(b"x" * 10000, "text/plain")
        assert message is not None
        assert len(message) == 500
        assert message.endswith("…")

    def test_invalid_utf8_does_not_raise(self) -> None:
        """Bytes that are not UTF-8 are replaced, never raised on."""
        assert server_message(b"\xff\xfe bad", "text/plain") == "\ufffd\ufffd bad"


class TestErrorForStatus:
    @pytest.mark.parametrize(
        ("status", "cls", "retryable"),
        [
            (400, ReportRejected, False),
            (413, ReportRejected, False),
            (415, ReportRejected, False),
            (422, ReportRejected, False),
            (418, ReportRejected, False),
            (401, WatsAuthError, False),
            (403, WatsAuthError, False),
            (404, WatsNotFound, False),
            (405, WatsNotFound, False),
            (410, WatsNotFound, False),
            (408, WatsThrottled, True),
            (409, WatsThrottled, True),
            (425, WatsThrottled, True),
            (429, WatsThrottled, True),
            (500, WatsServerError, True),
            (502, WatsServerError, True),
            (503, WatsServerError, True),
            (504, WatsServerError, True),
            (599, WatsServerError, True),
            (301, WatsUnexpectedAnswer, True),
            (304, WatsUnexpectedAnswer, True),
            (101, WatsUnexpectedAnswer, True),
        ],
    )
    def test_every_status_has_a_class(self, status: int, cls: type, retryable: bool) -> None:
        """Each status maps to one error class, which says whether a retry can help."""
        error = error_for_status(status, JSON, b"", False, RID)
        assert type(error) is cls
        assert error.retryable is retryable
        assert error.status_code == status
        assert error.report_id == RID

    def test_retry_after_is_parsed(self) -> None:
        """A Retry-After on any error answer is parsed into seconds."""
        headers = httpx.Headers({"retry-after": "12"})
        assert error_for_status(503, headers, b"", False, None).retry_after == 12.0

    def test_redirect_names_its_target(self) -> None:
        """A redirect says where to, which usually reveals the wrong base URL."""
        headers = httpx.Headers({"location": "https://login.example/sso"})
        error = error_for_status(302, headers, b"", False, RID)
        assert "https://login.example/sso" in str(error)


class TestAcceptedOrError:
    def test_insert_report_result_is_accepted(self) -> None:
        """A 200 with InsertReportResult becomes a ReportAccepted with the server's ids."""
        body = f'{{"ID": "{RID}", "uuid": "{RID}", "Report_ID": 42}}'.encode()
        assert accepted_or_error(200, JSON, body, False, RID) == ReportAccepted(
            report_id=RID, server_id=RID, legacy_report_id=42, status_code=200
        )

    def test_list_wrapped_result_is_accepted(self) -> None:
        """A result wrapped in a list (as pyWATS tolerates) is read from its first element."""
        body = f'[{{"ID": "{RID.upper()}"}}]'.encode()
        outcome = accepted_or_error(201, JSON, body, False, RID)
        assert isinstance(outcome, ReportAccepted)
        assert outcome.status_code == 201

    def test_wrong_typed_members_are_ignored(self) -> None:
        """Members of an unexpected type are dropped, not trusted."""
        outcome = accepted_or_error(200, JSON, b'{"uuid": 5, "Report_ID": true}', False, RID)
        assert outcome == ReportAccepted(report_id=RID)

    @pytest.mark.parametrize(
        "body", [b"", b"OK", b"<html><title>Login</title></html>", b'"done"', b"[]", b"{"]
    )
    def test_answer_without_result_is_not_accepted(self, body: bytes) -> None:
        """A 2xx without an InsertReportResult object is an unexpected answer, never accepted."""
        outcome = accepted_or_error(200, JSON, body, False, RID)
        assert isinstance(outcome, WatsUnexpectedAnswer)
        assert outcome.retryable

    def test_acknowledging_another_report_is_unexpected(self) -> None:
        """A result naming a different report id is not an acknowledgement of ours."""
        other = "00000000-0000-0000-0000-000000000001"
        outcome = accepted_or_error(200, JSON, f'{{"ID": "{other}"}}'.encode(), False, RID)
        assert isinstance(outcome, WatsUnexpectedAnswer)
        assert other in str(outcome)

    def test_truncated_answer_is_unexpected(self) -> None:
        """A body beyond the size cap is an unexpected answer that says it was huge."""
        outcome = accepted_or_error(200, JSON, b"{" * 1024, True, RID)
        assert isinstance(outcome, WatsUnexpectedAnswer)
        assert "more than 1024 bytes" in str(outcome)


def _caused(exc: httpx.HTTPError, cause: BaseException) -> httpx.HTTPError:
    exc.__cause__ = cause
    return exc


class TestTransportError:
    @pytest.mark.parametrize(
        ("exc", "cls", "maybe_delivered"),
        [
            (httpx.ConnectError("refused"), WatsConnectError, False),
            (httpx.ConnectTimeout(""), WatsTimeout, False),
            (httpx.PoolTimeout(""), WatsTimeout, False),
            (httpx.WriteTimeout(""), WatsTimeout, True),
            (httpx.ReadTimeout(""), WatsTimeout, True),
            (httpx.ReadError("reset"), WatsConnectionLost, True),
            (httpx.WriteError("broken pipe"), WatsConnectionLost, True),
            (httpx.RemoteProtocolError("Server disconnected"), WatsConnectionLost, True),
            (httpx.RemoteProtocolError("illegal status line"), WatsProtocolError, True),
            (httpx.DecodingError("bad gzip"), WatsProtocolError, True),
            (httpx.ProxyError("proxy"), WatsConnectError, False),
        ],
    )
    def test_every_failure_has_a_class(
        self, exc: httpx.HTTPError, cls: type, maybe_delivered: bool
    ) -> None:
        """Each httpx failure maps to one transport error, all retryable."""
        error = transport_error(exc, RID)
        assert type(error) is cls
        assert error.retryable
        assert error.maybe_delivered is maybe_delivered
        assert error.status_code is None

    def test_timeout_phase(self) -> None:
        """A timeout says in which phase it struck."""
        error = transport_error(httpx.WriteTimeout(""), None)
        assert isinstance(error, WatsTimeout)
        assert error.phase == "write"

    def test_certificate_failure_is_not_retryable(self) -> None:
        """A certificate that fails verification will fail again: not retryable."""
        exc = _caused(httpx.ConnectError("tls"), ssl.SSLCertVerificationError(1, "bad cert"))
        error = transport_error(exc, RID)
        assert isinstance(error, WatsTLSError)
        assert error.certificate_invalid
        assert not error.retryable

    def test_other_handshake_failure_is_retryable(self) -> None:
        """A handshake failure found deeper in the cause chain is a retryable TLS error."""
        inner = RuntimeError("wrapped")
        inner.__cause__ = ssl.SSLError(1, "wrong version number")
        error = transport_error(_caused(httpx.ConnectError("tls"), inner), RID)
        assert isinstance(error, WatsTLSError)
        assert error.retryable
