"""Small patterns the node's actors share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from supervisors import current_child_or_none

__all__ = ["stop_requested_cancels"]


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
