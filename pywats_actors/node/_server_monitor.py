"""The server monitor: the single authority on the WATS server's state.

:class:`ServerLink` is the state the monitor and the uploader share (the current client and what
is known about the server); only the monitor decides :attr:`ServerLink.state`, the uploader
reports what its attempts saw. :func:`run_server_monitor` checks the server on an interval,
sooner when asked.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ClassVar

import trio

from .._logging import get_logger
from ..client import (
    ReportAccepted,
    WatsAuthError,
    WatsClient,
    WatsError,
    WatsNotFound,
    WatsTransportError,
)
from ._actor import stop_requested_cancels
from ._bus import EventBus, NodeEvent
from ._policy import CircuitBreaker, RetryBackoff

__all__ = ["ServerLink", "ServerState", "ServerStateChanged", "run_server_monitor"]


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
        self.breaker: CircuitBreaker | None = None
        """The running uploader's circuit breaker (read by ``/metrics``), ``None`` before."""
        self._changed = trio.Event()
        self._check_now = trio.Event()
        self._online_listeners: list[Callable[[], None]] = []

    @contextmanager
    def when_online(self, callback: Callable[[], None]) -> Iterator[None]:
        """Call *callback* (synchronously) each time the server comes online, inside the block.

        The uploader ends its circuit breaker's open period this way: the monitor is the
        authority on the server's state, so when it sees the server back, the half-open probe
        goes at once instead of after the rest of the open period.
        """
        self._online_listeners.append(callback)
        try:
            yield
        finally:
            self._online_listeners.remove(callback)

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
        if state is ServerState.ONLINE:
            for callback in tuple(self._online_listeners):
                callback()
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
