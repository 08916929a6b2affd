"""The only module of the daemon that touches the database.

sqlite3 (and psycopg) calls do not yield to gevent, so every method runs its work in the
hub's threadpool, with a bounded wait (signaling.state.runners): each job pushes its own
app context, and removes its SQLAlchemy session when it is done. Methods return plain
dataclasses, never ORM objects, so nothing lazy-loads later on the hub. The call state
machine is `app.calls.service`; this module only calls it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

from flask import Flask
from sqlalchemy import bindparam, delete, func, or_, select, update

from app import liveness, logs
from app.api import MAX_ID
from app.auth.tokens import find_live_sessions
from app.calls import service
from app.calls.schemas import call_record
from app.clock import utcnow
from app.errors import ApiError
from app.events import PUBLISHED
from app.extensions import db
from app.ice.credentials import ice_servers_for
from app.janus import withdrawals
from app.meetings import service as meetings
from app.models import Connection, Event, Meeting, MeetingParticipant, Node, User
from app.outage import UNAVAILABLE
from app.users.contacts import contact_ids_of
from app.users.service import presence_of
from signaling import metrics
from signaling.errors import CallServiceError
from signaling.state.batches import Batch, Wanted
from signaling.state.call_cache import Membership
from signaling.state.runners import Runner

log = logging.getLogger(__name__)
# How many recent contacts hear a user come online and leave (the newest callers first).
CONTACTS_TOLD = 50
T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True)
class Identity:
    """An authenticated connection's user and login session."""

    user_id: int
    username: str
    display_name: str
    session_id: int


@dataclass(frozen=True)
class ConnectInfo:
    """What `welcome` needs: ICE servers, the user's ringing/active calls, who of them is online."""

    ice_servers: list[dict[str, Any]]
    calls: list[Membership]
    online_user_ids: frozenset[int]
    # Recent contacts (app.users.contacts), told when this user comes online and leaves.
    contact_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class OutboxEvent:
    id: int
    kind: str
    call_id: int | None
    user_ids: list[int]
    data: dict[str, Any]
    created_at: datetime | None = None


def membership_of(row: Any) -> Membership:
    """Who is in the call, from a call row (`app.calls.rows.COLUMNS`)."""
    return Membership(
        call_id=row.id,
        state=row.state,
        caller_id=row.caller_id,
        callee_id=row.callee_id,
        caller=row.caller,
        callee=row.callee,
        caller_session_id=row.caller_session_id,
        callee_session_id=row.callee_session_id,
        call=call_record(row),
    )


@dataclass(frozen=True)
class LostDevice:
    """A device whose connections were on a dead node: its user's ringing/active calls,
    and the open meetings it is admitted to."""

    user_id: int
    session_id: int
    calls: list[Membership]
    meetings: list[int]


@dataclass(frozen=True)
class Beat:
    """One liveness beat: whether this node's row was still there, who was lost, and
    whether this beat swept a dead node."""

    node_was_there: bool
    lost: list[LostDevice]
    swept: bool = False


@dataclass(frozen=True)
class Orphans:
    """Devices in an active call or an open meeting that no live daemon holds, whatever
    the reason (their daemon died while their grace period ran there, say)."""

    calls: list[tuple[Membership, int]]  # (call, the user whose device is gone)
    seats: list[tuple[int, int, int]]  # (meeting id, user id, session id)


