"""The WATS client's settings: one frozen, validated record.

:class:`WatsClientSettings` is a msgspec Struct, so the node's configuration can embed it and
decode it from TOML with errors that name the exact field. Every timeout is per operation, as in
httpx (connect, each socket read, each socket write, waiting for a pooled connection), plus one
deadline for a whole attempt, because a server that trickles one byte every few seconds never
trips a per-read timeout.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

import msgspec

__all__ = ["WatsClientSettings", "normalize_base_url"]

_Seconds = Annotated[float, msgspec.Meta(gt=0, le=3600)]
_Count = Annotated[int, msgspec.Meta(ge=1, le=1000)]


def normalize_base_url(url: str) -> str:
    """Return the server root that ``/api/...`` routes are appended to.

    As pyWATS does: surrounding whitespace, trailing slashes and one trailing ``/api`` are
    removed, so ``https://acme.wats.com/``, ``https://acme.wats.com/api`` and
    ``https://acme.wats.com/api/`` all give ``https://acme.wats.com``.

    Raises:
        ValueError: the URL is not an absolute ``http`` or ``https`` URL with a host, or it
            carries a query or fragment.
    """
    text = url.strip().rstrip("/")
    if text[-4:].lower() == "/api":
        text = text[:-4].rstrip("/")
    try:
        parts = urlsplit(text)
        port_is_zero = parts.port == 0  # .port raises ValueError on a malformed port
    except ValueError as exc:
        raise ValueError(f"base URL {url!r} is not a valid URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or port_is_zero:
        raise ValueError(f"base URL {url!r} must be an absolute http:// or https:// URL")
    if parts.query or parts.fragment:
        raise ValueError(f"base URL {url!r} must not carry a query or a fragment")
    return text


class WatsClientSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How to reach one WATS server.

    Attributes:
        base_url: the server root (``https://acme.wats.com``); a trailing ``/`` or ``/api`` is
            ignored, see :func:`normalize_base_url`.
        token: the API token from WATS Control Panel, sent as ``Authorization: Basic <token>``.
        connect_timeout: seconds to establish a connection (TCP and TLS).
        read_timeout: seconds to wait for each chunk of the answer.
        write_timeout: seconds to wait for each chunk of the request to be sent.
        pool_timeout: seconds to wait for a free pooled connection.
        attempt_timeout: seconds for one whole request, start to finish.
        max_connections: concurrent connections to the server.
        max_keepalive_connections: idle connections kept open for reuse.
        keepalive_expiry: seconds an idle connection is kept for reuse; keep it below the
            server's own idle timeout so that we never reuse a connection it is closing.
        max_answer_bytes: the largest answer body read; a larger one is an unexpected answer.
        verify_tls: verify the server's certificate (``True``), skip it (``False``, for tests
            only), or the path of a CA bundle file to verify it against.
        http2: offer HTTP/2 (needs the ``h2`` package); HTTP/1.1 otherwise.
        trust_env: honour ``HTTP(S)_PROXY``, ``NO_PROXY`` and ``SSL_CERT_FILE`` from the
            environment; off by default so that a stray proxy variable cannot divert uploads.
    """

    base_url: str
    token: str
    connect_timeout: _Seconds = 5.0
    read_timeout: _Seconds = 30.0
    write_timeout: _Seconds = 30.0
    pool_timeout: _Seconds = 5.0
    attempt_timeout: _Seconds = 90.0
    max_connections: _Count = 4
    max_keepalive_connections: _Count = 4
    keepalive_expiry: _Seconds = 15.0
    max_answer_bytes: Annotated[int, msgspec.Meta(ge=1024, le=1 << 30)] = 1 << 20
    verify_tls: bool | str = True
    http2: bool = False
    trust_env: bool = False

    def __post_init__(self) -> None:
        normalize_base_url(self.base_url)
        if not self.token or self.token != self.token.strip() or "\n" in self.token:
            raise ValueError("token must be non-empty, without surrounding whitespace")
        if not self.token.isascii() or not self.token.isprintable():
            raise ValueError("token must be printable ASCII")

    def __repr__(self) -> str:
        # never let the token reach a log line or a traceback
        return f"WatsClientSettings(base_url={self.base_url!r}, token='***')"
