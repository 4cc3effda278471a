"""Health and metrics endpoints of a node, over HTTP on loopback.

``/healthz`` (liveness), ``/readyz`` (readiness, 503 with the reasons otherwise),
``/metrics`` (Prometheus text format, read from the node's own statistics at scrape time)
and ``/status`` (JSON). The node runs :func:`run_health` as a child of its tree as its
``[health]`` section says; ``docs/operators.md`` lists every metric.
"""

from __future__ import annotations

from ._metrics import SERVER_STATES as SERVER_STATES
from ._metrics import NodeCollector as NodeCollector
from ._server import HEALTH_LIMITS as HEALTH_LIMITS
from ._server import MAX_CONNECTIONS as MAX_CONNECTIONS
from ._server import run_health as run_health
from ._state import node_status as node_status
from ._state import readiness as readiness

__all__ = [
    "HEALTH_LIMITS",
    "MAX_CONNECTIONS",
    "SERVER_STATES",
    "NodeCollector",
    "node_status",
    "readiness",
    "run_health",
]
