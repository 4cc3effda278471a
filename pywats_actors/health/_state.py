"""What the health endpoints say about a node: readiness with reasons, and the status map.

Everything here reads snapshots the node's parts already keep (the spool's statistics, the
converter pool's statistics, the server link, the supervision tree) at the moment of the
request: a report costs nothing extra for the endpoints to exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from supervisors import ChildState

from .._version import __version__

if TYPE_CHECKING:
    from ..node import Node

__all__ = ["node_status", "readiness"]

_WORKING = (ChildState.RUNNING, ChildState.DEGRADED, ChildState.EXITED)
"""States of a part that is not a fault (``EXITED``: ended normally, not to be restarted)."""

_CONTAINED = ("intake/", "conversion/schedules/", "conversion/pool/")
"""Parts whose trouble stays in its own room and does not make the node unready: one watch
folder, one schedule, one converter worker slot (each retried alone; the folder's state is in
``/status`` and ``pywats_child_up``)."""


def readiness(node: Node) -> tuple[str, ...]:
    """Why *node* is not ready to take work; empty when it is.

    Ready means: the node runs (its configuration was loaded, or it would not), the spool is
    open and takes reports (not paused because it is full or the disk is), and every part
    of the node's tree is running: none is stopped, waiting to restart or restarting after
    its supervisor gave up on it. Trouble contained to one watch folder, schedule or worker
    slot (each retried alone), a degraded part and an offline WATS server do not make the
    node unready: it still takes results and keeps them; all of it shows in ``/metrics`` and
    ``/status``.
    """
    supervisor = node.supervisor
    if supervisor is None:
        return ("the node is not running",)
    stats = supervisor.tree_statistics()
    if stats.stopping:
        return ("the node is stopping",)
    reasons: list[str] = []
    spool = node.spool
    if spool is None:
        reasons.append("the spool is not open")
    else:
        paused = spool.statistics().intake_paused
        if paused is not None:
            reasons.append(f"the spool takes no reports: intake paused ({paused.value})")
    for path, child in stats.walk():
        if child.state not in _WORKING and not path.startswith(_CONTAINED):
            reasons.append(f"{path} is {child.state.value}")
    return tuple(reasons)


def node_status(node: Node, instance: str) -> dict[str, Any]:
    """The ``/status`` document: the node, readiness, server, spool, pool and the tree."""
    reasons = readiness(node)
    status: dict[str, Any] = {
        "instance": instance,
        "version": __version__,
        "ready": not reasons,
        "reasons": list(reasons),
        "server": _server(node),
        "spool": None,
        "pool": None,
        "tree": [],
    }
    if node.spool is not None:
        s = node.spool.statistics()
        status["spool"] = {
            "pending": s.pending,
            "sent": s.sent,
            "rejected": s.rejected,
            "quarantined": s.quarantined,
            "pending_bytes": s.pending_bytes,
            "oldest_pending_age": s.oldest_pending_age,
            "intake_paused": s.intake_paused.value if s.intake_paused is not None else None,
            "enqueued": s.enqueued,
        }
    if node.pool is not None:
        p = node.pool.statistics()
        status["pool"] = {
            "workers": p.workers,
            "ready": p.ready,
            "busy": p.busy,
            "converted": p.converted,
            "rejected": p.rejected,
            "crashed": p.crashed,
            "timed_out": p.timed_out,
            "out_of_memory": p.out_of_memory,
            "worker_restarts": p.worker_restarts,
            "sandbox_level": p.sandbox_level,
        }
    if node.supervisor is not None:
        status["tree"] = [
            {
                "path": path,
                "state": child.state.value,
                "restarts": child.restarts,
                "degraded": child.degraded,
            }
            for path, child in node.supervisor.tree_statistics().walk()
        ]
    return status


def _server(node: Node) -> dict[str, Any]:
    link = node.link
    if not node.config.server.base_url:
        return {"state": "unconfigured", "detail": None, "breaker": None}
    if link is None:
        return {"state": "unknown", "detail": None, "breaker": None}
    breaker = link.breaker.state.value if link.breaker is not None else None
    return {"state": link.state.value, "detail": link.detail, "breaker": breaker}
