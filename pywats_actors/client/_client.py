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
URL and timeouts prepared once, and reads the answer with a size cap (``_exchange``); nothing
else is allocated per call beyond what httpx itself needs. With ``separate_process=True`` that
exchange happens in a helper process (``_process``), and only the classification stays here.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TypeVar

import httpx

from supervisors import ChildSpec

from ..report import Report, encode_report
from ._answers import accepted_or_error, ping_or_error, version_or_error
from ._errors import WatsError
from ._exchange import Answer, Exchange, HttpExchange, Route
from ._results import ReportAccepted, ServerPing
from ._settings import WatsClientSettings, normalize_base_url

__all__ = ["WatsClient", "open_http_exchange", "open_wats_client"]

_T = TypeVar("_T")


class WatsClient:
    """A connection to one WATS server. Get one from :func:`open_wats_client`.

    All methods are safe to call concurrently from many tasks; at most
    ``settings.max_connections`` requests are on the wire at once, the rest wait for a pooled
    connection (up to ``pool_timeout``).
    """

    def __init__(
        self,
        settings: WatsClientSettings,
        exchange: Exchange,
        process_spec: Callable[[str], ChildSpec] | None = None,
    ) -> None:
        self._settings = settings
        self._exchange = exchange
        self._process_spec = process_spec
        self._base_url = normalize_base_url(settings.base_url)

    def upload_process_spec(self, id: str = "upload-process") -> ChildSpec | None:
        """The upload process as a child for the caller's supervisor, or ``None``.

        Only a client opened with ``separate_process=True, supervise_process=False`` has one;
        its uploads wait for the process until the caller's supervisor runs this child.
        """
        return self._process_spec(id) if self._process_spec is not None else None

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
        answer = await self._exchange("submit", data, canonical)
        outcome = accepted_or_error(*answer, canonical)
        if isinstance(outcome, WatsError):
            raise outcome
        return outcome

    async def server_version(self) -> str:
        """The server's version string: ``GET /api/App/Version``.

        Raises:
            WatsError: the server could not be reached or gave no version string.

        Cancellation: safe at any point.
        """
        return await self._get("version", version_or_error)

    async def ping(self) -> ServerPing:
        """The server's name and clock: ``GET /api/internal/Client/Ping``.

        Raises:
            WatsError: the server could not be reached or gave no ping answer.

        Cancellation: safe at any point.
        """
        return await self._get("ping", ping_or_error)

    async def _get(
        self,
        route: Route,
        classify: Callable[[int, Mapping[str, str], bytes, bool], _T | WatsError],
    ) -> _T:
        outcome = classify(*await self._exchange(route, None, None))
        if isinstance(outcome, WatsError):
            raise outcome
        return outcome


class _Split:
    """Submissions through one exchange, the other routes through another."""

    def __init__(self, *, submit: Exchange, other: Exchange) -> None:
        self._submit = submit
        self._other = other

    async def __call__(self, route: Route, body: bytes | None, report_id: str | None) -> Answer:
        exchange = self._submit if route == "submit" else self._other
        return await exchange(route, body, report_id)


@asynccontextmanager
async def open_wats_client(
    settings: WatsClientSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    separate_process: bool = False,
    supervise_process: bool = True,
) -> AsyncIterator[WatsClient]:
    """Open a pooled connection set to the server *settings* names.

    Args:
        settings: where the server is, the token, timeouts and pool limits.
        transport: an httpx transport to use instead of the network (tests, proxies); only
            with ``separate_process=False``.
        separate_process: do the HTTP work of submissions (httpx, TLS, sockets) in a helper
            process of its own (:mod:`pywats_actors.client._process`), which takes it off this
            process's core; results and errors are the same. The process starts with the
            first submission and is restarted if it dies. ``server_version`` and ``ping``
            (rare) stay in this process.
        supervise_process: with ``separate_process``, the client runs a small supervisor of
            its own for the process (restarts with backoff, never gives up). ``False`` leaves
            that to the caller: put :meth:`WatsClient.upload_process_spec` in its supervision
            tree (the node puts it under its uplink supervisor, so that restart policy lives in
            one place).

    Yields:
        A :class:`WatsClient`; its connections (and its helper process) are closed when the
        block exits.

    Nothing is sent on entry: the first call opens the first connection.
    """
    if separate_process:
        if transport is not None:
            raise ValueError("a transport cannot be used with separate_process=True")
        from ._process import open_process_exchange

        async with (
            open_http_exchange(settings) as local,
            open_process_exchange(settings, supervise=supervise_process) as remote,
        ):
            spec = None if supervise_process else remote.child_spec
            yield WatsClient(settings, _Split(submit=remote, other=local), spec)
        return
    async with open_http_exchange(settings, transport=transport) as exchange:
        yield WatsClient(settings, exchange)


@asynccontextmanager
async def open_http_exchange(
    settings: WatsClientSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[HttpExchange]:
    """The httpx side of a client: a pooled transport and the exchange that uses it."""
    limits = httpx.Limits(
        max_connections=settings.max_connections,
        max_keepalive_connections=min(settings.max_keepalive_connections, settings.max_connections),
        keepalive_expiry=settings.keepalive_expiry,
    )
    verify = settings.verify_tls
    ssl_verify: ssl.SSLContext | bool
    if settings.base_url.strip().lower().startswith("http://") and not settings.trust_env:
        # No TLS on this connection (redirects are not followed): skip loading the system's
        # CA store, which httpx would do for every transport (~50 ms at each start).
        ssl_verify = False
    elif isinstance(verify, str):
        ssl_verify = ssl.create_default_context(cafile=verify)
    else:
        ssl_verify = verify
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
            yield HttpExchange(settings, lambda request: http.send(request, stream=True))
        return
    # Otherwise requests go straight to the pooled transport: the client's own layers (auth,
    # redirects, cookies, event hooks) do nothing for us and cost CPU on every upload.
    pooled = transport or httpx.AsyncHTTPTransport(
        verify=ssl_verify, http2=settings.http2, limits=limits, trust_env=False
    )
    async with pooled:
        yield HttpExchange(settings, pooled.handle_async_request)
