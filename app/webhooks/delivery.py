"""Enqueue webhook deliveries with their event; deliver the due ones with backoff.

`deliver_due()` is run in a loop by `flask webhooks deliver` (the Procfile's `worker`).
A delivery is claimed by moving its `next_attempt_at` forward with a conditional UPDATE,
so several workers never send the same attempt twice.
"""

from __future__ import annotations

import json
import logging
import random
import urllib.error
import urllib.request
from datetime import timedelta

from flask import current_app
from prometheus_client import Counter
from sqlalchemy import select, update

from app.clock import utcnow
from app.extensions import db
from app.models import Event, WebhookDelivery
from app.webhooks.signing import HEADER, sign

log = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(seconds=60)  # a crashed worker's claim expires after this
MAX_BACKOFF = 3600
PRIVATE_KEYS = ("caller_session_id", "callee_session_id", "session_id", "probe")
# delivered; retry (failed, will be tried again); failed (gave up). Served by the worker's
# own /metrics (`flask webhooks deliver --metrics-port`).
DELIVERIES = Counter(
    "chimecast_webhook_deliveries_total", "Webhook delivery attempts, by outcome", ["outcome"]
)


def enqueue_webhooks(event_id: int) -> None:
    """Add one pending delivery per configured URL (in the caller's transaction)."""
    for url in current_app.config["WEBHOOK_URLS"]:
        db.session.add(WebhookDelivery(event_id=event_id, url=url))


def payload_of(event: Event) -> bytes:
    """The JSON body receivers get: the event without internal routing fields."""
    data = {k: v for k, v in event.data.items() if k not in PRIVATE_KEYS}
    body = {
        "id": event.id,
        "type": event.kind,
        "created_at": event.created_at.isoformat(),
        "data": data,
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff with jitter: about 2, 4, 8, ... seconds, capped at an hour."""
    return min(MAX_BACKOFF, 2**attempts) * random.uniform(0.8, 1.2)


def _claim(delivery: WebhookDelivery) -> bool:
    now = utcnow()
    result = db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery.id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at == delivery.next_attempt_at,
        )
        .values(next_attempt_at=now + CLAIM_LEASE)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def _post(url: str, body: bytes, event_id: int) -> tuple[int | None, str]:
    config = current_app.config
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("ChimeCast-Event-Id", str(event_id))
    request.add_header(HEADER, sign(config["WEBHOOK_SECRET"], body, int(utcnow().timestamp())))
    try:
        with urllib.request.urlopen(request, timeout=config["WEBHOOK_TIMEOUT"]) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return None, str(exc)[:500]


def attempt(delivery: WebhookDelivery) -> bool:
    """Send one delivery now and record the outcome (committed). True when delivered."""
    event = delivery.event
    status, error = _post(delivery.url, payload_of(event), event.id)
    delivery.attempts += 1
    delivery.last_status_code, delivery.last_error = status, error
    if status is not None and 200 <= status < 300:
        delivery.status, delivery.delivered_at = "delivered", utcnow()
        DELIVERIES.labels("delivered").inc()
    elif delivery.attempts >= current_app.config["WEBHOOK_MAX_ATTEMPTS"]:
        delivery.status = "failed"
        DELIVERIES.labels("failed").inc()
        log.warning(
            "webhook.failed",
            extra={"ctx": {"delivery": delivery.id, "url": delivery.url, "error": error}},
        )
    else:
        delivery.next_attempt_at = utcnow() + timedelta(seconds=backoff_seconds(delivery.attempts))
        DELIVERIES.labels("retry").inc()
    db.session.commit()
    return delivery.status == "delivered"


def deliver_due(limit: int = 50) -> int:
    """Attempt every pending delivery whose time has come; returns how many were attempted."""
    due = list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= utcnow())
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        )
    )
    attempted = 0
    for delivery in due:
        if _claim(delivery):
            db.session.refresh(delivery)
            attempt(delivery)
            attempted += 1
    return attempted
