"""The WATS client's error tree: every way an exchange with the server can fail.

A successful submission is not an error: it returns a :class:`ReportAccepted` value. Everything
else raises one of these, and each class says what the caller should do about it::

    PywatsError
    └── WatsError                     every failed exchange; .report_id .status_code
        │                             .server_message .retryable .retry_after
        ├── WatsResponseError         the server answered with a status that is not success
        │   ├── ReportRejected        400 413 415 422 and other 4xx: the report is bad; dead-letter
        │   ├── WatsAuthError         401 403: the token is missing, wrong or not allowed; pause
        │   ├── WatsNotFound          404 405 410: the base URL (or the endpoint) is wrong; pause
        │   ├── WatsThrottled         429 (and 408 409 425): come back later, after .retry_after
        │   ├── WatsServerError       5xx: the server failed; retry with backoff
        │   └── WatsUnexpectedAnswer  1xx/3xx, or a 2xx that is no WATS answer (an HTML page,
        │                             non-JSON, a huge body): the report may not be stored; retry
        └── WatsTransportError        no complete answer arrived; .maybe_delivered
            ├── WatsConnectError      refused, unreachable, DNS; never sent, so safe to retry
            │   └── WatsTLSError      the TLS handshake failed (a bad certificate is not retryable)
            ├── WatsTimeout           .phase: connect, pool, write, read, or the attempt deadline
            ├── WatsConnectionLost    reset or closed mid-exchange: the outcome is unknown
            └── WatsProtocolError     the server broke HTTP (garbage, bad framing, bad encoding)

``retryable`` answers one question: can sending the *same* request again, unchanged, succeed? It
is true for throttling, server errors, odd answers and every transport error; false for a rejected
report, bad credentials and a wrong URL, which need a person to change something first. Retrying
a report is always safe because the server replaces a report whose id it already has, so a retry
after an ambiguous outcome (``maybe_delivered``) cannot create a duplicate.
"""

from __future__ import annotations

from typing import ClassVar

from .._errors import PywatsError

__all__ = [
    "ReportRejected",
    "WatsAuthError",
    "WatsConnectError",
    "WatsConnectionLost",
    "WatsError",
    "WatsNotFound",
    "WatsProtocolError",
    "WatsResponseError",
    "WatsServerError",
    "WatsTLSError",
    "WatsThrottled",
    "WatsTimeout",
    "WatsTransportError",
    "WatsUnexpectedAnswer",
]


