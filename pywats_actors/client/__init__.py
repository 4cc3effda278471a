"""The WATS HTTP client: submit reports, ask the server's version, ping it.

Usage::

    from pywats_actors.client import WatsClientSettings, open_wats_client, WatsError

    settings = WatsClientSettings(base_url="https://acme.wats.com", token=token)
    async with open_wats_client(settings) as wats:
        try:
            accepted = await wats.submit_report(report)
        except WatsError as exc:
            if not exc.retryable:
                ...  # set the report aside with str(exc)

Each call is one attempt. The outcome is a result value or one error of a documented tree
(drawn in :mod:`pywats_actors.client._errors`)::

    WatsError
    ├── WatsResponseError: ReportRejected, WatsAuthError, WatsNotFound, WatsThrottled,
    │                      WatsServerError, WatsUnexpectedAnswer
    └── WatsTransportError: WatsConnectError (WatsTLSError), WatsTimeout, WatsConnectionLost,
                            WatsProtocolError
"""

from __future__ import annotations

from ._client import WatsClient as WatsClient
from ._client import open_wats_client as open_wats_client
from ._errors import ReportRejected as ReportRejected
from ._errors import WatsAuthError as WatsAuthError
from ._errors import WatsConnectError as WatsConnectError
from ._errors import WatsConnectionLost as WatsConnectionLost
from ._errors import WatsError as WatsError
from ._errors import WatsNotFound as WatsNotFound
from ._errors import WatsProtocolError as WatsProtocolError
from ._errors import WatsResponseError as WatsResponseError
from ._errors import WatsServerError as WatsServerError
from ._errors import WatsThrottled as WatsThrottled
from ._errors import WatsTimeout as WatsTimeout
from ._errors import WatsTLSError as WatsTLSError
from ._errors import WatsTransportError as WatsTransportError
from ._errors import WatsUnexpectedAnswer as WatsUnexpectedAnswer
from ._results import ReportAccepted as ReportAccepted
from ._results import ServerPing as ServerPing
from ._retry_after import RETRY_AFTER_LIMIT as RETRY_AFTER_LIMIT
from ._retry_after import parse_retry_after as parse_retry_after
from ._settings import WatsClientSettings as WatsClientSettings
from ._settings import normalize_base_url as normalize_base_url

__all__ = [
    "RETRY_AFTER_LIMIT",
    "ReportAccepted",
    "ReportRejected",
    "ServerPing",
    "WatsAuthError",
    "WatsClient",
    "WatsClientSettings",
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
    "normalize_base_url",
    "open_wats_client",
    "parse_retry_after",
]
