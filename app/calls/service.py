"""The call state machine: every transition of a call record happens here, and only here.

Both the web app (HTTP) and the signaling daemon (WebSocket call control, ring timeouts,
lost connections) call these functions inside an app context. Each transition is one
conditional UPDATE (`... WHERE state IN (...)`), so two racing requests cannot both win,
and it appends an outbox event in the same transaction, so the daemon can tell the users.

Errors are ApiError with stable codes; the daemon reuses the codes in its `error` messages.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import (
    Row,
    Update,
    bindparam,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
    update,
)

from app import liveness, logs
from app.calls import rows
from app.calls.schemas import call_record
from app.clock import utcnow
from app.errors import ApiError
from app.events import publish
from app.extensions import db
from app.meetings import service as meetings
from app.models import CallState, EndReason, Meeting, MeetingParticipant

log = logging.getLogger(__name__)

RINGING, ACTIVE, ENDED = CallState.RINGING.value, CallState.ACTIVE.value, CallState.ENDED.value

# The statements are built once: each execution passes only its parameters, so none is
# built, coerced and cache-keyed anew per request. Table columns, not the mapped class's
# attributes: the results are plain rows, never ORM objects. States are plain bound values
# (`IN (?, ?)`), not a tuple, which would be an "expanding" parameter re-rendered per run.
_USERS, _CALLS = rows.USERS, rows.CALLS.c
_LIVE_STATES = (literal(RINGING), literal(ACTIVE))

# The callee by name and the caller, row-locked in id order (PostgreSQL; SQLite has no row
# locks and serializes writers anyway): two people calling each other take turns, so the
# second start sees the first's invite and merges. The lock does not block inserts that
# only reference the users (NO KEY UPDATE).
_PAIR_LOCKED = (
    select(
        _USERS.c.id,
        _USERS.c.username,
        _USERS.c.display_name,
        _USERS.c.is_disabled,
        _USERS.c.is_probe,
    )
    .where(or_(_USERS.c.username == bindparam("username"), _USERS.c.id == bindparam("caller_id")))
    .order_by(_USERS.c.id)
    .with_for_update(key_share=True)
)
# A user's ringing and active calls: one indexed lookup per side, because SQLite plans the
# equivalent `state IN (...) AND (caller_id = ? OR callee_id = ?)` as a read of every live
# call in the system (migrations/versions/a4f09c3e8b21). No call has the same user on both
# sides, so UNION ALL repeats none.
_LIVE_CALL_ROWS_OF = union_all(
    *(
        select(
            _CALLS.id,
            _CALLS.state,
            _CALLS.caller_id,
            _CALLS.callee_id,
            _CALLS.caller_session_id,
            _CALLS.callee_session_id,
            _CALLS.created_at,
        ).where(side == bindparam("user_id"), _CALLS.state.in_(_LIVE_STATES))
        for side in (_CALLS.caller_id, _CALLS.callee_id)
    )
)
_LIVE_CALLS_OF = select(*rows.COLUMNS).where(
    _CALLS.id.in_(select(_LIVE_CALL_ROWS_OF.subquery().c.id))
)
_LIVE_CALLS_OF_USERS = select(*rows.COLUMNS).where(
    _CALLS.id.in_(
        union_all(
            *(
                select(_CALLS.id).where(
                    side.in_(bindparam("user_ids", expanding=True)), _CALLS.state.in_(_LIVE_STATES)
                )
                for side in (_CALLS.caller_id, _CALLS.callee_id)
            )
        ).scalar_subquery()
    )
)
_INSERT_CALL = insert(rows.CALLS).returning(*rows.COLUMNS)
# Read right after a new call's INSERT, in its transaction: the callee's ringing call to
# the caller, if one committed since the start looked (SQLite: the INSERT holds the one
# write lock, so this sees every commit before it), and the caller's starts in the rate
# window, this one included.
_AFTER_INSERT = select(
    select(_CALLS.id)
    .where(
        _CALLS.caller_id == bindparam("callee_id"),
        _CALLS.state == RINGING,
        _CALLS.callee_id == bindparam("caller_id"),
    )
    .limit(1)
    .scalar_subquery()
    .label("crossing_id"),
    select(func.count(_CALLS.id))
    .where(_CALLS.caller_id == bindparam("caller_id"), _CALLS.created_at > bindparam("since"))
    .scalar_subquery()
    .label("recent_starts"),
    # Another ringing call from the caller to the callee: a concurrent start of the same
    # call committed first (SQLite; PostgreSQL's pair lock already made this start see it).
    select(_CALLS.id)
    .where(
        _CALLS.caller_id == bindparam("caller_id"),
        _CALLS.state == RINGING,
        _CALLS.callee_id == bindparam("callee_id"),
        _CALLS.id != bindparam("call_id"),
    )
    .limit(1)
    .scalar_subquery()
    .label("duplicate_id"),
    # The callee sits admitted in an open meeting: the call ends busy, as for a call.
    exists()
    .where(
        MeetingParticipant.user_id == bindparam("callee_id"),
        MeetingParticipant.state == literal("admitted"),
        MeetingParticipant.meeting_id == Meeting.id,
        Meeting.state == literal("open"),
    )
    .label("callee_in_meeting"),
    # No device of the callee is connected to a live daemon: nothing can ring.
    liveness.unreachable(bindparam("callee_id"), bindparam("stale_cutoff")).label("callee_offline"),
    # The caller is in an active call (nobody is in two): one indexed lookup per side.
    or_(
        *(
            exists().where(side == bindparam("caller_id"), _CALLS.state == literal(ACTIVE))
            for side in (_CALLS.caller_id, _CALLS.callee_id)
        )
    ).label("caller_in_call"),
)
# Ringing -> active, only while neither side is in another active call: one statement, so
# two accepts (or an accept and a glare merge) for one person cannot both win. SQLite runs
# it under its one write lock; on PostgreSQL `_lock_parties` orders the deciders first.
_OTHER_CALL = rows.CALLS.alias("other_call")


def _in_active_call(user_id: Any) -> Any:
    """SQL: `user_id` is a side of an active call (one indexed lookup per side)."""
    return or_(
        *(
            exists().where(side == user_id, _OTHER_CALL.c.state == literal(ACTIVE))
            for side in (_OTHER_CALL.c.caller_id, _OTHER_CALL.c.callee_id)
        )
    )


_ANSWER = (
    update(rows.CALLS)
    .where(
        _CALLS.id == bindparam("where_id"),
        _CALLS.state == literal(RINGING),
        ~_in_active_call(_CALLS.caller_id),
        ~_in_active_call(_CALLS.callee_id),
    )
    .returning(*rows.COLUMNS)
)
# The callee's own answer: `_ANSWER`, if the call is addressed to `user_id`, enabled.
_ACCEPT = _ANSWER.where(
    _CALLS.callee_id == bindparam("user_id"),
    ~exists().where(_USERS.c.id == bindparam("user_id"), _USERS.c.is_disabled.is_(True)),
)
_PARTIES_LOCKED = (
    select(_USERS.c.id)
    .where(_USERS.c.id.in_(bindparam("user_ids", expanding=True)))
    .order_by(_USERS.c.id)
    .with_for_update(key_share=True)
)
# `_PARTIES_LOCKED` for an accept: the callee and the caller of `call_id`, in one statement.
_ACCEPT_PARTIES_LOCKED = (
    select(_USERS.c.id)
    .where(
        or_(
            _USERS.c.id == bindparam("user_id"),
            _USERS.c.id
            == select(_CALLS.caller_id).where(_CALLS.id == bindparam("call_id")).scalar_subquery(),
        )
    )
    .order_by(_USERS.c.id)
    .with_for_update(key_share=True)
)
# The user may act: the account exists and is enabled.
_ENABLED = select(_USERS.c.id).where(
    _USERS.c.id == bindparam("user_id"), _USERS.c.is_disabled.is_(False)
)


class _Party(Protocol):
    """A user of a call start: a row of `_PAIR_LOCKED`."""

    id: int
    username: str
    display_name: str
    is_probe: bool


# Outbox event kind announced for each end reason.
END_EVENTS = {
    EndReason.HANGUP: "call.ended",
    EndReason.DECLINED: "call.declined",
    EndReason.CANCELLED: "call.cancelled",
    EndReason.MISSED: "call.missed",
    EndReason.BUSY: "call.busy",
    EndReason.OFFLINE: "call.missed",  # missed for the callee, at once: nothing could ring
    EndReason.CONNECTION_LOST: "call.ended",
}


@dataclass
class StartResult:
    call_id: int
    outcome: str  # "ringing", "existing" or "merged"
    record: dict[str, Any]  # the call's public record, as it stands after the start


def call_not_found() -> ApiError:
    return ApiError(404, "call_not_found", "No such call.")


def call_row(call_id: int) -> Row[Any] | None:
    """The call as a row (`app.calls.rows.COLUMNS`), or None."""
    return db.session.execute(rows.CALL_BY_ID, {"call_id": call_id}).one_or_none()


def get_call_for(user_id: int, call_id: int) -> Row[Any]:
    """The call if `user_id` took part in it; otherwise 404 (never reveal others' calls)."""
    row = call_row(call_id)
    if row is None or user_id not in (row.caller_id, row.callee_id):
        raise call_not_found()
    return row


def _announce(kind: str, row: Row[Any], **extra: Any) -> dict[str, Any]:
    """Log the transition and add its outbox event; returns the public record announced."""
    record = call_record(row)
    logs.event(log, kind, call=row.id, caller=row.caller, callee=row.callee, reason=row.end_reason)
    data = {
        "call": record,
        # internal routing facts for the daemon; never sent to clients as-is. With the ids
        # the daemon learns who is in a new call from the event alone, without a query.
        "caller_id": row.caller_id,
        "callee_id": row.callee_id,
        "caller_session_id": row.caller_session_id,
        "callee_session_id": row.callee_session_id,
        **({"probe": True} if row.probe else {}),  # chimecast-probe: no webhooks, no metrics
        **extra,
    }
    participants = [uid for uid in (row.caller_id, row.callee_id) if uid is not None]
    publish(kind, participants, data, call_id=row.id)
    return record


@functools.cache
def _conditional_update(from_states: tuple[str, ...]) -> Update:
    """UPDATE calls SET ... WHERE id = :where_id AND state IN <from_states> RETURNING the row.

    Built once per set of states (a handful exist). The SET clause comes from the keys of
    the execution parameters."""
    states = [literal(state) for state in from_states]
    return (
        update(rows.CALLS)
        .where(_CALLS.id == bindparam("where_id"), _CALLS.state.in_(states))
        .returning(*rows.COLUMNS)
    )


def _end(
    call_id: int,
    reason: EndReason,
    ended_by_id: int | None,
    from_states: tuple[str, ...],
    **more: Any,
) -> Row[Any] | None:
    """End the call if it is still in one of `from_states` and announce it (committed);
    the ended call's row, or None (nothing changed) if another transition came first."""
    values = {"state": ENDED, "end_reason": reason.value, "ended_at": utcnow(), **more}
    values["ended_by_id"] = ended_by_id
    update_ = _conditional_update(from_states)
    row = db.session.execute(update_, {**values, "where_id": call_id}).one_or_none()
    if row is None:
        db.session.rollback()
        return None
    _announce(END_EVENTS[reason], row)
    db.session.commit()
    return row


def expire_unanswered(now: datetime | None = None) -> list[int]:
    """Mark calls ringing longer than RING_TIMEOUT as missed; returns their ids (committed)."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=current_app.config["RING_TIMEOUT"])
    stale = db.session.scalars(
        select(_CALLS.id).where(_CALLS.state == RINGING, _CALLS.created_at <= cutoff)
    ).all()
    return [call_id for call_id in stale if _end(call_id, EndReason.MISSED, None, (RINGING,))]


def _start_window() -> datetime:
    """Starts made after this instant count against CALL_START_LIMIT."""
    return utcnow() - timedelta(seconds=current_app.config["CALL_START_WINDOW"])


def _too_many_calls() -> ApiError:
    window = current_app.config["CALL_START_WINDOW"]
    return ApiError(
        429,
        "too_many_calls",
        "You are starting calls too quickly.",
        headers={"Retry-After": str(window)},
    )


def _already_in_call() -> ApiError:
    return ApiError(409, "already_in_call", "You are in another call; hang up first.")


def _after_insert(caller_id: int, callee_id: int, call_id: int) -> Any:
    """The new call's (crossing_id, recent_starts, duplicate_id, callee_in_meeting,
    callee_offline, caller_in_call), read in
    its transaction; a start over CALL_START_LIMIT, or by a caller in an active call, is
    rolled back here and refused (429, 409 already_in_call), so nothing is recorded."""
    params = {
        "caller_id": caller_id,
        "callee_id": callee_id,
        "since": _start_window(),
        "call_id": call_id,
        "stale_cutoff": liveness.stale_cutoff(),
    }
    found = db.session.execute(_AFTER_INSERT, params).one()
    if found.caller_in_call:
        db.session.rollback()
        raise _already_in_call()
    if found.recent_starts > current_app.config["CALL_START_LIMIT"]:
        db.session.rollback()
        raise _too_many_calls()
    return found


def _on_postgresql() -> bool:
    """Row locks are PostgreSQL's; SQLite serializes writers already."""
    return db.session.get_bind().dialect.name != "sqlite"


