"""Account operations shared by the HTTP API and the admin CLI."""

from __future__ import annotations

import re

from sqlalchemy import or_, select

from app import liveness
from app.auth.passwords import check_password_policy, hash_password
from app.auth.tokens import revoke_user_sessions
from app.calls.service import ACTIVE, active_calls_of, end_call
from app.clock import utcnow
from app.errors import ApiError
from app.extensions import db
from app.meetings import service as meetings
from app.models import Call, Connection, Meeting, MeetingParticipant, User
from app.users.schemas import USERNAME_INPUT_PATTERN, USERNAME_RULES


def normalize_username(raw: str) -> str:
    """Lower-cased username, or ApiError 400 `invalid_username`.

    `raw` must match USERNAME_INPUT_PATTERN as typed (the pattern the API documents): ASCII
    only before lower-casing, so no non-ASCII letter can lower-case into a valid name."""
    if not re.fullmatch(USERNAME_INPUT_PATTERN, raw):
        raise ApiError(400, "invalid_username", f"Usernames are {USERNAME_RULES}.")
    return raw.strip(" ").lower()


def clean_display_name(raw: str) -> str:
    """Display names are free text without control characters, at most 64 characters."""
    return "".join(ch for ch in raw if ch.isprintable()).strip()[:64]


def create_user(username: str, password: str, display_name: str = "") -> User:
    """Create an account (committed). 400 on bad username/password, 409 if taken."""
    username = normalize_username(username)
    check_password_policy(password, username)
    if db.session.scalar(select(User.id).filter_by(username=username)) is not None:
        raise ApiError(409, "username_taken", "That username is taken.")
    now = utcnow()
    user = User(
        username=username,
        display_name=clean_display_name(display_name) or username,
        password_hash=hash_password(password),
        created_at=now,
        password_changed_at=now,
    )
    db.session.add(user)
    return user


def set_password(user: User, new_password: str, keep_session_id: int | None = None) -> int:
    """Change the password and revoke the user's other sessions (not committed).

    Returns how many sessions were revoked.
    """
    check_password_policy(new_password, user.username)
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    return revoke_user_sessions(user.id, "password_changed", keep_session_id)


def hang_up_all(user: User) -> None:
    """End the user's ringing and active calls (committed, announced to the other side).

    Without this the other participant stays in a call with nobody, and is "busy" to
    every caller, until they hang up themselves.
    """
    for call in active_calls_of(user.id):
        end_call(user.id, call.id)


def set_disabled(user: User, disabled: bool) -> None:
    """Disable (ending their calls, leaving their meetings, revoking every session) or
    re-enable an account.

    The session revocation is not committed; ended calls and left meetings are.
    """
    if disabled:
        hang_up_all(user)
        meetings.leave_all(user, "account_disabled")
    user.is_disabled = disabled
    if disabled:
        revoke_user_sessions(user.id, "account_disabled")


def delete_user(user: User) -> None:
    """Delete an account: their calls end, they leave their meetings (the host role
    passes on; an emptied meeting ends), sessions go with it, call records keep the other
    side's history. The deletion is not committed; ended calls and left meetings are."""
    hang_up_all(user)
    meetings.leave_all(user, "account_deleted")
    revoke_user_sessions(user.id, "account_deleted")
    db.session.delete(user)


def find_user(username: str) -> User | None:
    return db.session.scalar(select(User).filter_by(username=username.strip().lower()))


def search_users(q: str, limit: int) -> list[User]:
    """Enabled users whose username or display name contains `q` (case-insensitive)."""
    query = select(User).where(User.is_disabled.is_(False)).order_by(User.username).limit(limit)
    if q:
        pattern = (
            "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        query = query.where(
            or_(
                User.username.like(pattern, escape="\\"),
                User.display_name.ilike(pattern, escape="\\"),
            )
        )
    return list(db.session.scalars(query))


def presence_of(user_ids: list[int]) -> dict[int, str]:
    """online / in_call / offline for each user id, from the connections of live daemons
    (app/liveness.py), active calls and open meetings they sit in."""
    if not user_ids:
        return {}
    online = set(
        db.session.scalars(
            select(Connection.user_id).where(Connection.user_id.in_(user_ids), liveness.counted())
        )
    )
    in_call = set()
    for caller, callee in db.session.execute(
        select(Call.caller_id, Call.callee_id).where(
            Call.state == ACTIVE,
            or_(Call.caller_id.in_(user_ids), Call.callee_id.in_(user_ids)),
        )
    ):
        in_call.update((caller, callee))
    # Sitting in an open meeting is as busy as a call (a call to them ends `busy`).
    in_call.update(
        db.session.scalars(
            select(MeetingParticipant.user_id)
            .join(Meeting, Meeting.id == MeetingParticipant.meeting_id)
            .where(
                MeetingParticipant.user_id.in_(user_ids),
                MeetingParticipant.state == "admitted",
                Meeting.state == "open",
            )
        )
    )
    return {
        uid: "in_call"
        if uid in in_call and uid in online
        else "online"
        if uid in online
        else "offline"
        for uid in user_ids
    }
