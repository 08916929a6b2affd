"""Login throttling, counted from the session log so every worker and process agrees.

A username or a client IP with too many failures inside LOGIN_WINDOW is refused with 429
until the oldest counted failure leaves the window. A successful login resets the count:
only failures after the last success are counted.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, func, select

from app.auth.audit import AuthEventKind
from app.clock import utcnow
from app.errors import ApiError
from app.extensions import db
from app.models import AuthEvent


def _recent_failures(match: ColumnElement[bool], since: datetime) -> list[datetime]:
    last_success = db.session.scalar(
        select(func.max(AuthEvent.at)).where(
            match, AuthEvent.kind == AuthEventKind.LOGIN_SUCCESS, AuthEvent.at >= since
        )
    )
    start = max(since, last_success) if last_success else since
    return list(
        db.session.scalars(
            select(AuthEvent.at)
            .where(match, AuthEvent.kind == AuthEventKind.LOGIN_FAILURE, AuthEvent.at > start)
            .order_by(AuthEvent.at)
        )
    )


def check_login_allowed(username: str, ip: str) -> None:
    """Raise ApiError 429 with Retry-After when this username or IP must wait."""
    config = current_app.config
    window = timedelta(seconds=config["LOGIN_WINDOW"])
    now = utcnow()
    since = now - window
    limits = (
        (AuthEvent.username == username, config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]),
        (AuthEvent.ip == ip, config["LOGIN_MAX_FAILURES_PER_IP"]),
    )
    for match, limit in limits:
        failures = _recent_failures(match, since)
        if len(failures) >= limit:
            free_at = failures[len(failures) - limit] + window
            retry_after = max(1, math.ceil((free_at - now).total_seconds()))
            raise ApiError(
                429,
                "too_many_attempts",
                "Too many failed logins. Try again later.",
                headers={"Retry-After": str(retry_after)},
            )
