"""The WATS side of the emulator: routes, authentication, strict validation, faults, statistics.

Routes (matched case-insensitively, as the real server does; a query string is ignored)::

    POST /api/Report/WSJF             submit a report  -> 200 InsertReportResult | 400 | 415
    GET  /api/Report/Wsjf/{id}        read one back    -> 200 WSJF | 404
    GET  /api/App/Version             -> 200 "<version>"
    GET  /api/internal/Client/Ping    -> 200 {"ServerName", "ServerTime"}
    GET  /_emulator/stats             admin: the statistics
    GET  /_emulator/count             admin: {"stored": n, "deliveries": m}, cheap to poll
    GET  /_emulator/deliveries        admin: the delivery record, paged (?after=N&limit=M)
    GET  /_emulator/faults            admin: the faults in force and the seed
    POST /_emulator/faults            admin: replace the faults (and optionally reseed)

Every ``/api`` route wants ``Authorization: Basic <token>``; the admin routes want the admin
token the same way. Faults apply to ``/api`` routes only, so the admin API stays usable while the
emulator misbehaves (except ``down``, which takes the whole port away).
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final
from urllib.parse import parse_qs

import msgspec
import trio

from .._http_server import HANG, RESET, Disconnect, Request, Response
from ..report import ReportDecodeError, decode_report, validate
from ._faults import Fault, FaultDice, Faults
from ._store import Delivery, ReportStore

__all__ = [
    "EMULATED_VERSION",
    "DeliveryPage",
    "EmulatorStats",
    "FaultsUpdate",
    "WatsEmulatorApp",
]

EMULATED_VERSION: Final = "2025.3.9.824"
"""The server version the emulator reports (the minimum pyWATS asks for)."""

SERVER_NAME: Final = "pywats-emulator"
_MAX_PROBLEMS_IN_MESSAGE: Final = 5
_SUBMIT: Final = b"/api/report/wsjf"
_JSON: Final = b"application/json; charset=utf-8"
_HTML_PAGE: Final = (
    b"<!DOCTYPE html><html><head><title>Sign in to continue</title></head>"
    b"<body><h1>Sign in</h1><form method='post'><input name='user'></form></body></html>"
)


class EmulatorStats(msgspec.Struct, frozen=True, kw_only=True):
    """What the emulator has seen since it started.

    Attributes:
        connections: TCP connections accepted (admin connections included).
        requests: ``/api`` requests received (admin requests are not counted).
        accepted: reports stored, duplicates included (a ``reset_after_store`` fault counts:
            the report was stored although its sender never heard so).
        rejected: submissions refused as malformed or invalid (400, 415).
        duplicates: accepted reports whose id was already stored (they replaced it).
        unauthorized: requests refused for a missing or wrong token (injected 401s excluded).
        faults: injected faults by kind (the values of :class:`Fault`).
        ids: every stored report id, in order of first arrival; with a SQLite store this
            includes reports stored before a restart.
        seed: the seed of the fault dice.
    """

    connections: int
    requests: int
    accepted: int
    rejected: int
    duplicates: int
    unauthorized: int
    faults: dict[str, int]
    ids: list[str]
    seed: int


class FaultsUpdate(Faults, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The admin API's fault record: :class:`Faults` plus the dice's ``seed``.

    In ``POST /_emulator/faults`` a ``seed`` restarts the random sequence from it; without one
    the sequence goes on.
    """

    seed: int | None = None


class DeliveryPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of the delivery record (``GET /_emulator/deliveries``).

    Attributes:
        deliveries: the deliveries after the cursor asked for, oldest first.
        next_after: the ``after`` of the next page; ``None`` on the last page.
    """

    deliveries: list[Delivery]
    next_after: int | None


DELIVERY_PAGE_LIMIT: Final = 10_000
"""The most deliveries on one page of ``GET /_emulator/deliveries``."""
_DELIVERY_PAGE_DEFAULT: Final = 1000

_FAULT_FIELDS: Final = Faults.__struct_fields__
_faults_decoder: Final = msgspec.json.Decoder(FaultsUpdate)
_encoder: Final = msgspec.json.Encoder()


def faults_of(update: Faults) -> Faults:
    """The plain :class:`Faults` in *update* (without its seed)."""
    return Faults(**{name: getattr(update, name) for name in _FAULT_FIELDS})


def _message(status: int, message: str, **extra: object) -> Response:
    return Response(status, _encoder.encode({"Message": message, **extra}))


def _basic_token(request: Request) -> bytes | None:
    value = request.headers.get(b"authorization")
    if value is None:
        return None
    scheme, _, token = value.strip().partition(b" ")
    token = token.strip()
    if scheme.lower() != b"basic" or not token:
        return None
    return token


def _canonical_id(text: str) -> str | None:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


class WatsEmulatorApp:
    """Answers requests the way a WATS server would (give or take the injected faults).

    Args:
        store: where accepted reports go.
        token: the only token accepted on ``/api`` routes; ``None`` accepts any non-empty one.
        admin_token: the token of the admin routes; ``None`` leaves them open.
        dice: the fault dice in force.
        on_faults: called with new faults set over the admin API (the server acts on ``down``).
    """

    def __init__(
        self,
        *,
        store: ReportStore,
        token: str | None,
        admin_token: str | None,
        dice: FaultDice,
        on_faults: Callable[[Faults, int | None], None],
    ) -> None:
        self.store = store
        self.dice = dice
        self._token = None if token is None else token.encode("ascii")
        self._admin_token = None if admin_token is None else admin_token.encode("ascii")
        self._on_faults = on_faults
        self.connections = 0
        self._requests = 0
        self._accepted = 0
        self._rejected = 0
        self._duplicates = 0
        self._unauthorized = 0
        self._faults = dict.fromkeys((fault.value for fault in Fault), 0)
        self._routes: dict[tuple[bytes, bytes], Callable[[Request], Response]] = {
            (b"GET", b"/api/app/version"): self._version,
            (b"GET", b"/api/internal/client/ping"): self._ping,
        }

    def stats(self) -> EmulatorStats:
        """A snapshot of the statistics."""
        return EmulatorStats(
            connections=self.connections,
            requests=self._requests,
            accepted=self._accepted,
            rejected=self._rejected,
            duplicates=self._duplicates,
            unauthorized=self._unauthorized,
            faults=dict(self._faults),
            ids=self.store.ids(),
            seed=self.dice.seed,
        )

    async def handle(self, request: Request) -> Response | Disconnect:
        """Answer one request."""
        path = request.target.partition(b"?")[0].lower().rstrip(b"/")
        if path.startswith(b"/_emulator/"):
            return self._admin(request, path)
        self._requests += 1
        fault, delay = self.dice.roll()
        reset_after_store = fault is Fault.RESET_AFTER_STORE
        if fault is Fault.REJECT and not (request.method == b"POST" and path == _SUBMIT):
            fault = None  # only a submission can be refused
        if delay:
            await trio.sleep(delay)
        if fault is not None:
            self._faults[fault.value] += 1
            if fault is not Fault.RESET_AFTER_STORE:
                return self._injected(fault)
        response = self._route(request, path, answered=not reset_after_store)
        return RESET if reset_after_store else response

    def _injected(self, fault: Fault) -> Response | Disconnect:
        retry_after = self.dice.faults.retry_after
        wait = [(b"retry-after", retry_after.encode("ascii"))] if retry_after else None
        if fault is Fault.UNAUTHORIZED:
            return _message(401, "Authorization has been denied for this request.")
        if fault is Fault.THROTTLE:
            return Response(429, b'{"Message":"Too many requests."}', headers=wait)
        if fault is Fault.ERROR_500:
            return _message(500, "An error has occurred.")
        if fault is Fault.ERROR_503:
            return Response(503, b'{"Message":"Service unavailable."}', headers=wait)
        if fault is Fault.HTML_200:
            return Response(200, _HTML_PAGE, content_type=b"text/html; charset=utf-8")
        if fault is Fault.HANG:
            return HANG
        if fault is Fault.REJECT:
            return _message(400, "Injected rejection: the server's own rules refused this report.")
        return RESET

    def _route(self, request: Request, path: bytes, *, answered: bool) -> Response:
        if request.method == b"POST" and path == _SUBMIT:
            if not self._authorized(request, self._token):
                self._unauthorized += 1
                return _message(401, "Authorization has been denied for this request.")
            return self._submit(request, answered=answered)
        handler = self._routes.get((request.method, path))
        if handler is None:
            if path.startswith(b"/api/report/wsjf/") and request.method == b"GET":
                handler = self._fetch
            else:
                return self._no_route(request, path)
        if not self._authorized(request, self._token):
            self._unauthorized += 1
            return _message(401, "Authorization has been denied for this request.")
        return handler(request)

    def _no_route(self, request: Request, path: bytes) -> Response:
        routes = [*self._routes, (b"POST", _SUBMIT)]  # a submission is routed by _route
        allowed = [method for method, route in routes if route == path]
        if path.startswith(b"/api/report/wsjf/"):
            allowed = [b"GET"]
        if allowed:
            return Response(
                405,
                _encoder.encode(
                    {
                        "Message": f"The requested resource does not support "
                        f"http method '{request.method.decode('latin-1')}'."
                    }
                ),
                headers=[(b"allow", b", ".join(allowed))],
            )
        return _message(404, f"No HTTP resource was found at {path.decode('latin-1')!r}.")

    def _authorized(self, request: Request, expected: bytes | None) -> bool:
        token = _basic_token(request)
        if token is None:
            return False
        return expected is None or hmac.compare_digest(token, expected)

    def _submit(self, request: Request, *, answered: bool) -> Response:
        content_type = request.headers.get(b"content-type", b"")
        if content_type.partition(b";")[0].strip().lower() != b"application/json":
            self._rejected += 1
            return _message(415, "Content-Type must be application/json.")
        try:
            report = decode_report(request.body)
        except ReportDecodeError as exc:
            self._rejected += 1
            return _message(
                400,
                f"The report is not valid WSJF: {exc.message} (at {exc.path}).",
                Errors=[{"Path": exc.path, "Message": exc.message}],
            )
        problems = validate(report)
        if problems:
            self._rejected += 1
            shown = "; ".join(f"{p.path}: {p.message}" for p in problems[:_MAX_PROBLEMS_IN_MESSAGE])
            more = len(problems) - _MAX_PROBLEMS_IN_MESSAGE
            return _message(
                400,
                f"The report is invalid: {shown}" + (f" (and {more} more)" if more > 0 else ""),
                Errors=[{"Path": p.path, "Message": p.message} for p in problems],
            )
        report_id = _canonical_id(str(report.id))
        if report_id is None:
            self._rejected += 1
            return _message(400, f"The report id {str(report.id)!r} is not a GUID (at $.id).")
        key = request.headers.get(b"idempotency-key")
        if key is not None and _idempotency_id(key) != report_id:
            self._rejected += 1
            return _message(
                400,
                f"Idempotency-Key {key.decode('latin-1')} does not match report id {report_id}.",
            )
        stored = self.store.put(report_id, request.body)
        self.store.record(report_id, request.body, 200 if answered else 0)
        self._accepted += 1
        if stored.receive_count > 1:
            self._duplicates += 1
        return Response(
            200,
            b'{"ID":"%s","uuid":"%s","Report_ID":%d}'
            % (report_id.encode(), report_id.encode(), stored.number),
        )

    def _fetch(self, request: Request) -> Response:
        path = request.target.partition(b"?")[0].rstrip(b"/")
        text = path.rpartition(b"/")[2].decode("latin-1")
        report_id = _canonical_id(text)
        if report_id is None:
            return _message(400, f"{text!r} is not a report id (a GUID).")
        stored = self.store.get(report_id)
        if stored is None:
            return _message(404, f"No report with id {report_id}.")
        return Response(200, stored.body)

    def _version(self, request: Request) -> Response:
        return Response(200, _encoder.encode(EMULATED_VERSION))

    def _ping(self, request: Request) -> Response:
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return Response(200, _encoder.encode({"ServerName": SERVER_NAME, "ServerTime": now}))

    def _admin(self, request: Request, path: bytes) -> Response:
        if not (self._admin_token is None or self._authorized(request, self._admin_token)):
            return _message(401, "The admin API wants Authorization: Basic <admin token>.")
        if path == b"/_emulator/stats" and request.method == b"GET":
            return Response(200, _encoder.encode(self.stats()))
        if path == b"/_emulator/count" and request.method == b"GET":
            counts = {"stored": self.store.count(), "deliveries": self.store.delivery_count()}
            return Response(200, _encoder.encode(counts))
        if path == b"/_emulator/deliveries" and request.method == b"GET":
            return self._deliveries(request)
        if path == b"/_emulator/faults" and request.method == b"GET":
            return self._faults_answer()
        if path == b"/_emulator/faults" and request.method == b"POST":
            try:
                update = _faults_decoder.decode(request.body)
            except msgspec.ValidationError as exc:
                return _message(400, f"Invalid faults: {exc}.")
            except msgspec.DecodeError as exc:
                return _message(400, f"The faults are not valid JSON: {exc}.")
            if update.down and update.down_for is None:
                return _message(
                    400,
                    "down over the admin API needs down_for (seconds): the admin API goes "
                    "down with the emulator and could not bring it back.",
                )
            self._on_faults(faults_of(update), update.seed)
            answer = self._faults_answer()
            if update.down:  # this connection is the last one standing: close it after answering
                answer.headers = [(b"connection", b"close")]
            return answer
        if path in _ADMIN_PATHS:
            return _message(405, "Method not allowed.")
        return _message(404, f"No admin resource at {path.decode('latin-1')!r}.")

    def delivery_page(self, after: int, limit: int) -> DeliveryPage:
        """Up to *limit* deliveries after the one numbered *after*."""
        rows = self.store.deliveries(after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return DeliveryPage(deliveries=rows, next_after=rows[-1].seq if more else None)

    def _deliveries(self, request: Request) -> Response:
        query = parse_qs(request.target.partition(b"?")[2].decode("latin-1"))
        try:
            after = int(query.get("after", ["0"])[-1])
            limit = int(query.get("limit", [str(_DELIVERY_PAGE_DEFAULT)])[-1])
        except ValueError:
            return _message(400, "after and limit must be whole numbers.")
        if after < 0 or not 1 <= limit <= DELIVERY_PAGE_LIMIT:
            return _message(
                400, f"after must be >= 0 and limit between 1 and {DELIVERY_PAGE_LIMIT}."
            )
        return Response(200, _encoder.encode(self.delivery_page(after, limit)))

    def _faults_answer(self) -> Response:
        faults = self.dice.faults
        update = FaultsUpdate(
            **{name: getattr(faults, name) for name in _FAULT_FIELDS}, seed=self.dice.seed
        )
        return Response(200, _encoder.encode(update))


_ADMIN_PATHS: Final = (
    b"/_emulator/stats",
    b"/_emulator/count",
    b"/_emulator/deliveries",
    b"/_emulator/faults",
)


def _idempotency_id(key: bytes) -> str | None:
    """The GUID in an ``Idempotency-Key``: an RFC 8941 string (quoted) or, leniently, bare."""
    text = key.strip()
    if len(text) >= 2 and text[:1] == b'"' and text[-1:] == b'"':
        text = text[1:-1]
    return _canonical_id(text.decode("latin-1"))
