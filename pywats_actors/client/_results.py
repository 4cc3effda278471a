"""What the WATS client returns when a call succeeds."""

from __future__ import annotations

from datetime import datetime

import msgspec

__all__ = ["ReportAccepted", "ServerPing"]


class ReportAccepted(msgspec.Struct, frozen=True, kw_only=True):
    """The server took the report: it answered 2xx with an ``InsertReportResult``.

    Attributes:
        report_id: the report's id (the GUID we sent, in canonical lower-case form).
        server_id: the server's destination id (``uuid`` in its answer), when it gave one.
        legacy_report_id: the server's integer ``Report_ID``, when it gave one.
        status_code: the 2xx status of the answer.
    """

    report_id: str
    server_id: str | None = None
    legacy_report_id: int | None = None
    status_code: int = 200


class ServerPing(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to ``GET /api/internal/Client/Ping``.

    Attributes:
        server_name: the name the server reports for itself.
        server_time: the server's clock (timezone-aware when the server gave a zone), or
            ``None`` if it sent no parsable time. The official client warns when it differs from
            ours by more than five minutes.
    """

    server_name: str
    server_time: datetime | None = None
