"""Prometheus metrics of a signaling daemon (`GET /metrics` on the daemon's port).

Counters are bumped where things happen (relay, error replies, outbox delivery, database
jobs, Redis publishes); gauges are read at scrape time from the live objects.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

REGISTRY = CollectorRegistry()

RELAYED = Counter(
    "chimecast_signaling_relayed_total", "Negotiation messages relayed", ["type"], registry=REGISTRY
)
ERRORS = Counter(
    "chimecast_signaling_errors_total", "Error replies sent, by code", ["code"], registry=REGISTRY
)
CLOSES = Counter(
    "chimecast_signaling_closes_total",
    "Connections closed, by close code",
    ["code"],
    registry=REGISTRY,
)
EVENT_DELAY = Histogram(
    "chimecast_signaling_event_delay_seconds", "Outbox event committed -> pushed to clients",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=REGISTRY,
)  # fmt: skip
DB_SECONDS = Histogram(
    "chimecast_signaling_db_seconds", "Database jobs (threadpool, including queueing)",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1), registry=REGISTRY,
)  # fmt: skip
REDIS_SECONDS = Histogram(
    "chimecast_signaling_redis_publish_seconds", "Redis PUBLISH latency",
    buckets=(0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25), registry=REGISTRY,
)  # fmt: skip
REDIS_FAILURES = Counter(
    "chimecast_signaling_redis_publish_failures_total", "Redis PUBLISH errors", registry=REGISTRY
)


class LiveState(Collector):
    """Connections and cached calls by state, read from the daemon when scraped."""

    def __init__(
        self, connections: Callable[[], int], call_states: Callable[[], list[str]]
    ) -> None:
        self.connections, self.call_states = connections, call_states

    def collect(self):
        open_now = GaugeMetricFamily("chimecast_signaling_connections", "Open WebSockets")
        open_now.add_metric([], self.connections())
        calls = GaugeMetricFamily(
            "chimecast_signaling_calls", "Calls this daemon tracks, by state", labels=["state"]
        )
        for state, count in sorted(Tally(self.call_states()).items()):
            calls.add_metric([state], count)
        yield open_now
        yield calls


def watch(connections: Callable[[], int], call_states: Callable[[], list[str]]) -> None:
    """Register the live gauges of this daemon (once per process)."""
    REGISTRY.register(LiveState(connections, call_states))


def exposition() -> tuple[str, str, bytes]:
    return "200 OK", CONTENT_TYPE_LATEST, generate_latest(REGISTRY)
