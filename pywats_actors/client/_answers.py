"""Turning whatever came back from the server into a result value or a :class:`WatsError`.

Pure functions of the status, a few headers (``content-type``, ``retry-after`` and
``location``: :data:`ANSWER_HEADERS`, looked up by lower-case name) and a size-capped body, so
that every branch can be tested without a network; the client calls them with what httpx gave
it.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx
import msgspec

from ._errors import (
    ReportRejected,
    WatsAuthError,
    WatsConnectError,
    WatsConnectionLost,
    WatsError,
    WatsNotFound,
    WatsProtocolError,
    WatsResponseError,
    WatsServerError,
    WatsThrottled,
    WatsTimeout,
    WatsTLSError,
    WatsTransportError,
    WatsUnexpectedAnswer,
)
from ._results import ReportAccepted, ServerPing
from ._retry_after import parse_retry_after

__all__ = [
    "ANSWER_HEADERS",
    "accepted_or_error",
    "error_for_status",
    "ping_or_error",
    "server_message",
    "transport_error",
    "version_or_error",
]

ANSWER_HEADERS = ("content-type", "retry-after", "location")
"""The only headers of an answer that the classification reads."""

_MESSAGE_LENGTH = 500
_MESSAGE_KEYS = ("Message", "message", "error", "errors", "detail", "title", "ExceptionMessage")
_json = msgspec.json.Decoder()
_compact = msgspec.json.Encoder()
_HTML_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
_FRACTION_DIGITS = re.compile(r"(\.\d{6})\d+")
_NOT_JSON: Any = object()  # what a body that is not JSON decodes to

_STATUS_CLASSES: Mapping[int, type[WatsResponseError]] = {
    401: WatsAuthError,
    403: WatsAuthError,
    404: WatsNotFound,
    405: WatsNotFound,
    410: WatsNotFound,
    408: WatsThrottled,
    409: WatsThrottled,
    425: WatsThrottled,
    429: WatsThrottled,
}


def _shorten(text: str) -> str:
    text = _SPACE.sub(" ", text).strip()
    if len(text) > _MESSAGE_LENGTH:
        return text[: _MESSAGE_LENGTH - 1] + "…"
    return text


def _describe_body(body: bytes, content_type: str, truncated: bool) -> str:
    kind = content_type.split(";", 1)[0].strip() or "no content type"
    size = f"more than {len(body)}" if truncated else str(len(body))
    return f"{kind} body of {size} bytes"


def server_message(body: bytes, content_type: str) -> str | None:
    """What the server said in an answer body, shortened to one readable line, or ``None``.

    JSON bodies give their ``Message``/``message``/``error``/``errors``/``detail`` member (or a
    bare JSON string); HTML pages give their title; anything else gives its text.
    """
    if not body.strip():
        return None
    head = body.lstrip()[:1]
    if head in (b"{", b"[", b'"'):
        try:
            decoded = _json.decode(body)
        except msgspec.DecodeError:
            pass
        else:
            return _message_from_json(decoded)
    if head == b"<" or "html" in content_type.lower():
        match = _HTML_TITLE.search(body, 0, 65536)
        found = match.group(1) if match else body[:4096]
        text = _HTML_TAG.sub(" ", found.decode("utf-8", "replace"))
        return f"HTML page: {_shorten(text)}" if text.strip() else "an HTML page"
    return _shorten(body[:4096].decode("utf-8", "replace")) or None


def _message_from_json(decoded: Any) -> str | None:
    if isinstance(decoded, str):
        return _shorten(decoded) or None
    if isinstance(decoded, dict):
        for key in _MESSAGE_KEYS:
            value = decoded.get(key)
            if isinstance(value, str) and value.strip():
                return _shorten(value)
            if value:
                return _shorten(_compact.encode(value).decode())
    return _shorten(_compact.encode(decoded).decode()) if decoded not in (None, {}, []) else None


def error_for_status(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    truncated: bool,
    report_id: str | None,
) -> WatsError:
    """The error for an answer whose status is not 2xx."""
    content_type = headers.get("content-type", "")
    message = server_message(body, content_type)
    retry_after = parse_retry_after(headers.get("retry-after"))
    cls = _STATUS_CLASSES.get(status)
    detail: str | None = None
    if cls is None:
        if 500 <= status <= 599:
            cls = WatsServerError
        elif 400 <= status <= 499:
            cls = ReportRejected
        else:
            cls = WatsUnexpectedAnswer
            location = headers.get("location")
            detail = f"redirected to {location}" if location else f"status {status}"
    return cls(
        detail,
        report_id=report_id,
        status_code=status,
        server_message=message,
        retry_after=retry_after,
    )


def _unexpected(
    status: int, detail: str, body: bytes, content_type: str, truncated: bool, report_id: str | None
) -> WatsUnexpectedAnswer:
    return WatsUnexpectedAnswer(
        f"{detail} ({_describe_body(body, content_type, truncated)})",
        report_id=report_id,
        status_code=status,
        server_message=None if truncated else server_message(body, content_type),
    )


def _decoded_json(body: bytes) -> Any:
    try:
        return _json.decode(body)
    except msgspec.DecodeError:
        return _NOT_JSON


def accepted_or_error(
    status: int, headers: Mapping[str, str], body: bytes, truncated: bool, report_id: str
) -> ReportAccepted | WatsError:
    """Classify the answer to a report submission."""
    if not 200 <= status <= 299:
        return error_for_status(status, headers, body, truncated, report_id)
    content_type = headers.get("content-type", "")
    if truncated:
        return _unexpected(status, "a huge answer", body, content_type, truncated, report_id)
    result = _decoded_json(body) if body else _NOT_JSON
    if isinstance(result, list) and result:
        result = result[0]
    if not isinstance(result, dict):
        return _unexpected(
            status, "no InsertReportResult in the answer", body, content_type, truncated, report_id
        )
    source_id = result.get("ID", result.get("id"))
    if isinstance(source_id, str) and source_id.strip("{}").lower() != report_id:
        return _unexpected(
            status,
            f"the server acknowledged report {source_id!r} instead",
            body,
            content_type,
            truncated,
            report_id,
        )
    server_id = result.get("uuid")
    legacy_id = result.get("Report_ID")
    return ReportAccepted(
        report_id=report_id,
        server_id=server_id if isinstance(server_id, str) else None,
        legacy_report_id=legacy_id if type(legacy_id) is int else None,
        status_code=status,
    )


def version_or_error(
    status: int, headers: Mapping[str, str], body: bytes, truncated: bool
) -> str | WatsError:
    """Classify the answer to ``GET /api/App/Version``: a JSON string."""
    if not 200 <= status <= 299:
        return error_for_status(status, headers, body, truncated, None)
    version = None if truncated else _decoded_json(body)
    if isinstance(version, str) and version.strip():
        return version.strip()
    content_type = headers.get("content-type", "")
    return _unexpected(status, "no version string", body, content_type, truncated, None)


def ping_or_error(
    status: int, headers: Mapping[str, str], body: bytes, truncated: bool
) -> ServerPing | WatsError:
    """Classify the answer to ``GET /api/internal/Client/Ping``."""
    if not 200 <= status <= 299:
        return error_for_status(status, headers, body, truncated, None)
    answer = None if truncated else _decoded_json(body)
    if isinstance(answer, dict) and isinstance(name := answer.get("ServerName"), str):
        return ServerPing(server_name=name, server_time=_parse_time(answer.get("ServerTime")))
    content_type = headers.get("content-type", "")
    return _unexpected(status, "no ServerName in the answer", body, content_type, truncated, None)


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    # .NET writes seven fractional digits; Python reads at most six
    text = _FRACTION_DIGITS.sub(r"\1", text)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def transport_error(exc: httpx.HTTPError, report_id: str | None) -> WatsTransportError:
    """The error for an httpx failure that left us without a complete answer."""
    detail = str(exc) or None
    if isinstance(exc, httpx.TimeoutException):
        phase = {
            httpx.ConnectTimeout: "connect",
            httpx.PoolTimeout: "pool",
            httpx.WriteTimeout: "write",
        }.get(type(exc), "read")
        return WatsTimeout(detail, phase=phase, report_id=report_id)
    if isinstance(exc, httpx.ConnectError):
        tls = _ssl_cause(exc)
        if tls is not None:
            return WatsTLSError(
                str(tls) or detail,
                certificate_invalid=isinstance(tls, ssl.SSLCertVerificationError),
                report_id=report_id,
            )
        return WatsConnectError(detail, report_id=report_id)
    if isinstance(exc, httpx.ProxyError | httpx.UnsupportedProtocol):
        return WatsConnectError(detail, report_id=report_id)
    if isinstance(exc, httpx.NetworkError):
        return WatsConnectionLost(detail, report_id=report_id)
    if isinstance(exc, httpx.RemoteProtocolError) and "disconnected" in (detail or ""):
        return WatsConnectionLost(detail, report_id=report_id)
    return WatsProtocolError(detail, report_id=report_id)
