"""Recent contacts: the people a user called or was called by, latest call first."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, bindparam, case, func, or_, select, union_all

from app.extensions import db
from app.models import Call, User


def _contact_ids_statement() -> Select:
    """Each user's people, latest call first, numbered: built once, as the daemon runs it
    for every batch of hellos (building it costs more than running it on a small table)."""
    user_ids = bindparam("user_ids", expanding=True)
    sides = union_all(
        select(
            Call.caller_id.label("user_id"), Call.callee_id.label("other_id"), Call.created_at
        ).where(Call.caller_id.in_(user_ids), Call.callee_id.is_not(None)),
        select(
            Call.callee_id.label("user_id"), Call.caller_id.label("other_id"), Call.created_at
        ).where(Call.callee_id.in_(user_ids), Call.caller_id.is_not(None)),
    ).subquery()
    latest = (
        select(sides.c.user_id, sides.c.other_id, func.max(sides.c.created_at).label("last"))
        .group_by(sides.c.user_id, sides.c.other_id)
        .subquery()
    )
    rank = func.row_number().over(
        partition_by=latest.c.user_id, order_by=(latest.c.last.desc(), latest.c.other_id)
    )
    ranked = select(latest.c.user_id, latest.c.other_id, latest.c.last, rank.label("n")).subquery()
    return (
        select(ranked.c.user_id, ranked.c.other_id)
        .where(ranked.c.n <= bindparam("limit"))
        .order_by(ranked.c.user_id, ranked.c.n)
    )


_CONTACT_IDS = _contact_ids_statement()


def contact_ids_of(user_ids: list[int], limit: int) -> dict[int, list[int]]:
    """For each of `user_ids`, the ids of the people they called or were called by, latest
    call first, at most `limit` each. One query for all of them: the daemon asks it for the
    hellos that arrive together, to tell those people when each user comes and goes."""
    if not user_ids:
        return {}
    contacts: dict[int, list[int]] = {}
    for row in db.session.execute(_CONTACT_IDS, {"user_ids": list(user_ids), "limit": limit}):
        contacts.setdefault(row.user_id, []).append(row.other_id)
    return contacts


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
