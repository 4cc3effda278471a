"""The uploader: N concurrent uploads from the spool, with the retry policy and circuit breaker.

The outcome of each attempt, by error class, is the table in :mod:`._uplink`.
"""

from __future__ import annotations

import math
import random as _random
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import ClassVar, Protocol

import trio

from .._logging import get_logger
from ..client import (
    ReportAccepted,
    ReportRejected,
    WatsAuthError,
    WatsError,
    WatsNotFound,
    WatsServerError,
    WatsThrottled,
    WatsTransportError,
)
from ..config import UploadSection
from ..spool import ClaimedReport, InvalidTransition, UnknownReport
from ._actor import StopSignal
from ._bus import NodeEvent
from ._limit import AdaptiveLimit
from ._policy import BreakerState, CircuitBreaker, RateLimiter, RetryBackoff
from ._sent_marks import MARK_BACKOFF, WRITE_ERRORS, MarkFailed, SentMarks
from ._server_monitor import ServerLink

__all__ = [
    "BreakerChanged",
    "MarkFailed",
    "ReportRejectedByServer",
    "ReportUploaded",
    "UploadFailed",
    "UploadQueue",
    "run_uploader",
]

_LIMIT_LOG_EVERY = 30.0
"""Seconds between log lines about the adaptive concurrency limit."""

