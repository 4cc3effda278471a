"""The uplink: the server monitor (the single authority on the server's state, ``_server_monitor``),
the uploader (N concurrent uploads from the spool, with the retry policy and circuit breaker,
``_uploader``) and the batching of sent marks (``_sent_marks``). This module gathers their names.

Outcome of one upload attempt, by error class (``docs/reliability.md``):

=====================================  ==========================================================
accepted (2xx)                         spool: sent (recorded in batches, see ``_sent_marks``); the
                                       breaker records a success
rejected (400, 413, 415, 422, ...)     spool: rejected, with the server's message, kept for an
                                       operator; the server is healthy
401, 403                               claim released (no attempt burned); server state
                                       ``auth_failed``; every upload waits until the monitor sees
                                       a working token (after a config reload)
404, 405, 410                          claim released; state ``not_found`` (a wrong base URL)
429 (and 408, 409, 425)                spool: retry after max(backoff, Retry-After); not a
                                       breaker failure when the server said how long to wait
5xx, odd answers, network errors       spool: retry after full-jitter backoff; breaker failure;
                                       a network error also makes the monitor check at once
cancelled (shutdown)                   claim released: the report stays pending, same id
=====================================  ==========================================================
"""

from __future__ import annotations

from ._server_monitor import ServerLink as ServerLink
from ._server_monitor import ServerState as ServerState
from ._server_monitor import ServerStateChanged as ServerStateChanged
from ._server_monitor import run_server_monitor as run_server_monitor
from ._uploader import BreakerChanged as BreakerChanged
from ._uploader import MarkFailed as MarkFailed
from ._uploader import ReportRejectedByServer as ReportRejectedByServer
from ._uploader import ReportUploaded as ReportUploaded
from ._uploader import UploadFailed as UploadFailed
from ._uploader import UploadQueue as UploadQueue
from ._uploader import run_uploader as run_uploader

__all__ = [
    "BreakerChanged",
    "MarkFailed",
    "ReportRejectedByServer",
    "ReportUploaded",
    "ServerLink",
    "ServerState",
    "ServerStateChanged",
    "UploadFailed",
    "UploadQueue",
    "run_server_monitor",
    "run_uploader",
]