def _lock_parties(*user_ids: int | None) -> None:
    """PostgreSQL: take the users' row locks (id order, the mode `_PAIR_LOCKED` takes), so
    whoever decides whether they are free to talk decides after the last one committed."""
    ids = sorted({uid for uid in user_ids if uid is not None})
    if ids and _on_postgresql():
        db.session.execute(_PARTIES_LOCKED, {"user_ids": ids}).all()


def _answered(session_id: int | None) -> dict[str, Any]:
    return {"state": ACTIVE, "answered_at": utcnow(), "callee_session_id": session_id}


def _answer(call_id: int, session_id: int | None) -> Row[Any] | None:
    """Ringing -> active, if neither side is in another active call; the row, or None."""
    params = {**_answered(session_id), "where_id": call_id}
    return db.session.execute(_ANSWER, params).one_or_none()


@dataclass
class _LiveCalls:
    """What a new call to `callee` runs into: one query, sorted out in Python."""

    existing: int | None = None  # the caller's own call to the callee, still ringing
    crossing: int | None = None  # the callee's call to the caller, ringing (glare)
    callee_busy: bool = False  # the callee is in an active call


def _live_calls_around(caller: _Party, callee: _Party) -> _LiveCalls:
    """Ringing and active calls of `callee`; overdue ringing ones are marked missed first.

    One query instead of one per question (and no sweep of every overdue call in the
    system on each start: the daemon's ring timer and the history views do that).
    """
    cutoff = utcnow() - timedelta(seconds=current_app.config["RING_TIMEOUT"])
    found = _LiveCalls()
    for row in db.session.execute(_LIVE_CALL_ROWS_OF, {"user_id": callee.id}).all():
        if row.state == ACTIVE:
            found.callee_busy = found.callee_busy or not _ended_as_abandoned(row)
        elif row.created_at <= cutoff:
            _end(row.id, EndReason.MISSED, None, (RINGING,))
        elif (row.caller_id, row.callee_id) == (caller.id, callee.id):
            found.existing = row.id
        elif (row.caller_id, row.callee_id) == (callee.id, caller.id):
            found.crossing = row.id
    return found


