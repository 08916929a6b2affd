"""The webhook worker (`flask webhooks deliver --metrics-port`) serves its own metrics, and
a probe user's calls enqueue no webhooks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.devstack import ROOT, free_port, stop_process, wait_http_ok
from app.extensions import db
from app.models import User
from tests.app.test_webhooks import SECRET, configure, deliveries, receiver, start_call

__all__ = ["receiver"]  # the fixture, imported for this module


def test_probe_users_calls_enqueue_no_webhooks_and_are_marked(app, auth, client, receiver):
    configure(app, receiver(204).url)
    for name in ("probe-a", "probe-b"):
        auth.register(name)
    with app.app_context():
        for name in ("probe-a", "probe-b"):
            db.session.execute(db.update(User).where(User.username == name).values(is_probe=True))
        db.session.commit()
    caller = auth.headers("probe-a")
    response = client.post("/call/start", json={"callee": "probe-b"}, headers=caller)
    assert response.status_code == 201
    assert deliveries(app) == []
    start_call(auth, client)  # a real call still enqueues one
    assert len(deliveries(app)) == 1


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_worker_serves_deliveries_by_outcome_on_its_metrics_port(app, auth, client, receiver):
    endpoint = receiver(500, 204)
    configure(app, endpoint.url)
    start_call(auth, client)
    port = free_port()
    env = {
        **os.environ,
        "CHIMECAST_ENV": "development",
        "CHIMECAST_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "CHIMECAST_WEBHOOK_URLS": endpoint.url,
        "CHIMECAST_WEBHOOK_SECRET": SECRET,
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "webhooks", "deliver",
         "--interval", "0.1", "--metrics-port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/metrics", 20, worker)
        deadline = time.monotonic() + 20
        while not endpoint.requests and time.monotonic() < deadline:
            time.sleep(0.1)
        due_now(app)  # the retry would come after ~2 s of backoff
        deadline = time.monotonic() + 20
        while len(endpoint.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as page:
            text = page.read().decode()
    finally:
        stop_process(worker)
    samples = {
        (s.name, tuple(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("chimecast_webhook_deliveries_total", (("outcome", "retry"),))] == 1
    assert samples[("chimecast_webhook_deliveries_total", (("outcome", "delivered"),))] == 1
    assert samples[("process_open_fds", ())] > 0


def due_now(app) -> None:
    from app.clock import utcnow
    from app.models import WebhookDelivery

    with app.app_context():
        db.session.execute(
            db.update(WebhookDelivery)
            .where(WebhookDelivery.status == "pending")
            .values(next_attempt_at=utcnow())
        )
        db.session.commit()
