"""``/metrics``: the node's counters in the Prometheus text format, read at scrape time.

A custom ``prometheus_client`` collector reads the snapshots the node's parts already keep
(the spool's and the converter pool's statistics, the server link, the circuit breaker, the
supervision tree) when Prometheus asks; nothing is counted on the data path for it. Every
sample carries an ``instance`` label with the node's instance name.

Counters since the start of the process are ``*_total``; durations are ``*_seconds``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from .._version import __version__
from ._state import readiness

if TYPE_CHECKING:
    from ..node import Node

__all__ = ["SERVER_STATES", "NodeCollector", "render_metrics"]

SERVER_STATES = ("unconfigured", "unknown", "online", "offline", "auth_failed", "not_found")
"""Values of the ``state`` label of ``pywats_server_state``."""
_BREAKER_STATES = ("closed", "open", "half_open")
_SPOOL_STATES = ("pending", "sent", "rejected", "quarantined")
_PAUSE_REASONS = ("size_limit", "disk_full")
_OUTCOMES = ("converted", "rejected", "crashed", "timed_out", "out_of_memory", "unavailable")


class NodeCollector(Collector):
    """Collects the metrics of one node at each scrape.

    Args:
        node: the running node.
        instance: the value of every sample's ``instance`` label.
    """

    def __init__(self, node: Node, instance: str) -> None:
        self._node = node
        self._instance = instance

    def collect(self) -> Iterator[Metric]:
        """Yield every metric family, read from the node now."""
        yield from self._node_info()
        yield from self._spool()
        yield from self._pool()
        yield from self._server()
        yield from self._tree()

    def _gauge(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, doc, labels=("instance", *labels))

    def _counter(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> CounterMetricFamily:
        return CounterMetricFamily(name, doc, labels=("instance", *labels))

    def _node_info(self) -> Iterator[Metric]:
        info = InfoMetricFamily("pywats_node", "The node's version.", labels=("instance",))
        info.add_metric([self._instance], {"version": __version__})
        yield info
        ready = self._gauge("pywats_node_ready", "1 when /readyz answers 200, else 0.")
        ready.add_metric([self._instance], 0.0 if readiness(self._node) else 1.0)
        yield ready

    def _spool(self) -> Iterator[Metric]:
        spool = self._node.spool
        if spool is None:
            return
        s = spool.statistics()
        i = self._instance
        reports = self._gauge("pywats_spool_reports", "Reports in the spool by state.", ("state",))
        for state, value in zip(
            _SPOOL_STATES, (s.pending, s.sent, s.rejected, s.quarantined), strict=True
        ):
            reports.add_metric([i, state], value)
        yield reports
        pending_bytes = self._gauge("pywats_spool_pending_bytes", "Body bytes of pending reports.")
        pending_bytes.add_metric([i], s.pending_bytes)
        yield pending_bytes
        age = self._gauge(
            "pywats_spool_oldest_pending_age_seconds",
            "Seconds since the oldest pending report was stored; 0 when none is pending.",
        )
        age.add_metric([i], s.oldest_pending_age or 0.0)
        yield age
        paused = self._gauge(
            "pywats_spool_intake_paused",
            "1 while the spool takes no reports, by reason (size_limit: full; disk_full).",
            ("reason",),
        )
        current = s.intake_paused.value if s.intake_paused is not None else None
        for reason in _PAUSE_REASONS:
            paused.add_metric([i, reason], 1.0 if current == reason else 0.0)
        yield paused
        limit = self._gauge(
            "pywats_spool_max_reports", "The limit on unsent reports; 0 means none."
        )
        limit.add_metric([i], s.max_reports or 0)
        yield limit
        spooled = self._counter(
            "pywats_reports_spooled", "Reports stored in the spool since the node started."
        )
        spooled.add_metric([i], s.enqueued)
        yield spooled
        duplicates = self._counter(
            "pywats_reports_duplicate",
            "Reports offered to the spool that it already held (same id), since the start.",
        )
        duplicates.add_metric([i], s.duplicates)
        yield duplicates

    def _pool(self) -> Iterator[Metric]:
        pool = self._node.pool
        if pool is None:
            return
        p = pool.statistics()
        i = self._instance
        files = self._counter(
            "pywats_files",
            "Files the converter pool finished since the node started, by outcome.",
            ("outcome",),
        )
        values = (p.converted, p.rejected, p.crashed, p.timed_out, p.out_of_memory, p.unavailable)
        for outcome, value in zip(_OUTCOMES, values, strict=True):
            files.add_metric([i, outcome], value)
        yield files
        retries = self._counter(
            "pywats_file_retries", "Files retried on a fresh worker after a worker died."
        )
        retries.add_metric([i], p.retries)
        yield retries
        restarts = self._counter(
            "pywats_worker_restarts", "Converter worker restarts by their supervisor."
        )
        restarts.add_metric([i], p.worker_restarts)
        yield restarts
        crashes = self._counter(
            "pywats_worker_crashes", "Converter workers that died or were killed mid-file."
        )
        crashes.add_metric([i], p.worker_crashes)
        yield crashes
        workers = self._gauge("pywats_workers", "Converter workers by state.", ("state",))
        workers.add_metric([i, "configured"], p.workers)
        workers.add_metric([i, "ready"], p.ready)
        workers.add_metric([i, "busy"], p.busy)
        yield workers

    def _server(self) -> Iterator[Metric]:
        node, i = self._node, self._instance
        link = node.link
        if not node.config.server.base_url:
            current = "unconfigured"
        elif link is None:
            current = "unknown"
        else:
            current = link.state.value
        server = self._gauge(
            "pywats_server_state",
            "1 for the WATS server's current state as the node sees it, 0 for the others.",
            ("state",),
        )
        for state in SERVER_STATES:
            server.add_metric([i, state], 1.0 if state == current else 0.0)
        yield server
        breaker = link.breaker if link is not None else None
        if breaker is not None:
            family = self._gauge(
                "pywats_upload_breaker_state",
                "1 for the upload circuit breaker's current state, 0 for the others.",
                ("state",),
            )
            for state in _BREAKER_STATES:
                family.add_metric([i, state], 1.0 if breaker.state.value == state else 0.0)
            yield family

    def _tree(self) -> Iterator[Metric]:
        supervisor = self._node.supervisor
        if supervisor is None:
            return
        i = self._instance
        restarts = self._counter(
            "pywats_child_restarts",
            "Restarts of each part of the supervision tree (path such as uplink/uploader).",
            ("child",),
        )
        up = self._gauge(
            "pywats_child_up",
            "1 while a part of the supervision tree is running (or degraded), else 0.",
            ("child",),
        )
        degraded = self._gauge(
            "pywats_child_degraded", "1 while a part says it cannot do its work now.", ("child",)
        )
        for path, child in supervisor.tree_statistics().walk():
            if path.startswith("conversion/pool/"):
                continue  # worker slots: pywats_worker_restarts_total and pywats_workers
            restarts.add_metric([i, path], child.restarts)
            up.add_metric([i, path], 1.0 if child.state.value in ("running", "degraded") else 0.0)
            degraded.add_metric([i, path], 1.0 if child.state.value == "degraded" else 0.0)
        yield restarts
        yield up
        yield degraded


def render_metrics(registry: CollectorRegistry) -> bytes:
    """The text exposition of *registry* (Prometheus text format 0.0.4)."""
    return generate_latest(registry)
