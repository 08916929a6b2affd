"""Prometheus metrics of the web app (`GET /metrics`).

Request counters and latencies are per process; under gunicorn set PROMETHEUS_MULTIPROC_DIR
(deploy/gunicorn.conf.py does) so every worker's numbers are summed. Call counts by state
and end reason are read from the database at scrape time, so they are right whichever
process changed them.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event, func, select

from app.extensions import db
from app.models import Call

HTTP_REQUESTS = Counter(
    "chimecast_http_requests_total", "HTTP requests handled", ["method", "endpoint", "status"]
)
HTTP_LATENCY = Histogram(
    "chimecast_http_request_seconds", "HTTP request latency", ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)  # fmt: skip
API_ERRORS = Counter("chimecast_api_errors_total", "JSON errors returned, by code", ["code"])
LOGINS = Counter("chimecast_logins_total", "Login attempts by outcome", ["outcome"])
CALL_SETUP = Histogram(
    "chimecast_call_setup_seconds", "From call start to answer",
    buckets=(0.5, 1, 2, 3, 5, 8, 13, 21, 34, 45),
)  # fmt: skip
DB_LATENCY = Histogram(
    "chimecast_db_query_seconds", "Database statement latency",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
)  # fmt: skip


class CallStateCollector(Collector):
    """`chimecast_calls{state}` and `chimecast_calls_ended{reason}` from the calls table."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self):
        states = GaugeMetricFamily("chimecast_calls", "Calls by state", labels=["state"])
        reasons = GaugeMetricFamily(
            "chimecast_calls_ended", "Ended calls by end reason", labels=["reason"]
        )
        with self.app.app_context():
            for state, count in db.session.execute(
                select(Call.state, func.count()).group_by(Call.state)
            ):
                states.add_metric([state], count)
            for reason, count in db.session.execute(
                select(Call.end_reason, func.count())
                .where(Call.end_reason.is_not(None))
                .group_by(Call.end_reason)
            ):
                reasons.add_metric([reason], count)
            db.session.remove()
        yield states
        yield reasons


def _time_statements(engine) -> None:
    @event.listens_for(engine, "before_cursor_execute")
    def _start(conn, _cursor, _statement, _params, _context, _many):
        conn.info.setdefault("chimecast_started", []).append(time.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def _stop(conn, _cursor, _statement, _params, _context, _many):
        DB_LATENCY.observe(time.perf_counter() - conn.info["chimecast_started"].pop())


def render(app: Flask) -> Response:
    """The exposition text: this process (or all gunicorn workers) plus the call tables."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        for collector in (HTTP_REQUESTS, HTTP_LATENCY, API_ERRORS, LOGINS, CALL_SETUP, DB_LATENCY):
            registry.register(collector)
    registry.register(CallStateCollector(app))
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    """Count and time every request; time every database statement."""

    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        HTTP_REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
        started = g.get("request_started")
        if started is not None:
            HTTP_LATENCY.labels(endpoint).observe(time.perf_counter() - started)
        return response

    with app.app_context():
        _time_statements(db.engine)


__all__ = ["API_ERRORS", "CALL_SETUP", "LOGINS", "init_app", "render"]