def _ended_as_abandoned(row: Any) -> bool:
    """End an active call whose participant vanished with no daemon left to end it
    (`connection_lost`, ended by node "web"); True if it ended here."""
    lost_user_id = liveness.abandoning_user(row)
    return lost_user_id is not None and end_lost_call(row.id, lost_user_id, "web")


def _existing(call_id: int) -> StartResult:
    row = call_row(call_id)
    assert row is not None  # calls are never deleted
    return StartResult(call_id, "existing", call_record(row))


def _insert_call(
    caller: _Party, callee: _Party, session_id: int | None, now: datetime, **outcome: Any
) -> Row[Any]:
    """INSERT a new call (ringing, unless `outcome` says how it ended); returns its row."""
    values = {
        "caller_id": caller.id,
        "callee_id": callee.id,
        "caller_session_id": session_id,
        "callee_session_id": None,
        "state": RINGING,
        "end_reason": None,
        "ended_by_id": None,
        "created_at": now,
        "answered_at": None,
        "ended_at": None,
        "stats": {},
        "probe": caller.is_probe,
        **outcome,
    }
    return db.session.execute(_INSERT_CALL, values).one()


def start_call(
    caller_id: int, callee_username: str, session_id: int | None = None, _attempts: int = 3
) -> StartResult:
    """Ring `callee_username` on behalf of user `caller_id`.

    Outcomes: a new ringing call; the same caller's call that is already ringing
    ("existing"); the callee's own ringing call to the caller, accepted ("merged", glare);
    if the callee is in an active call, a call recorded as ended/busy raised as 409
    callee_busy; if no device of the callee is connected (and a live daemon could tell),
    a call recorded as ended/offline, announced as missed, raised as 409 callee_offline.
    """
    name = callee_username.lower()
    # Both users in one read (the caller by id: the request's token check loaded no object).
    locked = db.session.execute(_PAIR_LOCKED, {"username": name, "caller_id": caller_id}).all()
    caller = next((user for user in locked if user.id == caller_id), None)
    if caller is None or caller.is_disabled:
        raise ApiError(401, "unauthorized", "Your account is not available.")
    callee = next((user for user in locked if user.username == name), None)
    if callee is None or callee.is_disabled:
        raise ApiError(404, "user_not_found", "No such user.")
    if callee.id == caller.id:
        raise ApiError(400, "cannot_call_self", "You cannot call yourself.")
    live = _live_calls_around(caller, callee)
    if live.existing is not None:
        return _existing(live.existing)
    if live.crossing is not None:
        merged = _merge(live.crossing, caller, callee, session_id)
        if merged is not None:
            return merged
    now = utcnow()
    if live.callee_busy:
        _busy(caller, callee, session_id, now)
    row = _insert_call(caller, callee, session_id, now)
    found = _after_insert(caller.id, callee.id, row.id)
    if found.duplicate_id is not None:  # the same start, made at the same instant, won
        db.session.rollback()
        return _existing(found.duplicate_id)
    if found.callee_in_meeting:  # rare: asked after the INSERT, to keep a start 5 statements
        db.session.rollback()
        if _attempts > 1 and meetings.free_abandoned_seats_of(callee.id):
            # a seat held by a device that vanished with its daemon, no daemon left: freed
            return start_call(caller_id, callee_username, session_id, _attempts - 1)
        _busy(caller, callee, session_id, now)
    if found.callee_offline:  # asked after the INSERT too: same 5 statements when online
        db.session.rollback()
        _offline(caller, callee, session_id, now)
    if found.crossing_id is not None and _attempts > 1:
        return _give_way(found.crossing_id, caller, callee, session_id, _attempts)
    record = _announce("call.ringing", row)
    db.session.commit()
    return StartResult(row.id, "ringing", record)


