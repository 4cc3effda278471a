"""One HTTP exchange with the WATS server: a request out, a size-capped answer back.

An *exchange* is the part of a client call that touches the network. :class:`HttpExchange`
does it with httpx in this process; :mod:`pywats_actors.client._process` does the same exchange
in a process of its own. Either way the caller gets the status, the headers and at most
``max_answer_bytes`` of the body, or a :class:`WatsTransportError`, and classifies the answer
itself (``_answers``), so both paths give the same results and errors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Literal, NamedTuple, Protocol

import httpx
import trio

from .._version import __version__
from ._answers import transport_error
from ._errors import WatsTimeout
from ._settings import WatsClientSettings, normalize_base_url

__all__ = ["Answer", "Exchange", "HttpExchange", "Route"]

Route = Literal["submit", "version", "ping"]

SUBMIT_PATH = "/api/Report/WSJF"
VERSION_PATH = "/api/App/Version"
PING_PATH = "/api/internal/Client/Ping"


class Answer(NamedTuple):
    """What came back: status, headers, the body (capped) and whether it was cut.

    ``headers`` are looked up by lower-case name; they hold at least
    :data:`~pywats_actors.client._answers.ANSWER_HEADERS` when the server sent them.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes
    truncated: bool


class Exchange(Protocol):
    """Sends one request and returns the answer; raises :class:`WatsTransportError`."""

    async def __call__(self, route: Route, body: bytes | None, report_id: str | None) -> Answer:
        """*route* names the request; *body* and *report_id* (canonical) are for ``submit``."""
        ...


class HttpExchange:
    """Exchanges through an httpx transport, with headers, URLs and timeouts prepared once.

    Args:
        settings: the server, the token and the timeouts.
        send: sends one :class:`httpx.Request` and returns a streaming response (a pooled
            transport's ``handle_async_request``, or ``AsyncClient.send(..., stream=True)``).
    """

    def __init__(
        self,
        settings: WatsClientSettings,
        send: Callable[[httpx.Request], Awaitable[httpx.Response]],
    ) -> None:
        self._send = send
        base = normalize_base_url(settings.base_url)
        self._urls = {
            "submit": httpx.URL(base + SUBMIT_PATH),
            "version": httpx.URL(base + VERSION_PATH),
            "ping": httpx.URL(base + PING_PATH),
        }
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

    async def __call__(self, route: Route, body: bytes | None, report_id: str | None) -> Answer:
        """Send the request for *route*; see :class:`Exchange`.

        A ``submit`` carries ``Idempotency-Key: "<report id>"`` (an RFC 8941 string, as the IETF
        draft specifies).
        """
        if route == "submit":
            key = f'"{report_id}"'.encode("ascii")
            request = httpx.Request(
                "POST",
                self._urls["submit"],
                headers=[*self._post_headers, (b"Idempotency-Key", key)],
                content=body or b"",
                extensions=self._extensions,
            )
        else:
            request = httpx.Request(
                "GET", self._urls[route], headers=self._get_headers, extensions=self._extensions
            )
        with trio.move_on_after(self._attempt_timeout) as deadline:
            try:
                response = await self._send(request)
                try:
                    content, truncated = await self._read_capped(response)
                finally:
                    await response.aclose()
            except httpx.HTTPError as exc:
                raise transport_error(exc, report_id) from exc
            return Answer(response.status_code, response.headers, content, truncated)
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
