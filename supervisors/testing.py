"""Test helpers for code that uses :mod:`supervisors`: a child you steer from outside and an
observer that records events.

These are part of the public API so that applications can test their own trees the way this
package tests itself (with pytest-trio's ``autojump_clock``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import trio

from ._context import current_child
from ._events import ChildExited, SupervisorEvent
from ._spec import ChildSpec

__all__ = ["EventRecorder", "PuppetChild"]

_E = TypeVar("_E")


class EventRecorder:
    """An observer that keeps every event it is given, in order."""

    def __init__(self) -> None:
        self.events: list[SupervisorEvent] = []

    def __call__(self, event: SupervisorEvent) -> None:
        self.events.append(event)

    def of_type(self, kind: type[_E]) -> list[_E]:
        """The recorded events of one class."""
        return [e for e in self.events if isinstance(e, kind)]

    def exits(self, child_id: str) -> list[ChildExited]:
        """The exit events of one child, oldest first."""
        return [e for e in self.of_type(ChildExited) if e.child_id == child_id]


class PuppetChild:
    """A child whose incarnations are steered from the test: crash it, end it, or let it
    ignore stop requests.

    It appends ``("start", id)`` and ``("stop", id)`` to the shared *log* list, so tests can
    assert the order of starts and stops across several children.

    Args:
        id: the child id.
        log: a list shared by the children of one test.
        ignore_stop: when true, the child does not return on a stop request and must be
            cancelled; it also shields a cleanup of *cleanup_time* seconds.
    """

    def __init__(
        self,
        id: str,
        log: list[tuple[str, str]] | None = None,
        *,
        ignore_stop: bool = False,
        cleanup_time: float = 0.0,
        fail_start: Callable[[int], bool] | None = None,
    ) -> None:
        self.id = id
        self.log = log if log is not None else []
        self.ignore_stop = ignore_stop
        self.cleanup_time = cleanup_time
        self.fail_start = fail_start
        self.starts = 0
        self.running = False
        self._command: trio.MemorySendChannel[BaseException | None] | None = None
        self._changed = trio.Event()

    def spec(self, **options: Any) -> ChildSpec:
        """A child spec for this puppet; *options* are :class:`ChildSpec` fields."""
        return ChildSpec(id=self.id, fn=self.run, **options)

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """The child function."""
        self.starts += 1
        if self.fail_start is not None and self.fail_start(self.starts):
            raise RuntimeError(f"{self.id} refuses to start (start #{self.starts})")
        send, receive = trio.open_memory_channel[BaseException | None](1)
        self._command = send
        ctx = current_child()
        self.running = True
        self.log.append(("start", self.id))
        task_status.started(self.starts)
        self._pulse()
        try:
            async with trio.open_nursery() as nursery:
                if not self.ignore_stop:

                    async def on_stop() -> None:
                        await ctx.wait_stop_requested()
                        send.send_nowait(None)

                    nursery.start_soon(on_stop)
                command = await receive.receive()
                nursery.cancel_scope.cancel()
            if command is not None:
                raise command
        finally:
            if self.cleanup_time:
                with trio.CancelScope(shield=True):
                    await trio.sleep(self.cleanup_time)
            self.running = False
            self.log.append(("stop", self.id))
            self._pulse()

    def _pulse(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_running(self, incarnation: int | None = None) -> None:
        """Block until the child runs (its *incarnation*-th start, if given, or a later one)."""
        while not (self.running and (incarnation is None or self.starts >= incarnation)):
            await self._changed.wait()

    async def wait_stopped(self) -> None:
        """Block until no incarnation of the child runs."""
        while self.running:
            await self._changed.wait()

    def crash(self, exc: BaseException | None = None) -> None:
        """Make the running incarnation raise *exc* (a ``RuntimeError`` by default)."""
        self._send(exc if exc is not None else RuntimeError(f"{self.id} crashed"))

    def finish(self) -> None:
        """Make the running incarnation return normally."""
        self._send(None)

    def _send(self, command: BaseException | None) -> None:
        if self._command is None or not self.running:
            raise RuntimeError(f"{self.id} is not running")
        self._command.send_nowait(command)