def _refused(
    caller: _Party, callee: _Party, session_id: int | None, now: datetime, reason: EndReason
) -> dict[str, Any]:
    """Record a call that could not ring as ended with `reason`; its record (committed)."""
    row = _insert_call(
        caller, callee, session_id, now, state=ENDED, end_reason=reason.value, ended_at=now
    )
    _after_insert(caller.id, callee.id, row.id)
    record = _announce(END_EVENTS[reason], row)
    db.session.commit()
    return record


def _busy(caller: _Party, callee: _Party, session_id: int | None, now: datetime) -> None:
    """Record the call as ended busy (the callee is in a call or a meeting); raise 409."""
    record = _refused(caller, callee, session_id, now, EndReason.BUSY)
    raise ApiError(
        409, "callee_busy", f"{callee.username} is in another call.", body={"call": record}
    )


def _offline(caller: _Party, callee: _Party, session_id: int | None, now: datetime) -> None:
    """Record the call as ended offline (no device of the callee is connected), which the
    callee's history shows as missed; raise 409 at once instead of ringing nobody."""
    record = _refused(caller, callee, session_id, now, EndReason.OFFLINE)
    name = callee.display_name or callee.username
    raise ApiError(
        409,
        "callee_offline",
        f"{name} is offline and will see your missed call.",
        body={"call": record},
    )


