"""Recent contacts: the people a user called or was called by, latest call first."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, or_, select

from app.extensions import db
from app.models import Call, User


def contact_ids(user_id: int, limit: int) -> list[int]:
    """Ids of the people `user_id` called or was called by, latest call first (one query:
    the daemon asks it on connect, to tell them when this user comes and goes)."""
    other = case((Call.caller_id == user_id, Call.callee_id), else_=Call.caller_id)
    found = db.session.execute(
        select(other.label("other_id"))
        .where(or_(Call.caller_id == user_id, Call.callee_id == user_id), other.is_not(None))
        .group_by(other)
        .order_by(func.max(Call.created_at).desc())
        .limit(limit)
    )
    return [row.other_id for row in found]


def recent_contacts(user_id: int, limit: int) -> list[tuple[User, datetime]]:
    """(other user, start of the latest call with them), newest first; deleted and disabled
    accounts are left out (nobody can call them)."""
    other = case((Call.caller_id == user_id, Call.callee_id), else_=Call.caller_id)
    latest = (
        select(other.label("other_id"), func.max(Call.created_at).label("last_call_at"))
        .where(or_(Call.caller_id == user_id, Call.callee_id == user_id))
        .group_by(other)
        .subquery()
    )
    found = db.session.execute(
        select(User, latest.c.last_call_at)
        .join(latest, latest.c.other_id == User.id)
        .where(User.is_disabled.is_(False))
        .order_by(latest.c.last_call_at.desc(), User.id.desc())
        .limit(limit)
    )
    return [(user, last) for user, last in found]
