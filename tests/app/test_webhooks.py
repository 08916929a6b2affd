"""Signed webhooks: enqueued with call events, delivered to a real local HTTP server, retried."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import WebhookDelivery
from app.webhooks.delivery import deliver_due
from app.webhooks.signing import HEADER, sign, verify

SECRET = "whsec-test-0123456789"


class Receiver:
    """A webhook endpoint on 127.0.0.1 that answers with scripted status codes."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.requests: list[tuple[Any, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((self.headers, body))  # case-insensitive
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 204)
                self.end_headers()

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(*statuses: int) -> Receiver:
        made.append(Receiver(list(statuses)))
        return made[-1]

    yield make
    for r in made:
        r.close()


def configure(app, url: str, attempts: int = 8) -> None:
    app.config.update(WEBHOOK_URLS=[url], WEBHOOK_SECRET=SECRET, WEBHOOK_MAX_ATTEMPTS=attempts)


def start_call(auth, client) -> int:
    alice = auth.headers("alice")
    auth.headers("bob")
    response = client.post("/call/start", json={"callee": "bob"}, headers=alice)
    assert response.status_code == 201
    return response.json["call"]["id"]


def deliveries(app) -> list[WebhookDelivery]:
    with app.app_context():
        rows = list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
        db.session.expunge_all()
        return rows


def test_call_event_is_delivered_signed_after_retries_with_backoff(
    app, auth, client, clock, receiver
):
    hook = receiver(500, 503)
    configure(app, hook.url)
    call_id = start_call(auth, client)
    with app.app_context():
        assert deliver_due() == 1  # 500
        assert deliver_due() == 0  # not due yet: backing off
        clock.advance(seconds=3)
        assert deliver_due() == 1  # 503
        clock.advance(seconds=6)
        assert deliver_due() == 1  # 204
    (row,) = deliveries(app)
    assert row.status == "delivered" and row.attempts == 3 and row.last_status_code == 204
    headers, body = hook.requests[-1]
    timestamp = int(headers[HEADER].split(",")[0][2:])
    expected = hmac.new(
        SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    assert headers[HEADER] == f"t={timestamp},v1={expected}"
    event = json.loads(body)
    assert event["type"] == "call.ringing" and event["data"]["call"]["id"] == call_id
    assert "caller_session_id" not in event["data"], "internal routing data leaked"
    assert headers["ChimeCast-Event-Id"] == str(event["id"])


def test_delivery_gives_up_after_max_attempts_and_cli_lists_and_requeues_it(
    app, auth, client, clock, receiver, runner
):
    hook = receiver(500, 500, 500)
    configure(app, hook.url, attempts=2)
    start_call(auth, client)
    with app.app_context():
        deliver_due()
        clock.advance(seconds=10)
        deliver_due()
        clock.advance(hours=2)
        assert deliver_due() == 0
    (row,) = deliveries(app)
    assert row.status == "failed" and row.attempts == 2
    listed = runner.invoke(args=["webhooks", "failures", "--json"])
    assert listed.exit_code == 0
    assert [(r["id"], r["last_status_code"]) for r in json.loads(listed.output)] == [(row.id, 500)]
    assert runner.invoke(args=["webhooks", "retry", str(row.id)]).exit_code == 0
    assert runner.invoke(args=["webhooks", "retry", "999"]).exit_code != 0
    with app.app_context():
        assert deliver_due() == 1
    assert deliveries(app)[0].status == "pending"  # third scripted 500; retrying again


def test_unreachable_endpoint_is_recorded_not_raised(app, auth, client):
    configure(app, "http://127.0.0.1:9/nothing-listens-here")
    start_call(auth, client)
    with app.app_context():
        assert deliver_due() == 1
    (row,) = deliveries(app)
    assert row.status == "pending" and row.last_status_code is None and row.last_error


def test_no_webhooks_configured_means_no_deliveries(app, auth, client):
    start_call(auth, client)
    assert deliveries(app) == []


@pytest.mark.parametrize(
    ("mutate", "ok"),
    [
        (lambda h, b, t: (h, b, t), True),
        (lambda h, b, t: (h, b + b" ", t), False),
        (lambda h, b, t: (h.replace("v1=", "v1=0"), b, t), False),
        (lambda h, b, t: (h, b, t + 301), False),
        (lambda h, b, t: ("garbage", b, t), False),
    ],
    ids=["valid", "tampered_body", "tampered_mac", "too_old", "malformed"],
)
def test_signature_verification(mutate, ok):
    body, timestamp = b'{"id":1}', 1_700_000_000
    header, body, now = mutate(sign(SECRET, body, timestamp), body, timestamp)
    assert verify(SECRET, header, body, now=now) is ok
