"""The call as a row: the columns every read and transition of a call returns.

A call row carries the `calls` columns plus the usernames of its caller, callee and
`ended_by` (None once an account is deleted) and the names shown for caller and callee
(display name, else username), so `schemas.call_record` can make the public record from
it without loading any object. Transitions return it with
`UPDATE ... RETURNING` (SQLite >= 3.35 and PostgreSQL both have it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, String, bindparam, literal_column, select

from app.models import Call, User

CALLS = Call.__table__
USERS = User.__table__


def _name_of(user_id: str) -> ColumnElement[Any]:
    """The username of the user whose id is the `calls` column `user_id`, as a correlated
    subquery: usable in RETURNING, where a join is not. Written out, because SQLAlchemy
    renders a RETURNING's columns unqualified (`id = caller_id`), which SQLite finds
    ambiguous inside a subquery."""
    sql = f"(SELECT users.username FROM users WHERE users.id = calls.{user_id})"
    return literal_column(sql, String)


def _shown_name_of(user_id: str) -> ColumnElement[Any]:
    """Like `_name_of`, the name people see: the display name, or the username if none."""
    sql = (
        "(SELECT COALESCE(NULLIF(users.display_name, ''), users.username) FROM users"
        f" WHERE users.id = calls.{user_id})"
    )
    return literal_column(sql, String)


COLUMNS = (
    *CALLS.c,
    _name_of("caller_id").label("caller"),
    _name_of("callee_id").label("callee"),
    _name_of("ended_by_id").label("ended_by"),
    _shown_name_of("caller_id").label("caller_name"),
    _shown_name_of("callee_id").label("callee_name"),
)

CALL_BY_ID = select(*COLUMNS).where(CALLS.c.id == bindparam("call_id"))
