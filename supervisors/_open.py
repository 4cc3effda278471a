"""``open_supervisor``: a supervisor for the length of an ``async with`` block."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import trio

from ._spec import ChildSpec
from ._supervisor import Supervisor

__all__ = ["open_supervisor"]


@asynccontextmanager
async def open_supervisor(
    children: Sequence[ChildSpec],
    *,
    stop_grace: float | None = None,
    **options: Any,
) -> AsyncIterator[Supervisor]:
    """Start a :class:`Supervisor` with *children*; stop it in two phases when the block ends.

    The block is entered once every child is ready. On leaving it, the supervisor stops its
    children in reverse order by their shutdown specs; if *stop_grace* is given and passes,
    whatever still runs is cancelled.

    ``options`` are the keyword arguments of :class:`Supervisor`. If the supervisor gives up
    (or a child fails to start) while the block runs, the block is cancelled and the error
    leaves the ``async with`` inside an ``ExceptionGroup``, as with any trio nursery.
    """
    supervisor = Supervisor(children, **options)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        try:
            yield supervisor
        finally:
            await supervisor.stop(stop_grace)
