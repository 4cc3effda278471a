"""Stopping a watchdog observer from trio (for :class:`~pywats_actors._filewatch.FileWatch`)."""

from __future__ import annotations

import trio
from watchdog.observers.api import BaseObserver

__all__ = ["stop_observer"]


async def stop_observer(observer: BaseObserver) -> None:
    """Stop *observer* and join its threads, in a worker thread, shielded, within 6 s.

    Stopping takes watchdog's own locks (held by its dispatcher while it calls a handler), so
    it never runs on the trio thread.

    Cancellation: shielded; the stop finishes (or is abandoned after 6 s) either way.
    """

    def stop_and_join() -> None:
        observer.stop()
        observer.join(5.0)

    with trio.CancelScope(shield=True), trio.move_on_after(6):
        await trio.to_thread.run_sync(stop_and_join, abandon_on_cancel=True)
