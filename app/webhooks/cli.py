"""`flask webhooks deliver|failures|retry`."""

from __future__ import annotations

import json
import logging
import time

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from app.clock import utcnow
from app.extensions import db
from app.models import WebhookDelivery
from app.outage import UNAVAILABLE, Backoff, Outage, first_line
from app.procstats import BuildInfo
from app.webhooks.delivery import DELIVERIES, deliver_due

log = logging.getLogger(__name__)
OUTAGE_BACKOFF_CAP = 10.0  # seconds between polls at worst while the database is down

webhooks = AppGroup("webhooks", help="Signed webhooks for call events.")


@webhooks.command("deliver")
@click.option("--once", is_flag=True, help="Deliver what is due now and exit.")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between polls.")
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve this worker's Prometheus metrics on 127.0.0.1:PORT/metrics.",
)
def deliver(once: bool, interval: float, metrics_port: int | None) -> None:
    """Send due webhook deliveries, retrying failures with backoff."""
    if metrics_port is not None:
        serve_metrics(metrics_port)
    if once:
        click.echo(f"attempted {_deliver_or_explain()}")
        return
    # A database outage is ridden out: the poll backs off from `interval` to ~10 s and the
    # log gets outage.start / outage.ongoing (once a minute) / outage.end, no tracebacks.
    outage = Outage("database", logger=log)
    backoff = Backoff(first=interval, cap=max(interval, OUTAGE_BACKOFF_CAP))
    while True:
        try:
            attempted = deliver_due()
        except UNAVAILABLE as exc:
            _forget_session()
            outage.failed(exc, "webhooks.deliver")
            time.sleep(backoff.next_delay())
            continue
        _forget_session()
        outage.succeeded("webhooks.deliver")
        backoff.reset()
        if not attempted:
            time.sleep(interval)


def _deliver_or_explain() -> int:
    """One round of `deliver_due()`; an unreachable database is one line, exit status 1."""
    try:
        return deliver_due()
    except UNAVAILABLE as exc:
        raise click.ClickException(f"database unavailable: {first_line(exc)}") from None
    finally:
        _forget_session()


def _forget_session() -> None:
    """Drop the session (and its connection) so the next round starts on a fresh one;
    rolling back a connection the outage already broke must not kill the worker."""
    try:
        db.session.remove()
    except UNAVAILABLE:
        pass


def _rows(status: str) -> list[dict]:
    deliveries = db.session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.status == status).order_by(WebhookDelivery.id)
    )
    return [
        {
            "id": d.id,
            "event_id": d.event_id,
            "event": d.event.kind,
            "url": d.url,
            "attempts": d.attempts,
            "last_status_code": d.last_status_code,
            "last_error": d.last_error,
            "next_attempt_at": d.next_attempt_at.isoformat(),
        }
        for d in deliveries
    ]


@webhooks.command("failures")
@click.option("--pending", is_flag=True, help="List deliveries still being retried instead.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def failures(pending: bool, as_json: bool) -> None:
    """List webhook deliveries that failed for good (or are still retrying)."""
    rows = _rows("pending" if pending else "failed")
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no deliveries")
    for row in rows:
        click.echo(
            f"{row['id']:>6}  {row['event']:<14} attempts={row['attempts']:<3} "
            f"last={row['last_status_code'] or '-'}  {row['url']}  {row['last_error']}"
        )


@webhooks.command("retry")
@click.argument("delivery_id", type=int)
def retry(delivery_id: int) -> None:
    """Queue a failed delivery again, now."""
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise click.ClickException(f"no webhook delivery {delivery_id}")
    delivery.status, delivery.attempts, delivery.next_attempt_at = "pending", 0, utcnow()
    db.session.commit()
    click.echo(f"delivery {delivery_id} queued")


def serve_metrics(port: int) -> None:
    """Deliveries by outcome, process_* and build info, from a daemon thread."""
    from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server

    registry = CollectorRegistry()
    for collector in (DELIVERIES, BuildInfo()):
        registry.register(collector)
    ProcessCollector(registry=registry)
    try:
        start_http_server(port, addr="127.0.0.1", registry=registry)
    except OSError as exc:
        raise click.ClickException(f"cannot serve metrics on port {port}: {exc.strerror}") from exc


def init_app(app: Flask) -> None:
    app.cli.add_command(webhooks)
