"""The uplink: the server monitor (the single authority on the server's state) and the
uploader (N concurrent uploads from the spool, with the retry policy and circuit breaker).

Outcome of one upload attempt, by error class (``docs/reliability.md``):

=====================================  ==========================================================
accepted (2xx)                         spool: sent (recorded in batches, see ``_SentMarks``); the
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

import enum
import math
import random as _random
from collections import deque
from collections.abc import Callable, Sequence
from typing import ClassVar, Protocol

import trio
from structlog.typing import FilteringBoundLogger

from .._logging import get_logger
from ..client import (
    ReportAccepted,
    ReportRejected,
    WatsAuthError,
    WatsClient,
    WatsError,
    WatsNotFound,
    WatsThrottled,
    WatsTransportError,
)
from ..config import UploadSection
from ..spool import ClaimedReport, InvalidTransition, SpoolError, UnknownReport
from ._actor import StopSignal, stop_requested_cancels
from ._bus import EventBus, NodeEvent
from ._policy import BreakerState, CircuitBreaker, RateLimiter, RetryBackoff

__all__ = [
    "BreakerChanged",
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


class ServerState(enum.Enum):
    """What the node knows about the WATS server."""

    UNKNOWN = "unknown"
    ONLINE = "online"
    OFFLINE = "offline"
    AUTH_FAILED = "auth_failed"
    NOT_FOUND = "not_found"


class ServerStateChanged(NodeEvent, frozen=True, kw_only=True):
    """The server monitor changed its mind about the server."""

    topic: ClassVar[str] = "server"
    state: str
    previous: str
    detail: str | None = None
    version: str | None = None
    alert: bool = False


class BreakerChanged(NodeEvent, frozen=True, kw_only=True):
    """The upload circuit breaker opened, half-opened or closed."""

    topic: ClassVar[str] = "upload"
    state: str


class ReportUploaded(NodeEvent, frozen=True, kw_only=True):
    """The server accepted a report; it is marked sent in the spool."""

    topic: ClassVar[str] = "upload"
    report_id: str
    attempts: int
    source: str


class ReportRejectedByServer(NodeEvent, frozen=True, kw_only=True):
    """The server refused a report for good; it is kept in the spool as rejected."""

    topic: ClassVar[str] = "upload"
    report_id: str
    status: int | None
    message: str
    source: str


class UploadFailed(NodeEvent, frozen=True, kw_only=True):
    """An attempt failed and will be retried after *retry_in* seconds."""

    topic: ClassVar[str] = "upload"
    report_id: str
    error: str
    retry_in: float | None
    attempts: int


class UploadQueue(Protocol):
    """What the uploader needs from the spool."""

    async def claim(self, limit: int = 1) -> tuple[ClaimedReport, ...]: ...
    async def mark_sent(self, report_id: str, *, answer: str | None = None) -> None: ...
    async def mark_sent_many(
        self, marks: Sequence[tuple[str, str | None]]
    ) -> Sequence[tuple[str, Exception]]: ...
    async def mark_retry(self, report_id: str, *, delay: float, error: str) -> None: ...
    async def mark_rejected(self, report_id: str, *, error: str) -> None: ...
    def release(self, *report_ids: str) -> None: ...


class ServerLink:
    """The state shared by the monitor and the uploader: the current client and server state.

    Only the monitor's methods change :attr:`state`; the uploader reports what it saw with
    :meth:`observed`, and the monitor decides.
    """

    def __init__(self, client: WatsClient, bus: EventBus) -> None:
        self.client = client
        self.bus = bus
        self.state = ServerState.UNKNOWN
        self.detail: str | None = None
        self.version: str | None = None
        self._changed = trio.Event()
        self._check_now = trio.Event()

    def replace_client(self, client: WatsClient) -> None:
        """Use a new client (after a config reload) and have the monitor check it at once."""
        self.client = client
        self.request_check()

    def request_check(self) -> None:
        """Ask the monitor to check the server now instead of at its next interval."""
        self._check_now.set()

    @property
    def usable(self) -> bool:
        """Whether uploads may go: the server works, or has not been checked yet."""
        return self.state in (ServerState.ONLINE, ServerState.UNKNOWN)

    async def wait_usable(self) -> None:
        """Block while the server is offline, refuses the token, or is not found."""
        while not self.usable:
            await self._changed.wait()

    def observed(self, outcome: ReportAccepted | WatsError) -> None:
        """What an upload attempt saw; the monitor owns the conclusion."""
        if isinstance(outcome, ReportAccepted):
            self._set(ServerState.ONLINE, None)
        elif isinstance(outcome, WatsAuthError):
            self._set(ServerState.AUTH_FAILED, str(outcome))
        elif isinstance(outcome, WatsNotFound):
            self._set(ServerState.NOT_FOUND, str(outcome))
        elif isinstance(outcome, WatsTransportError):
            self.request_check()

    def _set(self, state: ServerState, detail: str | None) -> None:
        if state is self.state and detail == self.detail:
            return
        previous = self.state
        self.state, self.detail = state, detail
        self._changed.set()
        self._changed = trio.Event()
        if state is previous:
            return
        alert = state in (ServerState.AUTH_FAILED, ServerState.NOT_FOUND)
        log = get_logger(actor="uplink/server")
        (log.error if alert else log.info)(
            "server state changed", state=state.value, previous=previous.value, detail=detail
        )
        self.bus.publish(
            ServerStateChanged(
                state=state.value,
                previous=previous.value,
                detail=detail,
                version=self.version,
                alert=alert,
            )
        )


async def run_server_monitor(
    link: ServerLink,
    *,
    interval: float = 30.0,
    offline_after: int = 2,
    offline_backoff: RetryBackoff | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Check the server on an interval (sooner when asked) and keep ``link.state`` true.

    Ready at once: a node starts and spools reports whether or not the server is reachable.
    The server is declared offline after *offline_after* consecutive failed checks (one lost
    ping on a flaky network does not stop the uploads), and is then checked with full-jitter
    backoff (up to the interval), so it is seen coming back quickly. A refused token or a wrong
    base URL is known from the first answer.
    """
    backoff = offline_backoff or RetryBackoff(base=0.5, multiplier=2.0, cap=interval)
    task_status.started()
    async with stop_requested_cancels():
        await _monitor(link, interval, offline_after, backoff)


