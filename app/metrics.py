"""Prometheus metrics of the web app (`GET /metrics`), and the call metrics both processes keep.

Request counters and latencies are per process; under gunicorn PROMETHEUS_MULTIPROC_DIR is
set (deploy/gunicorn.conf.py does) so every worker's numbers are summed. `process_*` is the
sum over the gunicorn master and its live workers (`app.procstats`), so it does not flip
between workers from one scrape to the next.

Call metrics: `chimecast_calls_ended_total{reason}` and `chimecast_call_setup_seconds` are
counted where a call transition is published (`observe_call_event`), in whichever process
made it (web worker or daemon); Prometheus sums the processes. Live calls are a gauge read
at scrape time with an indexed query over ringing and active calls only, never the whole
table. Probe calls (`chimecast-probe`) count in none of them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import event, func, select

from app import procstats
from app.extensions import db
from app.janus.nodes import EXTENSION as JANUS
from app.janus.nodes import JanusGauges
from app.models import Call, CallState, EndReason, WebhookDelivery

# Methods outside this set are counted as "other": a client may send any token there.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LIVE_STATES = (CallState.RINGING.value, CallState.ACTIVE.value)
END_REASONS = frozenset(reason.value for reason in EndReason)

HTTP_REQUESTS = Counter(
    "chimecast_http_requests_total", "HTTP requests handled", ["method", "endpoint", "status"]
)
HTTP_LATENCY = Histogram(
    "chimecast_http_request_duration_seconds", "HTTP request latency", ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)  # fmt: skip
API_ERRORS = Counter("chimecast_api_errors_total", "JSON errors returned, by code", ["code"])
LOGINS = Counter("chimecast_logins_total", "Login attempts by outcome", ["outcome"])
CALL_SETUP = Histogram(
    "chimecast_call_setup_seconds", "From call start to answer (probe calls excluded)",
    buckets=(0.5, 1, 2, 3, 5, 8, 13, 21, 34, 45),
)  # fmt: skip
CALLS_ENDED = Counter(
    "chimecast_calls_ended_total", "Calls ended, by end reason (probe calls excluded)", ["reason"]
)
DB_LATENCY = Histogram(
    "chimecast_db_query_duration_seconds", "Database statement latency",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
)  # fmt: skip

# What either process records when it changes a call: the daemon exposes these too.
CALL_METRICS = (CALL_SETUP, CALLS_ENDED)
_LOCAL = (HTTP_REQUESTS, HTTP_LATENCY, API_ERRORS, LOGINS, CALL_SETUP, CALLS_ENDED, DB_LATENCY)


def observe_call_event(kind: str, data: dict[str, Any]) -> None:
    """Count one published call transition (`app.events.publish` calls this for each)."""
    if data.get("probe"):
        return
    record = data.get("call") or {}
    if kind == "call.accepted" and record.get("answered_at") and record.get("created_at"):
        answered = datetime.fromisoformat(record["answered_at"])
        CALL_SETUP.observe(
            (answered - datetime.fromisoformat(record["created_at"])).total_seconds()
        )
    elif record.get("state") == CallState.ENDED.value and record.get("end_reason") in END_REASONS:
        CALLS_ENDED.labels(record["end_reason"]).inc()


class DatabaseGauges(Collector):
    """Live calls by state and the webhook queue, read from the database when scraped.

    Both queries read through an index prefix (`ix_calls_state_created`,
    `ix_webhook_deliveries_due`) and touch only live calls and pending deliveries.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        live = GaugeMetricFamily(
            "chimecast_calls_live",
            "Ringing and active calls (probe calls excluded)",
            labels=["state"],
        )
        depth = GaugeMetricFamily(
            "chimecast_webhook_queue_depth", "Webhook deliveries waiting to be sent or retried"
        )
        oldest = GaugeMetricFamily(
            "chimecast_webhook_oldest_pending_age_seconds",
            "Age of the oldest pending webhook delivery (0 when none)",
        )
        with self.app.app_context():
            counts = dict.fromkeys(LIVE_STATES, 0)
            rows = db.session.execute(
                select(Call.state, func.count())
                .where(Call.state.in_(LIVE_STATES), Call.probe.is_(False))
                .group_by(Call.state)
            )
            counts.update({state: count for state, count in rows})
            pending, first = db.session.execute(
                select(func.count(), func.min(WebhookDelivery.created_at)).where(
                    WebhookDelivery.status == "pending"
                )
            ).one()
            db.session.remove()
        for state, count in counts.items():
            live.add_metric([state], count)
        depth.add_metric([], pending)
        age = 0.0 if first is None else max(0.0, time.time() - first.timestamp())
        oldest.add_metric([], round(age, 3))
        yield from (live, depth, oldest)


def _time_statements(engine) -> None:
    @event.listens_for(engine, "before_cursor_execute")
    def _start(conn, _cursor, _statement, _params, _context, _many):
        conn.info.setdefault("chimecast_started", []).append(time.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def _stop(conn, _cursor, _statement, _params, _context, _many):
        DB_LATENCY.observe(time.perf_counter() - conn.info["chimecast_started"].pop())


def render(app: Flask) -> Response:
    """The exposition text: this process (or all gunicorn workers) plus the database gauges."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
        registry.register(procstats.GunicornProcessCollector())
    else:
        for collector in _LOCAL:
            registry.register(collector)
        registry.register(procstats.ProcessCollector(registry=None))
    registry.register(procstats.BuildInfo())
    registry.register(DatabaseGauges(app))
    if JANUS in app.extensions:
        registry.register(JanusGauges(app))
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    """Count and time every request; time every database statement."""

    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        method = request.method if request.method in HTTP_METHODS else "other"
        HTTP_REQUESTS.labels(method, endpoint, str(response.status_code)).inc()
        started = g.get("request_started")
        if started is not None:
            HTTP_LATENCY.labels(endpoint).observe(time.perf_counter() - started)
        return response

    with app.app_context():
        _time_statements(db.engine)


__all__ = ["API_ERRORS", "CALL_METRICS", "LOGINS", "init_app", "observe_call_event", "render"]
