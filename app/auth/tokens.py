"""Session tokens: issued once, stored as SHA-256, expired by idleness or age, revocable."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, select, update

from app.clock import utcnow
from app.events import publish
from app.extensions import db
from app.models import AuthSession, User

TOKEN_PREFIX = "ccs_"  # makes leaked tokens easy to recognise by secret scanners
LAST_SEEN_RESOLUTION = timedelta(seconds=60)  # don't write on every request
# Built once: every authenticated request runs them (see app/calls/service.py's statements).
# The lookup returns plain values, not the session and user objects: loading those is ~90 us
# of the ORM's per request (123 -> 36 us a lookup), and most requests need only the ids.
_SESSIONS, _USERS = AuthSession.__table__, User.__table__
_SESSION_ROW_BY_HASH = (
    select(_SESSIONS.c.id, _SESSIONS.c.user_id, _SESSIONS.c.revoked_at, _SESSIONS.c.expires_at,
           _SESSIONS.c.last_seen_at, _USERS.c.username, _USERS.c.display_name,
           _USERS.c.is_disabled)
    .join_from(_SESSIONS, _USERS, _USERS.c.id == _SESSIONS.c.user_id)
    .where(_SESSIONS.c.token_hash == bindparam("token_hash"))
)  # fmt: skip
_TOUCH_SESSION = (
    update(_SESSIONS)
    .where(_SESSIONS.c.id == bindparam("session_id"))
    .values(last_seen_at=bindparam("now"))
)
# The daemon checks the hellos that arrive together with one query and one UPDATE.
_SESSION_ROWS_BY_HASHES = (
    select(*_SESSION_ROW_BY_HASH.selected_columns, _SESSIONS.c.token_hash)
    .join_from(_SESSIONS, _USERS, _USERS.c.id == _SESSIONS.c.user_id)
    .where(_SESSIONS.c.token_hash.in_(bindparam("token_hashes", expanding=True)))
)
_TOUCH_SESSIONS = (
    update(_SESSIONS)
    .where(_SESSIONS.c.id.in_(bindparam("session_ids", expanding=True)))
    .values(last_seen_at=bindparam("now"))
)
_SESSION_BY_ID = select(AuthSession).where(AuthSession.id == bindparam("session_id"))


@dataclass(frozen=True)
class LiveSession:
    """A live login session and its user, as plain values: what authenticating yields."""

    session_id: int
    user_id: int
    username: str
    display_name: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_session(user: User, ip: str, user_agent: str) -> tuple[str, AuthSession]:
    """Create a session for `user` (not committed) and return (token, session).

    The token carries 256 bits from `secrets`; only its hash is stored.
    """
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    session = AuthSession(
        user=user,
        token_hash=hash_token(token),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=current_app.config["TOKEN_LIFETIME"]),
        ip=ip,
        user_agent=user_agent[:256],
    )
    db.session.add(session)
    return token, session


def _alive(revoked_at: datetime | None, expires_at: datetime, last_seen_at: datetime,
           user_disabled: bool) -> bool:  # fmt: skip
    """Not revoked, not past its absolute lifetime, not idle too long, user enabled."""
    now = utcnow()
    idle = timedelta(seconds=current_app.config["TOKEN_IDLE_TIMEOUT"])
    return (
        revoked_at is None and now < expires_at and now < last_seen_at + idle and not user_disabled
    )


def is_live(session: AuthSession) -> bool:
    """Whether `session` can still authenticate (see `_alive`)."""
    return _alive(session.revoked_at, session.expires_at, session.last_seen_at,
                  session.user.is_disabled)  # fmt: skip


def find_live_session(token: str, touch: bool = True) -> LiveSession | None:
    """The live session for `token`, or None. `touch` records use (at most once a minute)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        return None
    row = db.session.execute(_SESSION_ROW_BY_HASH, {"token_hash": hash_token(token)}).first()
    if row is None or not _alive(row.revoked_at, row.expires_at, row.last_seen_at,
                                 row.is_disabled):  # fmt: skip
        return None
    now = utcnow()
    if touch and now - row.last_seen_at > LAST_SEEN_RESOLUTION:
        db.session.execute(_TOUCH_SESSION, {"session_id": row.id, "now": now})
        db.session.commit()
    return LiveSession(row.id, row.user_id, row.username, row.display_name or row.username)


def find_live_sessions(tokens: list[str]) -> dict[str, LiveSession]:
    """`find_live_session` for many tokens at once: one SELECT, and one UPDATE (committed)
    touching those due. Maps each token that is live to its session; the others are absent."""
    hashes = {
        hash_token(token): token
        for token in tokens
        if token.startswith(TOKEN_PREFIX) and len(token) <= 128
    }
    if not hashes:
        return {}
    rows = db.session.execute(_SESSION_ROWS_BY_HASHES, {"token_hashes": list(hashes)})
    now = utcnow()
    found, due = {}, []
    for row in rows:
        if not _alive(row.revoked_at, row.expires_at, row.last_seen_at, row.is_disabled):
            continue
        if now - row.last_seen_at > LAST_SEEN_RESOLUTION:
            due.append(row.id)
        name = row.display_name or row.username
        found[hashes[row.token_hash]] = LiveSession(row.id, row.user_id, row.username, name)
    if due:
        db.session.execute(_TOUCH_SESSIONS, {"session_ids": due, "now": now})
        db.session.commit()
    return found


def load_session(session_id: int) -> AuthSession | None:
    """The session object with its user (one query), for views that change or show them."""
    return db.session.scalar(_SESSION_BY_ID, {"session_id": session_id})


def revoke_sessions(sessions: list[AuthSession], reason: str) -> None:
    """Mark sessions revoked (not committed) and tell the daemon to close their sockets."""
    now = utcnow()
    for session in sessions:
        if session.revoked_at is None:
            session.revoked_at = now
            session.revoke_reason = reason
    ids = [s.id for s in sessions]
    if ids:
        user_ids = sorted({s.user_id for s in sessions})
        publish("session.revoked", user_ids, {"session_ids": ids, "reason": reason})


def revoke_user_sessions(user_id: int, reason: str, keep_session_id: int | None = None) -> int:
    """Revoke every live session of a user except `keep_session_id` (not committed)."""
    query = select(AuthSession).where(
        AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)
    )
    if keep_session_id is not None:
        query = query.where(AuthSession.id != keep_session_id)
    sessions = list(db.session.scalars(query))
    revoke_sessions(sessions, reason)
    return len(sessions)


def purge_expired_sessions() -> int:
    """Delete sessions that can never be used again; returns how many (committed)."""
    now = utcnow()
    idle_cutoff = now - timedelta(seconds=current_app.config["TOKEN_IDLE_TIMEOUT"])
    result = db.session.execute(
        AuthSession.__table__.delete().where(
            (AuthSession.expires_at <= now)
            | (AuthSession.last_seen_at <= idle_cutoff)
            | AuthSession.revoked_at.is_not(None)
        )
    )
    db.session.commit()
    return result.rowcount or 0


__all__ = [
    "LiveSession",
    "find_live_session",
    "hash_token",
    "is_live",
    "issue_session",
    "load_session",
    "purge_expired_sessions",
    "revoke_sessions",
    "revoke_user_sessions",
]
