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
    in_request = has_request_context()
    event = AuthEvent(
        kind=kind,
        user_id=user.id if user is not None else None,
        username=(user.username if user is not None else username)[:64],
        session_id=session_id,
        ip=client_ip() if in_request else "",
        user_agent=user_agent() if in_request else "",
        detail=detail[:128],
    )
    db.session.add(event)
    logs.event(
        log, f"auth.{kind}", user=event.username, session=session_id, ip=event.ip,
        detail=event.detail or None,
    )  # fmt: skip
    return event
