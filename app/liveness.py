"""Which signaling daemons are alive, so whose connections count (README "Liveness").

Each daemon beats its `Node` row every NODE_REFRESH_INTERVAL. A node whose row is older
than NODE_STALE_AFTER, or that is `stopping`, is dead: its connection rows count for
nobody's presence, and a live daemon sweeps them. Both processes decide with this module:
the daemon whether a user is connected anywhere, the web app whether a user is online or
still busy in a call when the daemon that should end it may be gone too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, Select, and_, func, or_, select

from app.clock import utcnow
from app.extensions import db
from app.models import Connection, Node


def stale_cutoff(now: datetime | None = None) -> datetime:
    """Nodes last seen at or before this instant are dead."""
    return (now or utcnow()) - timedelta(seconds=current_app.config["NODE_STALE_AFTER"])


def live_node_ids(now: datetime | None = None, cutoff: Any = None) -> Select[Any]:
    """SELECT of the ids of live nodes (for `IN`). `cutoff` (a value or a bound
    parameter) replaces `stale_cutoff(now)` in statements built once."""
    cutoff = stale_cutoff(now) if cutoff is None else cutoff
    return select(Node.id).where(Node.seen_at > cutoff, Node.stopping.is_(False))


def counted(now: datetime | None = None, cutoff: Any = None) -> ColumnElement[bool]:
    """The condition on `Connection` that it counts: its node is live, or (a node that
    has never beaten: an older daemon, a test) the row is younger than NODE_STALE_AFTER."""
    cutoff = stale_cutoff(now) if cutoff is None else cutoff
    unknown_node = ~select(Node.id).where(Node.id == Connection.node_id).exists()
    return or_(
        Connection.node_id.in_(live_node_ids(cutoff=cutoff)),
        and_(unknown_node, Connection.node_seen_at > cutoff),
    )


def unreachable(user_id: Any, cutoff: Any) -> ColumnElement[bool]:
    """SQL: presence is known (some daemon is live) and `user_id` has no counted
    connection, so no device of theirs can ring. With no live daemon at all the web app
    cannot tell, and this is false: the call rings as before and is missed on timeout."""
    return and_(
        live_node_ids(cutoff=cutoff).exists(),
        ~select(Connection.id)
        .where(Connection.user_id == user_id, counted(cutoff=cutoff))
        .exists(),
    )


def abandoned_after() -> timedelta:
    """How long a device may be gone before anyone may end its call without a daemon.

    A live daemon notices a dead one within NODE_STALE_AFTER plus one beat and then gives
    the full RECONNECT_GRACE, so the web app waits no less than that.
    """
    config = current_app.config
    return timedelta(
        seconds=config["RECONNECT_GRACE"]
        + config["NODE_STALE_AFTER"]
        + config["NODE_REFRESH_INTERVAL"]
    )


def lost_since(user_id: int, session_id: int | None) -> datetime | None:
    """Since when the user's device (that session, or any when None) has had no counted
    connection, when the database alone can tell; None if it is connected, or if a live
    daemon may be holding its grace period (then that daemon decides).

    The device's rows on dead nodes date its loss (their node's last beat); with no
    rows and no live daemon at all, the last beat of any daemon does.
    """
    now = utcnow()
    cutoff = stale_cutoff(now)
    query = (
        select(func.coalesce(Node.seen_at, Connection.node_seen_at), Node.stopping)
        .select_from(Connection)
        .outerjoin(Node, Node.id == Connection.node_id)
        .where(Connection.user_id == user_id)
    )
    if session_id is not None:
        query = query.where(Connection.session_id == session_id)
    rows = db.session.execute(query).all()
    if any(seen > cutoff and not stopping for seen, stopping in rows):
        return None
    if rows:
        return max(seen for seen, _stopping in rows)
    if db.session.scalar(live_node_ids(now).limit(1)) is not None:
        return None
    return db.session.scalar(select(func.max(Node.seen_at)))


def abandoning_user(call: Any) -> int | None:
    """The participant of an active `call` whose device has been gone longer than
    `abandoned_after()` with no daemon left to end the call, or None. When both are gone,
    the one gone longer (the earlier loss; the caller on a tie), whichever side is asked."""
    limit = utcnow() - abandoned_after()
    sides = ((call.caller_id, call.caller_session_id), (call.callee_id, call.callee_session_id))
    gone = []
    for order, (user_id, session_id) in enumerate(sides):
        if user_id is None:
            continue
        since = lost_since(user_id, session_id)
        if since is not None and since < limit:
            gone.append((since, order, user_id))
    return min(gone)[2] if gone else None
