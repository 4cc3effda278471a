"""The WATS HTTP client: httpx on Trio, one pooled connection set per server.

Usage::

    settings = WatsClientSettings(base_url="https://acme.wats.com", token=token)
    async with open_wats_client(settings) as wats:
        accepted = await wats.submit_report(report)       # or submit_wsjf(data, report_id)
        version = await wats.server_version()

One attempt per call: the client never retries by itself. It classifies every outcome into a
:class:`ReportAccepted` or one error of the tree in :mod:`pywats_actors.client._errors`, and the
uploader decides what to do about it.

The hot path (:meth:`WatsClient.submit_wsjf`) builds one :class:`httpx.Request` from headers,
URL and timeouts prepared once, and reads the answer with a size cap; nothing else is allocated
per call beyond what httpx itself needs.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import httpx
import trio

from .._version import __version__
from ..report import Report, encode_report
from ._answers import accepted_or_error, ping_or_error, transport_error, version_or_error
from ._errors import WatsError, WatsTimeout
from ._results import ReportAccepted, ServerPing
from ._settings import WatsClientSettings, normalize_base_url

__all__ = ["WatsClient", "open_wats_client"]

_T = TypeVar("_T")

SUBMIT_PATH = "/api/Report/WSJF"
VERSION_PATH = "/api/App/Version"
PING_PATH = "/api/internal/Client/Ping"


class WatsClient:
    """A connection to one WATS server. Get one from :func:`open_wats_client`.

    All methods are safe to call concurrently from many tasks; at most
    ``settings.max_connections`` requests are on the wire at once, the rest wait for a pooled
    connection (up to ``pool_timeout``).
    """

    def __init__(
        self,
        settings: WatsClientSettings,
        send: Callable[[httpx.Request], Awaitable[httpx.Response]],
    ) -> None:
        self._settings = settings
        self._send = send
        self._base_url = normalize_base_url(settings.base_url)
        self._submit_url = httpx.URL(self._base_url + SUBMIT_PATH)
        self._version_url = httpx.URL(self._base_url + VERSION_PATH)
        self._ping_url = httpx.URL(self._base_url + PING_PATH)
        common = [
            (b"Authorization", b"Basic " + settings.token.encode("ascii")),
            (b"Accept", b"application/json"),
            (b"User-Agent", f"pywats-actors/{__version__}".encode("ascii")),
        ]
        self._get_headers = common
        self._post_headers = [*common, (b"Content-Type", b"application/json")]
        self._extensions = {
            "timeout": {
                "connect": settings.connect_timeout,
                "read": settings.read_timeout,
                "write": settings.write_timeout,
                "pool": settings.pool_timeout,
            }
        }
        self._attempt_timeout = settings.attempt_timeout
        self._max_answer = settings.max_answer_bytes

    @property
    def base_url(self) -> str:
        """The normalised server root that ``/api/...`` routes are appended to."""
        return self._base_url

    @property
    def settings(self) -> WatsClientSettings:
        """The settings this client was opened with."""
        return self._settings

    async def submit_report(self, report: Report) -> ReportAccepted:
        """Encode *report* as WSJF and submit it; see :meth:`submit_wsjf`."""
        return await self.submit_wsjf(encode_report(report), str(report.id))

    async def submit_wsjf(self, data: bytes, report_id: str | uuid.UUID) -> ReportAccepted:
        """Submit one encoded WSJF report: ``POST /api/Report/WSJF``.

        The request carries ``Idempotency-Key: "<report id>"`` (an RFC 8941 string, as the IETF
        draft specifies). The caller vouches that *data* is the report with that id.

        Args:
            data: the report, encoded as WSJF JSON.
            report_id: the report's GUID; any form :class:`uuid.UUID` accepts.

        Returns:
            The server's acknowledgement.

        Raises:
            ValueError: *report_id* is not a GUID.
            WatsError: every other outcome; see the error tree for what each class means.

        Cancellation: safe at any point; the request may or may not have reached the server,
        so a cancelled submission is an ambiguous outcome, to be retried with the same id.
        """
        key = report_id if isinstance(report_id, str) else str(report_id)
        try:
            canonical = str(uuid.UUID(key))
        except ValueError:
            raise ValueError(f"report id {key!r} is not a GUID") from None
        request = httpx.Request(
            "POST",
            self._submit_url,
            headers=[*self._post_headers, (b"Idempotency-Key", f'"{canonical}"'.encode("ascii"))],
            content=data,
            extensions=self._extensions,
        )
        status, headers, body, truncated = await self._exchange(request, canonical)
        outcome = accepted_or_error(status, headers, body, truncated, canonical)
        if isinstance(outcome, WatsError):
            raise outcome
        return outcome

    async def server_version(self) -> str:
        """The server's version string: ``GET /api/App/Version``.

        Raises:
            WatsError: the server could not be reached or gave no version string.

        Cancellation: safe at any point.
        """
        return await self._get(self._version_url, version_or_error)

    async def ping(self) -> ServerPing:
        """The server's name and clock: ``GET /api/internal/Client/Ping``.

        Raises:
            WatsError: the server could not be reached or gave no ping answer.

        Cancellation: safe at any point.
        """
        return await self._get(self._ping_url, ping_or_error)

    async def _get(
        self, url: httpx.URL, classify: Callable[[int, httpx.Headers, bytes, bool], _T | WatsError]
    ) -> _T:
        request = httpx.Request("GET", url, headers=self._get_headers, extensions=self._extensions)
        status, headers, body, truncated = await self._exchange(request, None)
        outcome = classify(status, headers, body, truncated)
        if isinstance(outcome, WatsError):
            raise outcome
        return outcome

    async def _exchange(
        self, request: httpx.Request, report_id: str | None
    ) -> tuple[int, httpx.Headers, bytes, bool]:
        """Send *request* and read its answer, at most ``max_answer_bytes`` of it."""
        with trio.move_on_after(self._attempt_timeout) as deadline:
            try:
                response = await self._send(request)
                try:
                    body, truncated = await self._read_capped(response)
                finally:
                    await response.aclose()
            except httpx.HTTPError as exc:
                raise transport_error(exc, report_id) from exc
            return response.status_code, response.headers, body, truncated
        assert deadline.cancelled_caught
        raise WatsTimeout(
            f"no complete answer within {self._attempt_timeout:g} s",
            phase="attempt",
            report_id=report_id,
        )

    async def _read_capped(self, response: httpx.Response) -> tuple[bytes, bool]:
        """The body (at most ``max_answer_bytes`` of it) and whether there was more.

        Past the cap the rest is read and dropped rather than abandoned: stopping early would
        leave httpx's stream generators unfinished. A body that never ends is stopped by the
        attempt deadline.
        """
        limit = self._max_answer
        length = response.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) <= limit:
            return await response.aread(), False
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            if size <= limit:
                chunks.append(chunk)
                size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True
        return b"".join(chunks), False


@asynccontextmanager
async def open_wats_client(
    settings: WatsClientSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[WatsClient]:
    """Open a pooled connection set to the server *settings* names.

    Args:
        settings: where the server is, the token, timeouts and pool limits.
        transport: an httpx transport to use instead of the network (tests, proxies).

    Yields:
        A :class:`WatsClient`; its connections are closed when the block exits.

    Nothing is sent on entry: the first call opens the first connection.
    """
    limits = httpx.Limits(
        max_connections=settings.max_connections,
        max_keepalive_connections=min(settings.max_keepalive_connections, settings.max_connections),
        keepalive_expiry=settings.keepalive_expiry,
    )
    verify = settings.verify_tls
    ssl_verify = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
    if settings.trust_env and transport is None:
        # Proxies from the environment need the full client, which mounts proxy transports.
        http = httpx.AsyncClient(
            limits=limits,
            verify=ssl_verify,
            http2=settings.http2,
            follow_redirects=False,
            trust_env=True,
        )
        async with http:
            yield WatsClient(settings, lambda request: http.send(request, stream=True))
        return
    # Otherwise requests go straight to the pooled transport: the client's own layers (auth,
    # redirects, cookies, event hooks) do nothing for us and cost CPU on every upload.
    pooled = transport or httpx.AsyncHTTPTransport(
        verify=ssl_verify, http2=settings.http2, limits=limits, trust_env=False
    )
    async with pooled:
        yield WatsClient(settings, pooled.handle_async_request)
