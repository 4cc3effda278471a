"""Glue between the generic supervisors and the node: logs, context binding, bus events."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import ClassVar

import structlog

from supervisors import (
    ChildContext,
    ChildExited,
    ChildRestarting,
    ChildStarted,
    SupervisorEvent,
    SupervisorGaveUpEvent,
    SupervisorStopped,
)

from .._logging import get_logger
from ._bus import EventBus, NodeEvent

__all__ = ["SupervisionEvent", "bind_child", "supervision_observer"]


class SupervisionEvent(NodeEvent, frozen=True, kw_only=True):
    """A supervisor started, restarted or lost a child, gave up, or stopped.

    ``what`` is ``started``, ``exited``, ``restarting``, ``gave_up`` or ``stopped``.
    """

    topic: ClassVar[str] = "supervision"
    supervisor: str
    child: str | None = None
    what: str
    incarnation: int | None = None
    reason: str | None = None
    reason_kind: str | None = None
    delay: float | None = None


def bind_child(ctx: ChildContext) -> AbstractContextManager[object]:
    """Bind the child's path as ``actor`` to every log line its task writes."""
    return structlog.contextvars.bound_contextvars(actor=ctx.path, incarnation=ctx.incarnation)


def supervision_observer(bus: EventBus | None = None) -> Callable[[SupervisorEvent], None]:
    """An observer that logs each supervisor event and publishes it on *bus*."""
    log = get_logger()

    def observe(event: SupervisorEvent) -> None:
        node_event = _translate(event)
        where = f"{event.supervisor}/{node_event.child}" if node_event.child else event.supervisor
        # The event's own incarnation (None for supervisor-wide events), never the one bound to
        # the task that happens to run the supervisor (a reload's restart runs in the control
        # child's task).
        about = {"actor": where, "incarnation": node_event.incarnation}
        if isinstance(event, ChildExited) and event.reason.abnormal:
            log.warning(
                "child exited",
                **about,
                reason=event.reason.description,
                traceback=event.reason.traceback,
                during_start=event.during_start,
            )
        elif isinstance(event, SupervisorGaveUpEvent):
            log.error("supervisor gave up", **about, reason=node_event.reason)
        elif isinstance(event, ChildRestarting):
            log.info("restarting child", **about, delay=round(event.delay, 3))
        else:
            log.debug(f"child {node_event.what}", **about, reason=node_event.reason)
        if bus is not None:
            bus.publish(node_event)

    return observe


def _translate(event: SupervisorEvent) -> SupervisionEvent:
    if isinstance(event, ChildStarted):
        return SupervisionEvent(
            supervisor=event.supervisor,
            child=event.child_id,
            what="started",
            incarnation=event.incarnation,
        )
    if isinstance(event, ChildExited):
        return SupervisionEvent(
            supervisor=event.supervisor,
            child=event.child_id,
            what="exited",
            incarnation=event.incarnation,
            reason=event.reason.description,
            reason_kind=event.reason.kind.value,
        )
    if isinstance(event, ChildRestarting):
        return SupervisionEvent(
            supervisor=event.supervisor, child=event.child_id, what="restarting", delay=event.delay
        )
    if isinstance(event, SupervisorGaveUpEvent):
        recent = "; ".join(f"{cid}: {r.description}" for cid, r in event.reasons[-3:])
        return SupervisionEvent(supervisor=event.supervisor, what="gave_up", reason=recent)
    assert isinstance(event, SupervisorStopped)
    return SupervisionEvent(supervisor=event.supervisor, what="stopped", reason=event.why)
