"""`flask users ...`: create, inspect, disable, enable, delete accounts and reset passwords."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from app.auth import audit
from app.auth.audit import AuthEventKind
from app.auth.tokens import is_live
from app.cli.output import (
    AdminGroup,
    emit,
    emit_json,
    fields,
    json_option,
    password_stdin_option,
    read_password,
    user_errors,
    when,
)
from app.extensions import db
from app.models import AuthEvent, AuthSession, Call, User
from app.users.service import (
    create_user,
    delete_user,
    find_user,
    hang_up_all,
    set_disabled,
    set_password,
)

users = AdminGroup("users", help="Manage user accounts.")

ADMIN = "by admin (flask cli)"
COLUMNS = (
    ("username", "username"),
    ("display_name", "display name"),
    ("status", "status"),
    ("live_sessions", "sessions"),
    ("created", "created (utc)"),
)


def get_user(username: str) -> User:
    """The account named `username`, or a ClickException."""
    user = find_user(username)
    if user is None:
        raise click.ClickException(f"No user named {username!r}.")
    return user


def live_sessions(user: User) -> list[AuthSession]:
    candidates = db.session.scalars(
        select(AuthSession).where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
    )
    return [s for s in candidates if is_live(s)]


def user_row(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "display_name": user.display_name,
        "status": "disabled" if user.is_disabled else "active",
        "live_sessions": len(live_sessions(user)),
        "created": when(user.created_at),
        "created_at": user.created_at.isoformat(),
    }


def _row_json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "created"}


@users.command("create")
@click.argument("username")
@click.option("--display-name", default="", help="Name shown to others (default: username).")
@click.option(
    "--probe", is_flag=True, help="A monitoring account for chimecast-probe: its calls are probes."
)
@password_stdin_option
@json_option
def create_command(
    username: str, display_name: str, probe: bool, password_stdin: bool, as_json: bool
) -> None:
    """Create an account (password prompted, or --password-stdin)."""
    password = read_password(password_stdin)
    with user_errors():
        user = create_user(username, password, display_name)
        user.is_probe = probe
        try:
            db.session.flush()
        except IntegrityError as exc:
            db.session.rollback()
            raise click.ClickException(f"The username {user.username!r} is taken.") from exc
        audit.record(AuthEventKind.REGISTER, user, detail=ADMIN)
        db.session.commit()
    if as_json:
        emit_json(_row_json(user_row(user)))
    else:
        click.echo(f"Created user {user.username}.")


@users.command("list")
@click.option("--disabled", "only_disabled", is_flag=True, help="Only disabled accounts.")
@click.option("-q", "--query", default="", help="Only usernames or display names containing this.")
@json_option
def list_command(only_disabled: bool, query: str, as_json: bool) -> None:
    """List accounts, alphabetically."""
    statement = select(User).order_by(User.username)
    if only_disabled:
        statement = statement.where(User.is_disabled.is_(True))
    if query:
        pattern = f"%{query.lower()}%"
        statement = statement.where(
            or_(User.username.like(pattern), User.display_name.ilike(pattern))
        )
    rows = [user_row(u) for u in db.session.scalars(statement)]
    emit(rows, COLUMNS, as_json, "No users.", _row_json)


def _details(user: User) -> dict[str, Any]:
    mine = or_(Call.caller_id == user.id, Call.callee_id == user.id)
    last_login = db.session.scalar(
        select(func.max(AuthEvent.at)).where(
            AuthEvent.user_id == user.id, AuthEvent.kind == AuthEventKind.LOGIN_SUCCESS
        )
    )
    return {
        **_row_json(user_row(user)),
        "created_at": user.created_at,
        "password_changed_at": user.password_changed_at,
        "last_login_at": last_login,
        "calls": db.session.scalar(select(func.count(Call.id)).where(mine)) or 0,
    }


SHOW_LABELS = {
    "username": "Username",
    "display_name": "Display name",
    "status": "Status",
    "live_sessions": "Live sessions",
    "created_at": "Created (utc)",
    "password_changed_at": "Password changed",
    "last_login_at": "Last login",
    "calls": "Calls",
}


@users.command("show")
@click.argument("username")
@json_option
def show_command(username: str, as_json: bool) -> None:
    """Show one account in detail."""
    details = _details(get_user(username))
    if as_json:
        emit_json({k: v.isoformat() if isinstance(v, datetime) else v for k, v in details.items()})
        return
    shown = [
        (label, when(details[key]) if key.endswith("_at") else details[key])
        for key, label in SHOW_LABELS.items()
    ]
    click.echo(fields(shown))


def _revocable(user: User) -> int:
    return len(live_sessions(user))


@users.command("disable")
@click.argument("username")
def disable_command(username: str) -> None:
    """Disable an account; revokes every session."""
    user = get_user(username)
    if user.is_disabled:
        raise click.ClickException(f"{user.username} is already disabled.")
    count = _revocable(user)
    hang_up_all(user)
    set_disabled(user, True)
    audit.record(AuthEventKind.ACCOUNT_DISABLED, user, detail=ADMIN)
    db.session.commit()
    click.echo(f"Disabled {user.username}; revoked {count} live session(s).")


@users.command("enable")
@click.argument("username")
def enable_command(username: str) -> None:
    """Re-enable a disabled account."""
    user = get_user(username)
    if not user.is_disabled:
        raise click.ClickException(f"{user.username} is not disabled.")
    set_disabled(user, False)
    audit.record(AuthEventKind.ACCOUNT_ENABLED, user, detail=ADMIN)
    db.session.commit()
    click.echo(f"Enabled {user.username}.")


@users.command("delete")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete_command(username: str, yes: bool) -> None:
    """Delete an account; the other side keeps the call records."""
    user = get_user(username)
    if not yes:
        click.confirm(f"Delete {user.username} for good?", abort=True)
    name = user.username
    hang_up_all(user)  # commits; done first so nothing else is pending when it does
    audit.record(AuthEventKind.ACCOUNT_DELETED, user, detail=f"{name} {ADMIN}")
    delete_user(user)
    db.session.commit()
    click.echo(f"Deleted {name}.")


@users.command("set-password")
@click.argument("username")
@password_stdin_option
def set_password_command(username: str, password_stdin: bool) -> None:
    """Set a new password; revokes every session."""
    user = get_user(username)
    password = read_password(password_stdin)
    with user_errors():
        count = set_password(user, password)
    audit.record(AuthEventKind.PASSWORD_CHANGED, user, detail=ADMIN)
    db.session.commit()
    click.echo(f"Password changed for {user.username}; revoked {count} session(s).")
