"""Login and registration throttling, counted from the session log so every worker and
process agrees.

An attempt is reserved before any work: its row is written to the log (a login as a
failure, a registration as a registration) and committed, and only then are the rows
counted. Every attempt in flight is therefore in every other attempt's count, and of N
attempts racing past a limit of L at most L go on, on any database and in any number of
processes (the last of them to commit its row counts all of them). A refused attempt's row
is turned into a `*_throttled` one, which no limit counts.

Logins have two limits inside LOGIN_WINDOW:
- per client IP, LOGIN_MAX_FAILURES_PER_IP failures over all usernames; nothing resets it;
- per account *and* client IP, LOGIN_MAX_FAILURES_PER_ACCOUNT failures; a success of that
  account from that IP resets it. An address that has not failed for an account is never
  refused by this limit, so strangers cannot lock the owner out (OWASP's advice against
  account lockout as a denial of service).
Registrations: REGISTRATION_LIMIT per client IP per REGISTRATION_WINDOW.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, func, select

from app.auth import audit
from app.auth.audit import AuthEventKind
from app.clock import utcnow
from app.errors import ApiError
from app.extensions import db
from app.models import AuthEvent


def _too_many(retry_after: int, message: str) -> ApiError:
    return ApiError(
        429, "too_many_attempts", message, headers={"Retry-After": str(max(1, retry_after))}
    )


def _counted(
    kind: str, match: ColumnElement[bool], since: datetime, after_id: int = 0
) -> list[tuple[int, datetime]]:
    """(id, at) of the `kind` rows matching `match` inside the window, oldest first."""
    return list(
        db.session.execute(
            select(AuthEvent.id, AuthEvent.at)
            .where(match, AuthEvent.kind == kind, AuthEvent.at > since, AuthEvent.id > after_id)
            .order_by(AuthEvent.at, AuthEvent.id)
        )
    )


def _wait(rows: list[tuple[int, datetime]], mine: int, limit: int, window: timedelta) -> int:
    """Seconds until fewer than `limit` rows other than `mine` are left in the window;
    0 when `rows` (which include `mine`) are within the limit."""
    if len(rows) <= limit:
        return 0
    others = [at for row_id, at in rows if row_id != mine]
    if len(others) < limit:  # refused only because of rows in flight: try again soon
        return 1
    free_at = others[len(others) - limit] + window
    return math.ceil((free_at - utcnow()).total_seconds())


def _last_success_id(match: ColumnElement[bool], since: datetime) -> int:
    return (
        db.session.scalar(
            select(func.max(AuthEvent.id)).where(
                match, AuthEvent.kind == AuthEventKind.LOGIN_SUCCESS, AuthEvent.at > since
            )
        )
        or 0
    )


def reserve_login(username: str) -> AuthEvent:
    """Log this login attempt as a failure (committed) and check it against both limits.

    Returns the reserved row, for `settle_login`. Raises ApiError 429 with Retry-After,
    the row turned into `login_throttled`, when this IP or this account from this IP
    must wait; the password must then not be checked.
    """
    event = audit.reserve(AuthEventKind.LOGIN_FAILURE, username)
    db.session.commit()
    config = current_app.config
    window = timedelta(seconds=config["LOGIN_WINDOW"])
    since = utcnow() - window
    by_ip = AuthEvent.ip == event.ip
    by_account = (AuthEvent.username == username) & by_ip
    checks = (
        (_counted(AuthEventKind.LOGIN_FAILURE, by_ip, since), config["LOGIN_MAX_FAILURES_PER_IP"]),
        (
            _counted(
                AuthEventKind.LOGIN_FAILURE, by_account, since, _last_success_id(by_account, since)
            ),
            config["LOGIN_MAX_FAILURES_PER_ACCOUNT"],
        ),
    )
    wait = max(_wait(rows, event.id, limit, window) for rows, limit in checks)
    if wait > 0:
        audit.settle(event, AuthEventKind.LOGIN_THROTTLED)
        db.session.commit()
        raise _too_many(wait, "Too many failed logins. Try again later.")
    return event


def reserve_registration(username: str) -> AuthEvent:
    """Log this registration attempt (committed, no user yet) and check the per-IP limit.

    Returns the reserved row: the caller fills in the user, or turns it into
    `register_refused` when the account is not made. Raises ApiError 429 (the row turned
    into `register_throttled`) when this IP registered REGISTRATION_LIMIT accounts already.
    """
    event = audit.reserve(AuthEventKind.REGISTER, username)
    db.session.commit()
    config = current_app.config
    window = timedelta(seconds=config["REGISTRATION_WINDOW"])
    rows = _counted(AuthEventKind.REGISTER, AuthEvent.ip == event.ip, utcnow() - window)
    wait = _wait(rows, event.id, config["REGISTRATION_LIMIT"], window)
    if wait > 0:
        audit.settle(event, AuthEventKind.REGISTER_THROTTLED)
        db.session.commit()
        raise _too_many(wait, "Too many accounts registered from this address. Try again later.")
    return event