class WatsError(PywatsError):
    """An exchange with the WATS server that did not end in success.

    Attributes:
        report_id: the id of the report being submitted, or ``None`` for other calls.
        status_code: the HTTP status the server answered with, or ``None`` if none arrived.
        server_message: what the server said about it (from its JSON or text body), if anything.
        retry_after: seconds the server asked us to wait (``Retry-After``), if it said.
    """

    _retryable: ClassVar[bool] = True
    _what: ClassVar[str] = "the exchange with the WATS server failed"

    def __init__(
        self,
        detail: str | None = None,
        *,
        report_id: str | None = None,
        status_code: int | None = None,
        server_message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.detail = detail
        self.report_id = report_id
        self.status_code = status_code
        self.server_message = server_message
        self.retry_after = retry_after
        super().__init__(self._describe())

    @property
    def retryable(self) -> bool:
        """Whether sending the same request again, unchanged, can succeed."""
        return self._retryable

    def _describe(self) -> str:
        parts = [f"report {self.report_id}: " if self.report_id else "", self._what]
        if self.status_code is not None:
            parts.append(f" (HTTP {self.status_code})")
        if self.detail:
            parts.append(f": {self.detail}")
        if self.server_message:
            parts.append(f"; the server said: {self.server_message}")
        if self.retry_after is not None:
            parts.append(f"; retry after {self.retry_after:g} s")
        return "".join(parts)


class WatsResponseError(WatsError):
    """The server answered, with a status (or a body) that does not mean success."""

    status_code: int


class ReportRejected(WatsResponseError):
    """The server refused the report itself (400, 413, 415, 422, other 4xx): retrying cannot help.

    The report should be set aside with :attr:`server_message` for a person to read.
    """

    _retryable = False
    _what = "the server rejected the report"


class WatsAuthError(WatsResponseError):
    """401 or 403: the token is missing, wrong, expired or lacks permission.

    Every further request will fail the same way until the configuration changes, so uploads
    should pause and raise an alert rather than spend retries.
    """

    _retryable = False
    _what = "the server refused the credentials"


class WatsNotFound(WatsResponseError):
    """404, 405 or 410: nothing answers at that address; the base URL is almost certainly wrong."""

    _retryable = False
    _what = "no WATS endpoint at this URL (check the base URL)"


class WatsThrottled(WatsResponseError):
    """429 (or 408, 409, 425): the server is alive and asks us to come back later.

    :attr:`retry_after` holds its ``Retry-After`` in seconds when it sent a usable one. A
    throttled answer should not count as a failure towards a circuit breaker.
    """

    _what = "the server asked us to slow down"


class WatsServerError(WatsResponseError):
    """5xx: the server (or a proxy in front of it) failed; a later retry may succeed."""

    _what = "the server failed"


class WatsUnexpectedAnswer(WatsResponseError):
    """An answer that no WATS server gives: a redirect, an HTML page, a non-JSON or huge body.

    A 2xx of this kind does *not* count as accepted: it usually comes from a captive portal, a
    login page or a proxy, and counting it as stored could lose the report. Retrying with the
    same report id is harmless.
    """

    _what = "the server gave an answer that is not a WATS answer"


class WatsTransportError(WatsError):
    """No complete answer arrived: the connection failed, timed out or broke."""

    _what = "the connection to the WATS server failed"
    _maybe_delivered: ClassVar[bool] = True

    @property
    def maybe_delivered(self) -> bool:
        """Whether the server may have received (and stored) the request anyway."""
        return self._maybe_delivered


class WatsConnectError(WatsTransportError):
    """No connection could be made (refused, unreachable, name not resolved): nothing was sent."""

    _what = "could not connect to the WATS server"
    _maybe_delivered = False


class WatsTLSError(WatsConnectError):
    """The TLS handshake failed: a certificate problem, or a server that does not speak TLS.

    A failed certificate verification is not retryable (:attr:`certificate_invalid`); other
    handshake failures are.
    """

    _what = "the TLS handshake with the WATS server failed"

    def __init__(
        self,
        detail: str | None = None,
        *,
        certificate_invalid: bool = False,
        report_id: str | None = None,
    ) -> None:
        self.certificate_invalid = certificate_invalid
        super().__init__(detail, report_id=report_id)

    @property
    def retryable(self) -> bool:
        """False when the certificate failed verification; true for other handshake failures."""
        return not self.certificate_invalid


class WatsTimeout(WatsTransportError):
    """An operation took longer than its timeout.

    :attr:`phase` says which: ``"connect"`` and ``"pool"`` (nothing was sent), ``"write"``,
    ``"read"`` and ``"attempt"`` (the whole-attempt deadline; the server may have the report).
    """

    _what = "the WATS server did not answer in time"

    def __init__(self, detail: str | None = None, *, phase: str, report_id: str | None = None):
        self.phase = phase
        super().__init__(detail, report_id=report_id)

    @property
    def maybe_delivered(self) -> bool:
        """False when the timeout struck before anything was sent (connect, pool)."""
        return self.phase not in ("connect", "pool")

    def _describe(self) -> str:
        prefix = f"report {self.report_id}: " if self.report_id else ""
        suffix = f": {self.detail}" if self.detail else ""
        return f"{prefix}{self._what} ({self.phase} timeout){suffix}"


class WatsConnectionLost(WatsTransportError):
    """The connection was reset or closed before the whole answer arrived: outcome unknown."""

    _what = "the connection to the WATS server was lost mid-exchange"


class WatsProtocolError(WatsTransportError):
    """The server's bytes were not valid HTTP (or not validly encoded)."""

    _what = "the WATS server broke the HTTP protocol"
