"""Small patterns the node's actors share."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import trio

from supervisors import current_child_or_none

__all__ = ["StopSignal", "stop_requested_cancels"]


@asynccontextmanager
async def stop_requested_cancels() -> AsyncIterator[trio.CancelScope]:
    """Run the block until it ends or the supervisor asks this child to stop, then cancel it.

    For work that is safe to abandon at any checkpoint (waiting, polling, watching). Outside a
    supervised child the block simply runs. The yielded scope's ``cancelled_caught`` tells
    whether the stop request ended the block.
    """
    ctx = current_child_or_none()
    if ctx is None:
        with trio.CancelScope() as scope:
            yield scope
        return
    async with trio.open_nursery() as nursery:
        with trio.CancelScope() as scope:
            if ctx.stop_requested:
                scope.cancel(reason=f"{ctx.path}: stop requested")
            else:

                async def cancel_on_stop() -> None:
                    await ctx.wait_stop_requested()
                    scope.cancel(reason=f"{ctx.path}: stop requested")

                nursery.start_soon(cancel_on_stop)
            yield scope
        nursery.cancel_scope.cancel()


class StopSignal:
    """The stop request of the current supervised child, for loops that wait often.

    :func:`stop_requested_cancels` starts a task per use; a worker loop that waits for every
    item would pay that for each one. Here one :meth:`watch` task (started once, in the actor's
    nursery) cancels every block currently inside :meth:`waiting` when the stop is requested.
    """

    def __init__(self) -> None:
        self._waiting: set[trio.CancelScope] = set()
        self.requested = False

    async def watch(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Wait for the stop request (forever outside a supervised child)."""
        ctx = current_child_or_none()
        task_status.started()
        if ctx is None:
            await trio.sleep_forever()
        else:
            await ctx.wait_stop_requested()
        self.requested = True
        for scope in list(self._waiting):
            scope.cancel(reason="stop requested")

    @contextmanager
    def waiting(self) -> Iterator[trio.CancelScope]:
        """A block that a stop request cancels (at once if it was already requested)."""
        scope = trio.CancelScope()
        if self.requested:
            scope.cancel(reason="stop requested")
        self._waiting.add(scope)
        try:
            with scope:
                yield scope
        finally:
            self._waiting.discard(scope)
