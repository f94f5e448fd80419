"""Prometheus metrics, one registry per app (so tests and several apps in one process do not collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["Metrics", "CONTENT_TYPE_LATEST"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.calls = Counter("click2call_calls", "Calls ended, by final status", ["status"], registry=r)
        self.active_calls = Gauge("click2call_active_calls", "Calls in progress", registry=r)
        self.pending_sync = Gauge("click2call_pending_sync_requests", "Sync requests waiting for the agent",
                                  registry=r)
        self.ari_latency = Histogram("click2call_ari_request_seconds", "ARI REST request latency", ["method"],
                                     registry=r, buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5))
        self.ari_errors = Counter("click2call_ari_request_errors", "ARI REST requests that failed",
                                  ["kind"], registry=r)
        self.ws_reconnects = Counter("click2call_ari_websocket_reconnects", "ARI event websocket reconnects",
                                     registry=r)
        self.deliveries = Counter("click2call_webhook_deliveries", "Webhook delivery attempts by result",
                                  ["result"], registry=r)
        self.webhook_queue = Gauge("click2call_webhook_queue_depth", "Webhook deliveries waiting to be sent",
                                   registry=r)
        self.node_calls = Gauge("click2call_node_calls_in_progress", "Calls this replica runs, by Asterisk node",
                                ["node"], registry=r)
        self.node_events = Gauge("click2call_node_events_connected", "1 while this replica has the node's ARI event "
                                 "stream (it runs the node and Asterisk is reachable)", ["node"], registry=r)
        self.tasks = Gauge("click2call_asyncio_tasks", "asyncio tasks alive (a leak shows as growth)", registry=r)
        # retention.py: what its passes removed on this replica (a pass runs on one replica at a time: the sum over
        # the replicas is the cluster's); bytes: a recording's file size, a row's stored values' length
        self.retention_rows = Counter("click2call_retention_removed_rows", "Rows (recordings: files) removed by "
                                      "retention, by kind", ["kind"], registry=r)
        self.retention_bytes = Counter("click2call_retention_removed_bytes", "Bytes removed by retention, by kind",
                                       ["kind"], registry=r)
        self.retention_passes = Counter("click2call_retention_passes", "Retention passes run by this replica "
                                        "(skipped: another replica was running one)", ["result"], registry=r)
        ProcessCollector(registry=r)  # process_resident_memory_bytes, CPU seconds, open fds

    def render(self) -> bytes:
        return generate_latest(self.registry)
