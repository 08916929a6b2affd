"""Writes the session log (`auth_events`): who did what, when, from where. Never a secret."""

from __future__ import annotations

import logging

from flask import has_request_context

from app import logs
from app.auth.current import client_ip, user_agent
from app.extensions import db
from app.models import AuthEvent, User

log = logging.getLogger(__name__)


class AuthEventKind:
    REGISTER = "register"
    LOGIN_SUCCESS = "login_success"
    LOGIN_FAILURE = "login_failure"
    LOGIN_THROTTLED = "login_throttled"
    REGISTER_THROTTLED = "register_throttled"
    REGISTER_REFUSED = "register_refused"  # a bad or taken username, a weak password
    LOGOUT = "logout"
    SESSION_REVOKED = "session_revoked"
    PASSWORD_CHANGED = "password_changed"
    ACCOUNT_DELETED = "account_deleted"
    ACCOUNT_DISABLED = "account_disabled"
    ACCOUNT_ENABLED = "account_enabled"


def record(
    kind: str,
    user: User | None = None,
    username: str = "",
    session_id: int | None = None,
    detail: str = "",
) -> AuthEvent:
    """Add a session-log row (committed with the caller's change).

    Inside a request the row carries the client's IP and user agent; outside one (the admin
    CLI, the signaling daemon) both are left empty and `detail` says who acted.
    """
    event = reserve(kind, username)
    settle(event, kind, user, session_id, detail)
    return event


def reserve(kind: str, username: str) -> AuthEvent:
    """Add a row for an attempt whose outcome is not known yet (see app/auth/throttle.py),
    without logging it: `settle` gives it its outcome and logs it."""
    in_request = has_request_context()
    event = AuthEvent(
        kind=kind,
        username=username[:64],
        ip=client_ip() if in_request else "",
        user_agent=user_agent() if in_request else "",
    )
    db.session.add(event)
    return event


def settle(
    event: AuthEvent,
    kind: str,
    user: User | None = None,
    session_id: int | None = None,
    detail: str = "",
) -> None:
    """Give `event` its final kind, user and detail (committed with the caller's change)."""
    event.kind = kind
    if user is not None:
        event.user_id, event.username = user.id, user.username[:64]
    event.session_id = session_id
    event.detail = detail[:128]
    logs.event(
        log, f"auth.{kind}", user=event.username, session=session_id, ip=event.ip,
        detail=event.detail or None,
    )  # fmt: skip
