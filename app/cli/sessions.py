"""`flask sessions ...`: list login sessions, revoke them, purge dead ones."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import select

from app.auth import audit
from app.auth.audit import AuthEventKind
from app.auth.tokens import is_live, purge_expired_sessions, revoke_sessions
from app.cli.output import AdminGroup, emit, emit_json, json_option, when
from app.cli.users import ADMIN, get_user
from app.extensions import db
from app.models import AuthSession

sessions = AdminGroup("sessions", help="Inspect and revoke login sessions (bearer tokens).")

COLUMNS = (
    ("id", "id"),
    ("username", "user"),
    ("status", "status"),
    ("created", "created (utc)"),
    ("last_seen", "last seen (utc)"),
    ("ip", "ip"),
    ("user_agent", "user agent"),
)


def status_of(session: AuthSession) -> str:
    """live, revoked (with the reason) or expired."""
    if session.revoked_at is not None:
        return f"revoked:{session.revoke_reason}" if session.revoke_reason else "revoked"
    return "live" if is_live(session) else "expired"


def session_row(session: AuthSession) -> dict[str, Any]:
    return {
        "id": session.id,
        "username": session.user.username,
        "status": status_of(session),
        "created": when(session.created_at),
        "last_seen": when(session.last_seen_at),
        "ip": session.ip,
        "user_agent": session.user_agent[:40],
    }


def session_json(session: AuthSession) -> dict[str, Any]:
    """Everything stored about a session except its token hash."""
    return {
        "id": session.id,
        "username": session.user.username,
        "status": status_of(session),
        "created_at": session.created_at.isoformat(),
        "last_seen_at": session.last_seen_at.isoformat(),
        "expires_at": session.expires_at.isoformat(),
        "revoked_at": session.revoked_at.isoformat() if session.revoked_at else None,
        "revoke_reason": session.revoke_reason,
        "ip": session.ip,
        "user_agent": session.user_agent,
    }


@sessions.command("list")
@click.option("--user", "username", help="Only this user's sessions.")
@click.option("--all", "show_all", is_flag=True, help="Include revoked and expired sessions.")
@json_option
def list_command(username: str | None, show_all: bool, as_json: bool) -> None:
    """List live sessions, newest first."""
    statement = select(AuthSession).order_by(AuthSession.created_at.desc(), AuthSession.id.desc())
    if username:
        statement = statement.where(AuthSession.user_id == get_user(username).id)
    found = [s for s in db.session.scalars(statement) if show_all or is_live(s)]
    if as_json:
        emit_json([session_json(s) for s in found])
    else:
        emit([session_row(s) for s in found], COLUMNS, False, "No sessions.")


@sessions.command("revoke")
@click.argument("session_ids", nargs=-1, type=int)
@click.option("--user", "username", help="Revoke every live session of this user.")
def revoke_command(session_ids: tuple[int, ...], username: str | None) -> None:
    """Revoke sessions by id, or all of one user's (--user)."""
    if not session_ids and not username:
        raise click.UsageError("Give session ids or --user USERNAME.")
    chosen: list[AuthSession] = []
    for session_id in session_ids:
        session = db.session.get(AuthSession, session_id)
        if session is None:
            raise click.ClickException(f"No session with id {session_id}.")
        if session.revoked_at is not None:
            raise click.ClickException(f"Session {session_id} is already revoked.")
        chosen.append(session)
    if username:
        user = get_user(username)
        chosen += [
            s
            for s in db.session.scalars(
                select(AuthSession).where(
                    AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None)
                )
            )
            if s not in chosen
        ]
    revoke_sessions(chosen, "revoked_by_admin")
    for session in chosen:
        audit.record(
            AuthEventKind.SESSION_REVOKED, session.user, session_id=session.id, detail=ADMIN
        )
    db.session.commit()
    click.echo(f"Revoked {len(chosen)} session(s).")


@sessions.command("purge")
@json_option
def purge_command(as_json: bool) -> None:
    """Delete expired, idle and revoked sessions."""
    count = purge_expired_sessions()
    if as_json:
        emit_json({"purged": count})
    else:
        click.echo(f"Purged {count} session(s).")