_MARK_ATTEMPTS = 5
"""Writes of a retry or rejection to the spool before the report is left pending for later."""


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
    """Upload due reports from *queue* until cancelled, as many at once as the adaptive limit
    allows (``policy.concurrency`` at first, between 1 and ``policy.max_concurrency``).

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
    link.breaker = uploader.breaker  # read by /metrics at scrape time
    try:
        with link.when_online(uploader.breaker.probe_now):
            async with trio.open_nursery() as nursery:
                await nursery.start(uploader.stop.watch)
                nursery.start_soon(uploader.sent.run)
                async with trio.open_nursery() as workers:
                    for i in range(policy.max_concurrency):
                        workers.start_soon(uploader.worker, i)
                    task_status.started()
                await uploader.sent.flush()
                nursery.cancel_scope.cancel()
    finally:
        uploader.release_batch()
        await uploader.sent.flush_on_the_way_out()
        # Set-aside reports that a claim returned stay claimed in the spool: give them back
        # (what is still unrecorded is then sent again by the next uploader, same ids).
        queue.release(*uploader.sent.unrecorded, *uploader.held)
        uploader.log.info(
            "uploader stopped", limit=uploader.limit.slots, highest_limit=uploader.limit.highest
        )


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
        self.sent = SentMarks(queue, self.log, link.bus.publish, random=random)
        self.limit = AdaptiveLimit(
            initial=policy.concurrency,
            maximum=policy.max_concurrency,
            on_change=self._limit_changed,
        )
        self._limit_logged_at = -math.inf
        self.held: set[str] = set()

    def _breaker_changed(self, state: BreakerState) -> None:
        self.log.warning("circuit breaker", state=state.value)
        self.link.bus.publish(BreakerChanged(state=state.value))

    def _limit_changed(self, limit: int) -> None:
        """Log the adaptive limit now and then (it moves by one step often under load)."""
        now = trio.current_time()
        if now - self._limit_logged_at >= _LIMIT_LOG_EVERY:
            self._limit_logged_at = now
            self.log.info("upload concurrency limit", limit=limit, highest=self.limit.highest)

    async def worker(self, index: int) -> None:
        while not self.stop.requested:
            with self.stop.waiting() as waiting:
                await self.sent.wait_recording()
                await self.link.wait_usable()
                await self.limit.acquire()
                try:
                    await self.breaker.acquire()
                except BaseException:
                    self.limit.release()
                    raise
            if waiting.cancelled_caught:
                return
            try:
                try:
                    report = await self._next_report()
                except BaseException:
                    self.breaker.release()
                    raise
                if report is None:
                    self.breaker.release()
                else:
                    await self._upload(report)
            finally:
                self.limit.release()
            if report is None:
                await self._idle()

    async def _next_report(self) -> ClaimedReport | None:
        """The next due report: from the batch this uploader claimed, or a new batch.

        Claiming a batch (one trip to the spool's thread for several reports) keeps the
        per-report cost down under load; claims not used yet are released when the
        uploader stops.
        """
        while True:
            if not self.batch:
                async with self.claiming:
                    if not self.batch:
                        self.batch.extend(await self.queue.claim(self.limit.slots * 2))
            if not self.batch:
                return None
            report = self.batch.popleft()
            if not self._set_aside(report.report_id):
                return report
            # Acknowledged or held after a failed mark (the spool gave its claim back): not
            # uploaded again. It stays claimed until its mark is written or its hold ends.

    def _set_aside(self, report_id: str) -> bool:
        return report_id in self.held or self.sent.holds(report_id)

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
            in_flight, started = self.limit.in_flight, trio.current_time()
            try:
                outcome = await self.link.client.submit_wsjf(report.body, report.report_id)
            except WatsError as exc:
                outcome = exc
        except BaseException:  # cancelled: the report stays pending with the same id
            self.breaker.release()
            self.queue.release(report.report_id)
            raise
        latency = trio.current_time() - started
        if isinstance(outcome, ReportAccepted | ReportRejected):
            self.limit.succeeded(latency, in_flight)
        elif isinstance(outcome, WatsThrottled | WatsServerError | WatsTransportError):
            self.limit.overloaded(latency)
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
                error = f"{outcome.status_code}: {message}"
                if not await self._write_outcome(
                    rid, "rejected", lambda: self.queue.mark_rejected(rid, error=error), 0.0
                ):
                    return
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
        rid = report.report_id
        if not await self._write_outcome(
            rid, "retry", lambda: self.queue.mark_retry(rid, delay=delay, error=str(error)), delay
        ):
            return
        self.link.bus.publish(
            UploadFailed(
                report_id=report.report_id,
                error=str(error),
                retry_in=delay,
                attempts=report.attempts + 1,
            )
        )

    async def _write_outcome(
        self, rid: str, action: str, write: Callable[[], Awaitable[None]], hold_for: float
    ) -> bool:
        """Record a retry or rejection in the spool, writing again with backoff while it fails.

        A failed write gives the report's claim back, so the report is held here (no upload
        takes it) until the write works, or, after :data:`_MARK_ATTEMPTS` failures, until
        *hold_for* (at least the last backoff) has passed: then it is left pending, unchanged,
        and uploaded again. Nothing is lost and nothing loops hot. Whether the write worked.

        Raises:
            UnknownReport, InvalidTransition: an operator changed the report meanwhile.
        """
        failures = 0
        while True:
            try:
                await write()
            except (UnknownReport, InvalidTransition):
                raise
            except WRITE_ERRORS as exc:
                failures += 1
                error = exc
            else:
                if failures:
                    self.held.discard(rid)
                    self.queue.release(rid)
                return True
            self.held.add(rid)
            gave_up = failures >= _MARK_ATTEMPTS
            wait = max(0.05, MARK_BACKOFF.delay(failures, rand=self._rand()))
            if gave_up:
                wait = max(wait, hold_for)
            log = self.log.bind(report_id=rid)
            (log.error if gave_up else log.warning)(
                "could not record the upload's outcome in the spool",
                outcome=action,
                error=str(error),
                attempt=failures,
                retry_in=round(wait, 3),
                gave_up=gave_up,
            )
            self.link.bus.publish(
                MarkFailed(
                    action=action,
                    reports=1,
                    report_id=rid,
                    error=str(error),
                    attempt=failures,
                    retry_in=wait,
                    gave_up=gave_up,
                )
            )
            try:
                with self.stop.waiting() as waiting:
                    await trio.sleep(wait)
            finally:
                if gave_up or waiting.cancelled_caught:
                    self.held.discard(rid)
                    self.queue.release(rid)
            if gave_up or waiting.cancelled_caught:
                return False