def _merge(
    crossing_id: int, caller: _Party, callee: _Party, session_id: int | None
) -> StartResult | None:
    """Answer the callee's ringing call to `caller` on `caller`'s behalf (glare); None if
    the call was no longer ringing (nothing changed)."""
    _lock_parties(caller.id, callee.id)
    row = _answer(crossing_id, session_id)
    if row is None:
        db.session.rollback()
        return None
    record = _announce(
        "call.accepted", row, merged=True, accepted_by=caller.username, session_id=session_id
    )
    db.session.commit()
    return StartResult(crossing_id, "merged", record)


def _give_way(
    crossing_id: int, caller: _Party, callee: _Party, session_id: int | None, attempts: int
) -> StartResult:
    """The callee's invite to the caller committed after this start looked for it and
    before its own INSERT (on SQLite, which has no row locks, two people who call each
    other at the same instant). The later invite gives way before it is ever announced:
    its INSERT is rolled back and the earlier invite is merged. (On PostgreSQL
    `_PAIR_LOCKED` already made this start see that invite.) If the crossing call stopped
    ringing meanwhile, the start begins again."""
    db.session.rollback()  # the new call's INSERT: nothing was announced
    merged = _merge(crossing_id, caller, callee, session_id)
    if merged is not None:
        return merged
    return start_call(caller.id, callee.username, session_id, _attempts=attempts - 1)