def _connected_devices(devices: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """Which of these (user id, session id)s have a counted connection: one query for all
    (a sweep asks about every device of every active call and open meeting at once)."""
    if not devices:
        return set()
    users = sorted({user_id for user_id, _ in devices})
    query = select(Connection.user_id, Connection.session_id).where(
        Connection.user_id.in_(users), liveness.counted()
    )
    return {(user_id, session_id) for user_id, session_id in db.session.execute(query)}


def _beat(node_id: str) -> bool:
    """Upsert this node's row as live now (not committed); False if it had to be created."""
    now = utcnow()
    beat = update(Node).where(Node.id == node_id).values(seen_at=now, stopping=False)
    if db.session.execute(beat).rowcount == 1:
        return True
    db.session.add(Node(id=node_id, started_at=now, seen_at=now, stopping=False))
    return False


def _take_rows(node_id: str) -> list[Any]:
    """Delete a node's connection rows (not committed); their (user id, session id)s."""
    taken = delete(Connection).where(Connection.node_id == node_id)
    return list(db.session.execute(taken.returning(Connection.user_id, Connection.session_id)))


def _take_orphan_rows() -> list[Any]:
    """Delete rows of nodes that never beat (older daemons), once stale (committed)."""
    orphaned = delete(Connection).where(
        ~select(Node.id).where(Node.id == Connection.node_id).exists(),
        Connection.node_seen_at <= liveness.stale_cutoff(),
    )
    rows = list(db.session.execute(orphaned.returning(Connection.user_id, Connection.session_id)))
    db.session.commit()
    return rows


def _lost_devices(rows: list[Any]) -> list[LostDevice]:
    """The distinct devices of deleted connection rows that were in a call or a meeting."""
    calls_of: dict[int, list[Membership]] = {}
    lost = []
    for user_id, session_id in sorted(set(map(tuple, rows))):
        if user_id not in calls_of:
            calls_of[user_id] = [membership_of(c) for c in service.active_calls_of(user_id)]
        seated = meetings.seated_on(user_id, session_id)
        if calls_of[user_id] or seated:
            lost.append(LostDevice(user_id, session_id, calls_of[user_id], seated))
    return lost


def _authenticate_many(tokens: list[str]) -> list[Identity | None]:
    """Identities behind tokens (None for those not live): one query for all."""
    live = find_live_sessions(tokens)
    found = [live.get(token) for token in tokens]
    return [
        Identity(s.user_id, s.username, s.display_name, s.session_id) if s else None for s in found
    ]


def _calls_of(user_ids: list[int]) -> dict[int, list[Membership]]:
    """Each user's ringing and active calls, with one statement for all of them."""
    rows = service.active_calls_of_users(user_ids)
    return {uid: [membership_of(row) for row in found] for uid, found in rows.items()}


def _connect_many(items: list[tuple[Identity, str, str]]) -> list[ConnectInfo]:
    """Insert the connection rows (one statement, committed), then read every user's calls
    and the presence of their peers with one statement each."""
    now = utcnow()
    rows = [
        {
            "id": conn_id,
            "user_id": who.user_id,
            "session_id": who.session_id,
            "node_id": node_id,
            "connected_at": now,
            "node_seen_at": now,
        }
        for who, conn_id, node_id in items
    ]
    db.session.execute(Connection.__table__.insert(), rows)
    db.session.commit()
    calls = _calls_of([who.user_id for who, _conn, _node in items])
    peers = {
        peer
        for who, _conn, _node in items
        for m in calls.get(who.user_id, ())
        if (peer := m.other(who.user_id)[0]) is not None
    }
    presence = presence_of(sorted(peers))
    online = frozenset(uid for uid, state in presence.items() if state != "offline")
    contacts = contact_ids_of(sorted({who.user_id for who, _conn, _node in items}), CONTACTS_TOLD)
    answers = []
    for who, _conn, _node in items:
        mine = calls.get(who.user_id, [])
        servers, _ttl = ice_servers_for(who.username)
        theirs = frozenset(m.other(who.user_id)[0] for m in mine) & online
        told = frozenset(contacts.get(who.user_id, ()))
        answers.append(ConnectInfo(servers, mine, theirs, told))  # type: ignore[arg-type]
    return answers


def _disconnect_many(items: list[tuple[str, int]]) -> list[list[Membership]]:
    """Delete the connection rows (one statement, committed); each user's calls after."""
    db.session.execute(delete(Connection).where(Connection.id.in_([c for c, _u in items])))
    db.session.commit()
    calls = _calls_of([user_id for _conn, user_id in items])
    return [calls.get(user_id, []) for _conn, user_id in items]


def _enabled(identity: Identity) -> int:
    """The identity's user id, if the account is still enabled (CallServiceError if not)."""
    service.require_enabled(identity.user_id)
    return identity.user_id


def _user(identity: Identity) -> User:
    user = db.session.get(User, identity.user_id)
    if user is None or user.is_disabled:
        raise CallServiceError("unauthorized", "Your account is not available.")
    return user


# Meeting actions over the socket: (user, who, meeting id, message) -> anything.
MEETING_ACTIONS: dict[str, Callable[..., Any]] = {
    "join_meeting": lambda u, who, mid, m: meetings.join(u, mid, m.invite, who.session_id),
    "leave_meeting": lambda u, who, mid, m: meetings.leave(u, mid),
    "admit": lambda u, who, mid, m: meetings.admit(u, mid, m.user),
    "deny": lambda u, who, mid, m: meetings.deny(u, mid, m.user),
    "remove_participant": lambda u, who, mid, m: meetings.remove(u, mid, m.user),
    "lock_meeting": lambda u, who, mid, m: meetings.set_locked(u, mid, m.locked),
    "transfer_host": lambda u, who, mid, m: meetings.transfer_host(u, mid, m.user),
    "end_meeting": lambda u, who, mid, m: meetings.end_meeting(u, mid),
    "screen_share": lambda u, who, mid, m: meetings.share_screen(u, mid, m.sharing),
}

# Call actions over the socket: (identity, call id) -> the call's row afterwards. Only the
# accept checks the account inside its UPDATE; the others check it first.
CALL_ACTIONS: dict[str, Callable[[Identity, int], Any]] = {
    "accept": lambda who, call_id: service.accept_call(who.user_id, call_id, who.session_id),
    "decline": lambda who, call_id: service.decline_call(_enabled(who), call_id),
    "hangup": lambda who, call_id: service.end_call(_enabled(who), call_id),
}


def in_thread_pool(fn: Callable[P, T]) -> Callable[Concatenate[Store, P], T]:
    """Make `fn` (a function of the call's arguments, without `self`) a Store method that
    runs it as one job of the store's call-control runner, in its own app context."""

    @functools.wraps(fn)
    def method(self: Store, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._in(self._run, functools.partial(fn, *args, **kwargs))

    return method


def on_poll_thread(fn: Callable[P, T]) -> Callable[Concatenate[Store, P], T]:
    """`in_thread_pool` for the background loops' runner (the liveness beat and sweep), which
    must not wait behind a burst of call control."""

    @functools.wraps(fn)
    def method(self: Store, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._in(self._poll, functools.partial(fn, *args, **kwargs))

    return method


class Store:
    """Database operations of the daemon, each one threadpool job in its own app context.

    Methods marked `@in_thread_pool` / `@on_poll_thread` are written without `self`: their
    body is the job, the decorator hops into the pool.
    """

    def __init__(
        self,
        app: Flask,
        run: Runner | None = None,
        poll: Runner | None = None,
        node_id: str = "",
    ) -> None:
        """`run` runs call control and connection jobs; `poll` the outbox tail, the ring
        timeout and the liveness beat, which must not wait behind a burst of call control
        (default: `run`). `node_id` is recorded on the calls this daemon ends as lost."""
        self.app = app
        self.node_id = node_id
        self._run: Runner = run or (lambda job: job())
        self._poll: Runner = poll or self._run
        with app.app_context():
            self._engine = db.engine
        self._authenticate = Batch[str, Identity | None](
            self._one_by_one_on_failure(_authenticate_many)
        )
        self._connect = Batch[tuple[Identity, str, str], ConnectInfo](
            self._one_by_one_on_failure(_connect_many)
        )
        self._disconnect = Batch[tuple[str, int], list[Membership]](
            self._one_by_one_on_failure(_disconnect_many)
        )

    def _job(self, fn: Callable[..., T], *args: Any) -> T:
        return self._in(self._run, fn, *args)

    def _in(self, run: Runner, fn: Callable[..., T], *args: Any) -> T:
        def job() -> tuple[T | None, CallServiceError | None]:
            with self.app.app_context():
                # A refusal is an answer for the client, not a fault of the daemon: raised
                # out of a threadpool job, gevent would print its traceback as a hub error.
                try:
                    return fn(*args), None
                except ApiError as exc:  # the services' refusals, in the daemon's terms
                    db.session.rollback()
                    recorded = exc.body.get("call") or {}  # a refused start is recorded
                    return None, CallServiceError(exc.code, exc.message, recorded.get("id"))
                except CallServiceError as refused:
                    return None, refused
                finally:
                    db.session.remove()

        with metrics.DB_SECONDS.time():
            result, refused = run(job)
        if refused is not None:
            raise refused
        return result  # type: ignore[return-value]

    # -- connections: what arrives together is answered by one job (signaling.state.batches)
    def authenticate(self, token: str, wanted: Wanted | None = None) -> Identity | None:
        """The identity behind a live session token, or None (unknown, expired, revoked).

        `wanted()` is asked when the token's turn comes; if it is false (the client has
        gone) the check is skipped and `Abandoned` raised."""
        return self._authenticate(token, wanted)

    def connect(self, who: Identity, conn_id: str, node_id: str) -> ConnectInfo:
        """Record the connection (presence) and read what `welcome` tells the client."""
        return self._connect((who, conn_id, node_id))

    def disconnect(self, conn_id: str, user_id: int) -> list[Membership]:
        """Forget the connection; returns the user's ringing and active calls."""
        return self._disconnect((conn_id, user_id))

    def _one_by_one_on_failure(self, job: Callable[[list[Any]], list[Any]]) -> Any:
        """`job` over a batch in the pool; if it fails for another reason than an outage,
        each item alone, so one bad item (a user deleted meanwhile) fails only itself."""

        def run_many(items: list[Any]) -> list[Any]:
            try:
                return self._in(self._run, job, items)
            except UNAVAILABLE:
                raise
            except Exception as exc:
                if len(items) == 1:
                    return [exc]
            return [run_many([item])[0] for item in items]

        return run_many

    @in_thread_pool
    def is_connected(user_id: int, session_id: int | None) -> bool:
        """Whether any daemon holds a fresh connection of this user (and session)."""
        query = select(Connection.id).where(Connection.user_id == user_id, liveness.counted())
        if session_id is not None:
            query = query.where(Connection.session_id == session_id)
        return db.session.scalar(query.limit(1)) is not None

    @in_thread_pool
    def clear_node(node_id: str) -> int:
        """Delete this daemon's presence rows (at start-up after a crash, and on shutdown)."""
        result = db.session.execute(delete(Connection).where(Connection.node_id == node_id))
        db.session.commit()
        return result.rowcount or 0

    # -- node liveness (signaling.state.liveness) -----------------------------------------------
    @on_poll_thread
    def register_node(node_id: str) -> list[LostDevice]:
        """Start-up: take over what this node's previous run left (its connection rows;
        their devices are returned as lost), and beat."""
        taken = _take_rows(node_id)
        _beat(node_id)
        db.session.commit()
        return _lost_devices(taken)

    @on_poll_thread
    def beat(node_id: str, sweep: bool) -> Beat:
        """Refresh this node's row; then (if `sweep`) claim every dead node, delete its
        connection rows and return their devices as lost. Each dead node is claimed by
        exactly one sweeper (a conditional DELETE of its row)."""
        was_there = _beat(node_id)
        db.session.commit()
        taken: list[Any] = []
        swept = False
        dead = (
            select(Node.id, Node.seen_at)
            .where(Node.id != node_id)
            .where(or_(Node.seen_at <= liveness.stale_cutoff(), Node.stopping.is_(True)))
        )
        for dead_id, seen_at in db.session.execute(dead).all() if sweep else ():
            claim = delete(Node).where(Node.id == dead_id, Node.seen_at == seen_at)
            if db.session.execute(claim).rowcount != 1:
                db.session.rollback()  # it came back, or another daemon swept it
                continue
            rows = _take_rows(dead_id)
            db.session.commit()
            logs.event(log, "node.swept", dead=dead_id, rows=len(rows))
            taken.extend(rows)
            swept = True
        if sweep:
            taken.extend(_take_orphan_rows())
        return Beat(was_there, _lost_devices(taken), swept)

    @on_poll_thread
    def orphans() -> Orphans:
        """Every device in an active call or an open meeting with no counted connection
        (after a sweep: a grace period that ran on the dead daemon died with it)."""
        in_calls = []
        for row in service.active_calls():
            call = membership_of(row)
            for user_id in (call.caller_id, call.callee_id):
                session_id = call.session_of(user_id)
                if user_id is not None and session_id is not None:
                    in_calls.append((call, user_id, session_id))
        seated = db.session.execute(
            select(
                MeetingParticipant.meeting_id,
                MeetingParticipant.user_id,
                MeetingParticipant.session_id,
            )
            .join(Meeting, Meeting.id == MeetingParticipant.meeting_id)
            .where(
                Meeting.state == "open",
                MeetingParticipant.state == "admitted",
                MeetingParticipant.user_id.is_not(None),
                MeetingParticipant.session_id.is_not(None),
            )
        ).all()
        devices = [(u, s) for _, u, s in in_calls] + [(seat[1], seat[2]) for seat in seated]
        connected = _connected_devices(devices)
        calls = [(call, u) for call, u, s in in_calls if (u, s) not in connected]
        seats = [tuple(seat) for seat in seated if (seat[1], seat[2]) not in connected]
        return Orphans(calls, seats)

    @in_thread_pool
    def restore_connections(node_id: str, conns: list[tuple[str, int, int]]) -> int:
        """Re-insert this node's rows (conn id, user id, session id) that a sweeper deleted
        while this node could not beat; returns how many were missing."""
        have = set(db.session.scalars(select(Connection.id).where(Connection.node_id == node_id)))
        now = utcnow()
        missing = [c for c in conns if c[0] not in have]
        for conn_id, user_id, session_id in missing:
            db.session.add(
                Connection(
                    id=conn_id,
                    user_id=user_id,
                    session_id=session_id,
                    node_id=node_id,
                    connected_at=now,
                    node_seen_at=now,
                )
            )
        db.session.commit()
        return len(missing)

    @in_thread_pool
    def retire_node(node_id: str) -> None:
        """Clean shutdown: mark the node stopping, and leave its connection rows for a live
        daemon's sweep, which gives its users' calls their grace period."""
        db.session.execute(
            update(Node).where(Node.id == node_id).values(stopping=True, seen_at=utcnow())
        )
        db.session.commit()

    # -- calls ------------------------------------------------------------------------
    @in_thread_pool
    def membership(call_id: int) -> Membership | None:
        row = service.call_row(call_id)
        return membership_of(row) if row is not None else None

    @in_thread_pool
    def call_action(action: str, who: Identity, call_id: int) -> Membership:
        """accept / decline / hangup through the call service; CallServiceError if refused."""
        if not 0 < call_id <= MAX_ID:  # never a valid call id: no statement is run
            raise CallServiceError("call_not_found", "No such call.")
        return membership_of(CALL_ACTIONS[action](who, call_id))

    @in_thread_pool
    def start_call(who: Identity, callee: str) -> service.StartResult:
        """Ring `callee` from this device, as POST /call/start does; CallServiceError if
        refused (with the call's id when the refusal was recorded: busy, offline)."""
        return service.start_call(who.user_id, callee, session_id=who.session_id)

    @in_thread_pool
    def record_stats(who: Identity, call_id: int, stats: dict[str, Any]) -> Membership:
        return membership_of(service.record_stats(_enabled(who), call_id, stats))

    # -- meetings ---------------------------------------------------------------------
    @in_thread_pool
    def meeting_action(who: Identity, message: Any) -> tuple[dict, dict]:
        """Run a meeting action through the meeting service; (view, roster) afterwards.

        The roster carries `version`, the id of the last event the action wrote, when it
        wrote one (see Rooms.apply). CallServiceError carries the service's code (room_full,
        not_host, ...)."""
        MEETING_ACTIONS[message.type](_user(who), who, message.meeting_id, message)
        meeting = db.session.get(Meeting, message.meeting_id)
        roster = meetings.roster(meeting)
        published = db.session.info.get(PUBLISHED)
        if published:  # read after that event's commit: at least as new as the event
            roster["version"] = max(published)
        return meetings.view(meeting, who.user_id), roster

    @in_thread_pool
    def retry_janus_withdrawals() -> int:
        """Removed seats' Janus tokens that were not taken back yet: try again (backoff)."""
        return withdrawals.retry_due()

    @in_thread_pool
    def move_sfu_meetings() -> list[int]:
        """SFU meetings on a dead Janus node move to a live one (the participants are told)."""
        return meetings.move_off_dead_nodes()

    @in_thread_pool
    def meeting_roster(meeting_id: int) -> dict | None:
        meeting = db.session.get(Meeting, meeting_id)
        return meetings.roster(meeting) if meeting is not None else None

    @in_thread_pool
    def leave_lost_meeting(user_id: int, meeting_id: int) -> None:
        """A participant's device vanished and did not come back: they leave."""
        user = db.session.get(User, user_id)
        if user is not None:
            meetings.leave(user, meeting_id, reason="connection_lost")

    def expire_unanswered(self) -> list[int]:
        """Ring timeout: calls ringing too long become missed (events follow via the outbox)."""
        return self._in(self._poll, service.expire_unanswered)

    def end_lost_call(self, call_id: int, lost_user_id: int) -> bool:
        """End with connection_lost, recorded as ended by this node."""
        return self._job(service.end_lost_call, call_id, lost_user_id, self.node_id or None)

    @in_thread_pool
    def active_calls() -> list[Membership]:
        """Every active call (at start-up, to give vanished participants their grace)."""
        return [membership_of(row) for row in service.active_calls()]

    # -- outbox -----------------------------------------------------------------------
    def last_event_id(self) -> int:
        return self._job(lambda: db.session.scalar(select(func.max(Event.id))) or 0)

    def events_after(self, last_id: int, gaps: list[int], limit: int = 500) -> list[OutboxEvent]:
        """Events with id > `last_id`, plus any of `gaps` (ids skipped by a slower commit).

        This runs on every wake-up of the outbox (signaling.outbox.wake: up to 40 times a
        second while something writes, once a second otherwise) and often finds nothing, so
        it skips what every other job does (an app context, an ORM session) and runs one
        prepared statement on a pooled connection.
        """
        engine = self._engine

        def read() -> list[OutboxEvent]:
            with engine.connect() as connection:
                rows = connection.execute(_events_query(bool(gaps)), _params(last_id, gaps, limit))
                return [OutboxEvent(*row) for row in rows]

        with metrics.DB_SECONDS.time():
            return self._poll(read)


_EVENTS = Event.__table__.c
_EVENT_COLUMNS = (
    _EVENTS.id,
    _EVENTS.kind,
    _EVENTS.call_id,
    _EVENTS.user_ids,
    _EVENTS.data,
    _EVENTS.created_at,
)
_NEW_EVENTS = (
    select(*_EVENT_COLUMNS)
    .where(_EVENTS.id > bindparam("last_id"))
    .order_by(_EVENTS.id)
    .limit(bindparam("limit"))
)
_NEW_OR_LATE_EVENTS = (
    select(*_EVENT_COLUMNS)
    .where(
        or_(_EVENTS.id > bindparam("last_id"), _EVENTS.id.in_(bindparam("gaps", expanding=True)))
    )
    .order_by(_EVENTS.id)
    .limit(bindparam("limit"))
)


def _events_query(with_gaps: bool) -> Any:
    return _NEW_OR_LATE_EVENTS if with_gaps else _NEW_EVENTS


def _params(last_id: int, gaps: list[int], limit: int) -> dict[str, Any]:
    params: dict[str, Any] = {"last_id": last_id, "limit": limit}
    if gaps:
        params["gaps"] = gaps
    return params


__all__ = [
    "Beat",
    "ConnectInfo",
    "Identity",
    "LostDevice",
    "Orphans",
    "OutboxEvent",
    "Store",
]
