"""Prometheus metrics of a signaling daemon (`GET /metrics` on the daemon's port).

Counters are bumped where things happen (relay, error replies, outbox delivery, database
jobs, Redis publishes); gauges are read at scrape time from the live objects (`Live`).
The call metrics the shared state machine records in this process (`app.metrics`:
calls ended, call setup time) are exposed here too, and so are `process_*` and
`chimecast_build_info`.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import (
    Counter as PromCounter,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from app import metrics as app_metrics
from app import procstats

REGISTRY = CollectorRegistry()


class Tally(Collector):
    """A counter with one label, kept as a plain dict: `inc(value)` is one dict update.

    prometheus_client's `Counter.labels(value).inc()` builds the label key and takes a mutex
    on every call, about a tenth of the daemon's CPU per relayed message (py-spy, flood).
    The counts are only ever bumped from the hub's greenlets, which share one OS thread.
    """

    def __init__(self, name: str, documentation: str, label: str, registry: CollectorRegistry):
        self.name, self.documentation, self.label = name, documentation, label
        self.counts: dict[str, int] = {}
        registry.register(self)

    def inc(self, value: str) -> None:
        counts = self.counts
        counts[value] = counts.get(value, 0) + 1

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=[self.label])
        for value, count in sorted(self.counts.items()):
            family.add_metric([value], count)
        yield family


RELAYED = Tally(
    "chimecast_signaling_relayed_total", "Negotiation messages relayed", "type", REGISTRY
)
ERRORS = Tally("chimecast_signaling_errors_total", "Error replies sent, by code", "code", REGISTRY)
CLOSES = Tally(
    "chimecast_signaling_closes_total", "Connections closed, by close code", "code", REGISTRY
)
HELLOS_SHED = Tally(
    "chimecast_signaling_hellos_shed_total",
    "Hellos not served: queue_full and overdue were closed 1013 with a retry hint, departed"
    " were skipped because the client had gone",
    "why",
    REGISTRY,
)
OUTBOX_READS = Tally(
    "chimecast_signaling_outbox_reads_total",
    "Outbox reads, by what started them (wake: the database said; fallback: the slow poll)",
    "cause",
    REGISTRY,
)
LISTEN_BACKLOG = Gauge(
    "chimecast_signaling_listen_backlog",
    "The accept queue this daemon's socket got: CHIMECAST_LISTEN_BACKLOG capped by somaxconn",
    registry=REGISTRY,
)
EVENT_DELAY = Histogram(
    "chimecast_signaling_event_delay_seconds", "Outbox event committed -> pushed to clients",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=REGISTRY,
)  # fmt: skip
DB_SECONDS = Histogram(
    "chimecast_signaling_db_duration_seconds", "Database jobs (threadpool, including queueing)",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1), registry=REGISTRY,
)  # fmt: skip
REDIS_SECONDS = Histogram(
    "chimecast_signaling_redis_publish_duration_seconds", "Redis PUBLISH latency",
    buckets=(0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25), registry=REGISTRY,
)  # fmt: skip
REDIS_FAILURES = PromCounter(
    "chimecast_signaling_redis_publish_failures_total", "Redis PUBLISH errors", registry=REGISTRY
)

CONNECTION_STATES = ("handshake", "open", "closing")
LIVE_CALL_STATES = ("ringing", "active")


@dataclass
class Live:
    """Readers of the daemon's live objects, called at scrape time (never raising)."""

    connection_states: Callable[[], list[str]]  # one of CONNECTION_STATES per socket
    call_states: Callable[[], list[str]]  # states of the calls in this daemon's cache
    redis_connected: Callable[[], bool | None]  # None: no Redis configured
    outbox_backlog: Callable[[], int | None]  # events committed, not yet read (None: unknown)
    outbox_last_poll: Callable[[], float]  # time.monotonic() of the last successful poll
    readers_parked: Callable[[], int]  # open connections holding no reader greenlet
    hellos_waiting: Callable[[], int]  # received, not yet answered
    hello_rate: Callable[[], float | None]  # served per busy second (None: not measured yet)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation)
    family.add_metric([], value)
    return family


class LiveState(Collector):
    """Connections, live calls, Redis and the outbox, read from the daemon when scraped."""

    def __init__(self, live: Live) -> None:
        self.live = live

    def collect(self) -> Iterator[Metric]:
        live = self.live
        states = Counter(live.connection_states())
        connections = GaugeMetricFamily(
            "chimecast_signaling_connections", "Open WebSockets, by state", labels=["state"]
        )
        for state in CONNECTION_STATES:
            connections.add_metric([state], states.get(state, 0))
        yield connections
        calls = Counter(live.call_states())
        tracked = GaugeMetricFamily(
            "chimecast_signaling_live_calls",
            "Ringing and active calls this daemon holds in its cache",
            labels=["state"],
        )
        for state in LIVE_CALL_STATES:
            tracked.add_metric([state], calls.get(state, 0))
        yield tracked
        yield _gauge(
            "chimecast_signaling_readers_parked",
            "Open WebSockets with nothing to read, holding no reader greenlet",
            live.readers_parked(),
        )
        redis_up = live.redis_connected()
        if redis_up is not None:
            yield _gauge(
                "chimecast_signaling_redis_connected",
                "1 while subscribed to the Redis bus",
                int(redis_up),
            )
        backlog = live.outbox_backlog()
        if backlog is not None:
            yield _gauge(
                "chimecast_signaling_outbox_backlog",
                "Outbox events committed that this daemon has not read yet",
                backlog,
            )
        yield _gauge(
            "chimecast_signaling_hellos_waiting",
            "Hellos received and not yet answered (token check, connection record)",
            live.hellos_waiting(),
        )
        rate = live.hello_rate()
        if rate is not None:
            yield _gauge(
                "chimecast_signaling_hello_service_rate",
                "Hellos served per second while some were waiting (admission control)",
                round(rate, 1),
            )
        yield _gauge(
            "chimecast_signaling_gc_frozen_objects",
            "Objects kept out of the garbage collector's rounds since the daemon started",
            gc.get_freeze_count(),
        )
        yield _gauge(
            "chimecast_signaling_outbox_lag_seconds",
            "Seconds since this daemon last read the outbox successfully",
            round(time.monotonic() - live.outbox_last_poll(), 3),
        )


def watch(live: Live) -> None:
    """Register the live gauges and shared metrics of this daemon (once per process)."""
    for collector in (*app_metrics.CALL_METRICS, LiveState(live), procstats.BuildInfo()):
        REGISTRY.register(collector)
    procstats.ProcessCollector(registry=REGISTRY)


def exposition() -> tuple[str, str, bytes]:
    return "200 OK", CONTENT_TYPE_LATEST, generate_latest(REGISTRY)