def require_enabled(user_id: int) -> None:
    """401 unless the account exists and is enabled: for callers that hold only an id from
    an earlier check (the daemon's connections); the HTTP views' login check does this."""
    if db.session.execute(_ENABLED, {"user_id": user_id}).first() is None:
        raise ApiError(401, "unauthorized", "Your account is not available.")


def accept_call(user_id: int, call_id: int, session_id: int | None = None) -> Row[Any]:
    """The callee answers; the answered call's row. `session_id` names the answering
    device (for answered_elsewhere).

    One conditional UPDATE decides (the call rings, is addressed to this enabled user, and
    neither side is in another active call); a refusal is diagnosed after it, nothing
    changed: 401 unauthorized, 404, 409 not_callee, already_in_call or call_not_ringing."""
    if _on_postgresql():
        db.session.execute(_ACCEPT_PARTIES_LOCKED, {"user_id": user_id, "call_id": call_id}).all()
    params = {**_answered(session_id), "where_id": call_id, "user_id": user_id}
    row = db.session.execute(_ACCEPT, params).one_or_none()
    if row is None:
        db.session.rollback()
        require_enabled(user_id)
        call = get_call_for(user_id, call_id)
        if call.callee_id != user_id:
            raise ApiError(409, "not_callee", "Only the person being called can accept.")
        if call.state == RINGING:
            raise _already_in_call()  # or the caller is: either way, not now
        raise ApiError(409, "call_not_ringing", f"The call is {call.state}, not ringing.")
    _announce("call.accepted", row, accepted_by=row.callee, session_id=session_id)
    db.session.commit()
    return row