async def _monitor(
    link: ServerLink, interval: float, offline_after: int, backoff: RetryBackoff
) -> None:
    failures = 0
    while True:
        link._check_now = trio.Event()
        try:
            link.version = await link.client.server_version()
        except WatsAuthError as exc:
            link._set(ServerState.AUTH_FAILED, str(exc))
        except WatsNotFound as exc:
            link._set(ServerState.NOT_FOUND, str(exc))
        except WatsError as exc:
            failures += 1
            if failures >= offline_after or not link.usable:
                link._set(ServerState.OFFLINE, str(exc))
        else:
            failures = 0
            link._set(ServerState.ONLINE, None)
        wait = interval if failures == 0 else max(0.1, backoff.delay(failures))
        with trio.move_on_after(wait):
            await link._check_now.wait()


async def run_uploader(
    link: ServerLink,
    queue: UploadQueue,
    policy: UploadSection,
    *,
    work_arrived: Callable[[], trio.Event] | None = None,
    idle_poll: float = 1.0,
    random: Callable[[], float] | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Upload due reports from *queue* with ``policy.concurrency`` workers until cancelled.

    Args:
        link: the shared server state and client.
        queue: the spool.
        policy: the ``[upload]`` settings.
        work_arrived: returns an event set when new reports are enqueued (wakes idle workers
            early); without it idle workers poll every *idle_poll* seconds.
        random: jitter source in ``[0, 1)``, for reproducible tests.

    Stopping: on its supervisor's stop request no new upload starts; uploads in flight finish
    (or are cancelled when the grace period ends).

    Cancellation: in-flight uploads are cancelled and their claims released; the reports stay
    pending with the same id, and the server keeps one copy if an upload had in fact arrived.
    """
    uploader = _Uploader(link, queue, policy, work_arrived, idle_poll, random)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(uploader.stop.watch)
            nursery.start_soon(uploader.sent.run)
            async with trio.open_nursery() as workers:
                for i in range(policy.concurrency):
                    workers.start_soon(uploader.worker, i)
                task_status.started()
            await uploader.sent.flush()
            nursery.cancel_scope.cancel()
    finally:
        uploader.release_batch()
        await uploader.sent.flush_on_the_way_out()


class _SentMarks:
    """Accepted reports, marked sent in the spool in batches.

    An accepted upload is recorded here at once (and logged and published at once); one task
    writes what has gathered in one trip to the spool, while the uploads go on. A report is
    claimed until its mark is committed, so no other upload takes it meanwhile. If the node
    dies before the commit, the report is still pending and is sent again after the restart
    with the same id, and the server keeps one copy: the same outcome as a crash between the
    server's answer and a mark made one at a time.
    """

    _EXIT_WAIT = 5.0

    def __init__(self, queue: UploadQueue, log: FilteringBoundLogger) -> None:
        self.queue = queue
        self.log = log
        self.waiting: list[tuple[str, str | None]] = []
        self.arrived = trio.Event()
        self.writing = trio.Lock()

    def add(self, report_id: str, answer: str | None) -> None:
        self.waiting.append((report_id, answer))
        self.arrived.set()

    async def run(self) -> None:
        while True:
            await self.arrived.wait()
            self.arrived = trio.Event()
            await self.flush()

    async def flush(self) -> None:
        """Write every mark waiting now (and wait for a write already under way)."""
        async with self.writing:
            marks, self.waiting = self.waiting, []
            if not marks:
                return
            try:
                refused = await self.queue.mark_sent_many(marks)
            except SpoolError as exc:
                self.log.warning(
                    "could not record uploads as sent; they will be sent again (the server "
                    "keeps one copy)",
                    reports=len(marks),
                    error=str(exc),
                )
                return
        for report_id, error in refused:
            self.log.warning(
                "report changed by an operator during upload", report_id=report_id, error=str(error)
            )

    async def flush_on_the_way_out(self) -> None:
        """Last chance when the uploader ends, even cancelled: a few seconds, shielded."""
        if self.waiting:
            with trio.CancelScope(shield=True), trio.move_on_after(self._EXIT_WAIT):
                await self.flush()


class _Uploader:
    def __init__(
        self,
        link: ServerLink,
        queue: UploadQueue,
        policy: UploadSection,
        work_arrived: Callable[[], trio.Event] | None,
        idle_poll: float,
        random: Callable[[], float] | None,
    ) -> None:
        self.link = link
        self.queue = queue
        self.policy = policy
        self.work_arrived = work_arrived
        self.idle_poll = idle_poll
        self.random = random
        self.backoff = RetryBackoff(
            base=policy.backoff_base, multiplier=policy.backoff_multiplier, cap=policy.backoff_cap
        )
        self.breaker = CircuitBreaker(
            threshold=policy.breaker_threshold,
            open_for=policy.breaker_open_for,
            max_open=policy.breaker_max_open,
            on_change=self._breaker_changed,
            **({"random": random} if random is not None else {}),
        )
        self.limiter = (
            RateLimiter(policy.max_requests_per_second)
            if policy.max_requests_per_second > 0
            else None
        )
        self.log = get_logger(actor="uplink/uploader")
        self.stop = StopSignal()
        self.batch: deque[ClaimedReport] = deque()
        self.claiming = trio.Lock()
        self.sent = _SentMarks(queue, self.log)

    def _breaker_changed(self, state: BreakerState) -> None:
        self.log.warning("circuit breaker", state=state.value)
        self.link.bus.publish(BreakerChanged(state=state.value))

    async def worker(self, index: int) -> None:
        while not self.stop.requested:
            with self.stop.waiting() as waiting:
                await self.link.wait_usable()
                await self.breaker.acquire()
            if waiting.cancelled_caught:
                return
            try:
                report = await self._next_report()
            except BaseException:
                self.breaker.release()
                raise
            if report is None:
                self.breaker.release()
                await self._idle()
                continue
            await self._upload(report)

    async def _next_report(self) -> ClaimedReport | None:
        """The next due report: from the batch this uploader claimed, or a new batch.

        Claiming a batch (one trip to the spool's thread for several reports) keeps the
        per-report cost down under load; claims not used yet are released when the
        uploader stops.
        """
        if not self.batch:
            async with self.claiming:
                if not self.batch:
                    self.batch.extend(await self.queue.claim(self.policy.concurrency * 2))
        return self.batch.popleft() if self.batch else None

    def release_batch(self) -> None:
        """Give back the claims of this uploader that no upload has taken yet."""
        if self.batch:
            self.queue.release(*(report.report_id for report in self.batch))
            self.batch.clear()

    def _rand(self) -> float:
        return self.random() if self.random is not None else _random.random()

    async def _idle(self) -> None:
        event = self.work_arrived() if self.work_arrived is not None else None
        with self.stop.waiting():
            await self._sleep_until_work(event)

    async def _sleep_until_work(self, event: trio.Event | None) -> None:
        with trio.move_on_after(self.idle_poll):
            if event is not None:
                await event.wait()
            else:
                await trio.sleep_forever()

    async def _upload(self, report: ClaimedReport) -> None:
        # The client enforces the whole-attempt deadline (WatsTimeout, phase "attempt").
        outcome: ReportAccepted | WatsError
        try:
            if self.limiter is not None:
                await self.limiter.acquire()
            try:
                outcome = await self.link.client.submit_wsjf(report.body, report.report_id)
            except WatsError as exc:
                outcome = exc
        except BaseException:  # cancelled: the report stays pending with the same id
            self.breaker.release()
            self.queue.release(report.report_id)
            raise
        await self._record(report, outcome)

    async def _record(self, report: ClaimedReport, outcome: ReportAccepted | WatsError) -> None:
        rid, source = report.report_id, report.source.path
        self.link.observed(outcome)
        log = self.log.bind(report_id=rid, source=source)
        try:
            if isinstance(outcome, ReportAccepted):
                self.breaker.record_success()
                self.sent.add(rid, outcome.server_id)
                log.info("uploaded", attempts=report.attempts + 1)
                self.link.bus.publish(
                    ReportUploaded(report_id=rid, attempts=report.attempts + 1, source=source)
                )
            elif isinstance(outcome, ReportRejected):
                self.breaker.record_success()
                message = outcome.server_message or str(outcome)
                await self.queue.mark_rejected(rid, error=f"{outcome.status_code}: {message}")
                log.warning("rejected by the server", status=outcome.status_code, message=message)
                self.link.bus.publish(
                    ReportRejectedByServer(
                        report_id=rid, status=outcome.status_code, message=message, source=source
                    )
                )
            elif isinstance(outcome, WatsAuthError | WatsNotFound):
                self.breaker.release()
                self.queue.release(rid)
            else:
                await self._retry_later(report, outcome)
        except (UnknownReport, InvalidTransition) as exc:
            log.warning("report changed by an operator during upload", error=str(exc))

    async def _retry_later(self, report: ClaimedReport, error: WatsError) -> None:
        told_to_wait = isinstance(error, WatsThrottled) and error.retry_after is not None
        if told_to_wait:
            self.breaker.release()
        else:
            self.breaker.record_failure()
        delay = self.backoff.delay(
            report.attempts + 1, retry_after=error.retry_after, rand=self._rand()
        )
        if not math.isfinite(delay):
            delay = self.backoff.cap
        await self.queue.mark_retry(report.report_id, delay=delay, error=str(error))
        self.link.bus.publish(
            UploadFailed(
                report_id=report.report_id,
                error=str(error),
                retry_in=delay,
                attempts=report.attempts + 1,
            )
        )