def decline_call(user_id: int, call_id: int) -> Row[Any]:
    """The callee refuses a ringing call; the ended call's row."""
    call = get_call_for(user_id, call_id)
    if call.callee_id != user_id:
        raise ApiError(409, "not_callee", "Only the person being called can decline.")
    ended = _end(call_id, EndReason.DECLINED, user_id, (RINGING,))
    if ended is None:
        state = get_call_for(user_id, call_id).state
        raise ApiError(409, "call_not_ringing", f"The call is {state}, not ringing.")
    return ended


def end_call(user_id: int, call_id: int) -> Row[Any]:
    """Hang up, cancel (caller, ringing) or decline (callee, ringing). Idempotent once
    ended; the call's row."""
    call = get_call_for(user_id, call_id)
    for _attempt in range(3):  # the state may change under us; re-read and retry
        if call.state == ENDED:
            return call
        if call.state == ACTIVE:
            reason = EndReason.HANGUP
        else:
            reason = EndReason.CANCELLED if call.caller_id == user_id else EndReason.DECLINED
        ended = _end(call_id, reason, user_id, (call.state,))
        if ended is not None:
            return ended
        call = get_call_for(user_id, call_id)
    return call


def end_lost_call(
    call_id: int, lost_user_id: int | None = None, node_id: str | None = None
) -> bool:
    """A vanished participant did not come back: end with connection_lost, recording who
    vanished (`ended_by`) and which process gave up waiting (`ended_by_node`)."""
    lost = None
    if lost_user_id:  # an account deleted meanwhile is recorded as nobody
        lost = db.session.scalar(select(_USERS.c.id).where(_USERS.c.id == lost_user_id))
    ended = _end(
        call_id, EndReason.CONNECTION_LOST, lost, (RINGING, ACTIVE), ended_by_node=node_id or None
    )
    return ended is not None


def record_stats(user_id: int, call_id: int, stats: dict[str, Any]) -> Row[Any]:
    """Store what a participant reports about the media path (direct/relayed, RTT)."""
    call = get_call_for(user_id, call_id)
    merged = dict(call.stats or {})
    merged[call.caller if user_id == call.caller_id else call.callee] = stats
    row = db.session.execute(
        update(rows.CALLS).where(_CALLS.id == call_id).values(stats=merged).returning(*rows.COLUMNS)
    ).one()
    db.session.commit()
    return row


def active_calls_of(user_id: int) -> list[Row[Any]]:
    """Calls ringing or active that `user_id` takes part in (for reconnecting clients)."""
    return list(db.session.execute(_LIVE_CALLS_OF, {"user_id": user_id}))


def active_calls_of_users(user_ids: list[int]) -> dict[int, list[Row[Any]]]:
    """`active_calls_of` for many users with one statement: each user's ringing and active
    calls (a user with none is absent)."""
    if not user_ids:
        return {}
    found: dict[int, list[Row[Any]]] = {}
    wanted = set(user_ids)
    for row in db.session.execute(_LIVE_CALLS_OF_USERS, {"user_ids": sorted(wanted)}):
        for user_id in {row.caller_id, row.callee_id} & wanted:
            found.setdefault(user_id, []).append(row)
    return found


def active_calls() -> list[Row[Any]]:
    """Every active call (the daemon's start-up gives vanished participants their grace)."""
    return list(db.session.execute(select(*rows.COLUMNS).where(_CALLS.state == ACTIVE)))


def history(user_id: int, page: int, per_page: int) -> tuple[list[Row[Any]], int]:
    """The user's calls, newest first, and the total count."""
    mine = or_(_CALLS.caller_id == user_id, _CALLS.callee_id == user_id)
    total = db.session.scalar(select(func.count(_CALLS.id)).where(mine)) or 0
    found = db.session.execute(
        select(*rows.COLUMNS)
        .where(mine)
        .order_by(_CALLS.created_at.desc(), _CALLS.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(found), total
