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
from sqlalchemy.orm.attributes import set_committed_value

from app import logs
from app.calls import liveness
from app.calls.schemas import CallOut
from app.clock import utcnow
from app.errors import ApiError
from app.events import publish
from app.extensions import db
from app.models import Call, CallState, EndReason, Meeting, MeetingParticipant, User

log = logging.getLogger(__name__)

RINGING, ACTIVE, ENDED = CallState.RINGING.value, CallState.ACTIVE.value, CallState.ENDED.value

# The statements of a call start, built once: each execution passes only its parameters,
# so none is built, coerced and cache-keyed anew per request (a third of a start's CPU).
# The callee by name and the caller, row-locked in id order (PostgreSQL; SQLite has no row
# locks and serializes writers anyway): two people calling each other take turns, so the
# second start sees the first's invite and merges. The lock does not block inserts that
# only reference the users (NO KEY UPDATE).
# Plain rows (id, username, is_disabled): the start needs no User object.
_USERS = User.__table__
_PAIR_LOCKED = (
    select(_USERS.c.id, _USERS.c.username, _USERS.c.is_disabled, _USERS.c.is_probe)
    .where(or_(_USERS.c.username == bindparam("username"),
               _USERS.c.id == bindparam("caller_id")))
    .order_by(_USERS.c.id)
    .with_for_update(key_share=True)
)  # fmt: skip
# A user's ringing and active calls: one indexed lookup per side, because SQLite plans the
# equivalent `state IN (...) AND (caller_id = ? OR callee_id = ?)` as a read of every live
# call in the system (migrations/versions/a4f09c3e8b21). No call has the same user on both
# sides, so UNION ALL repeats none. Table columns, not the mapped class's attributes: the
# rows are plain tuples, and an ORM-flavoured select pays for the ORM's compile and result
# machinery anyway (81 -> 68 us a read; 182 -> 103 us on a slower run).
_CALLS = Call.__table__.c
# The states as plain bound values, `IN (?, ?)`: a tuple of strings would make an
# "expanding" parameter, which is re-rendered into the SQL on every execution (69 -> 45 us
# for this read's two).
_LIVE_STATES = (literal(RINGING), literal(ACTIVE))
_LIVE_CALL_ROWS_OF = union_all(
    *(
        select(
            _CALLS.id, _CALLS.state, _CALLS.caller_id, _CALLS.callee_id, _CALLS.created_at
        ).where(side == bindparam("user_id"), _CALLS.state.in_(_LIVE_STATES))
        for side in (_CALLS.caller_id, _CALLS.callee_id)
    )
)
# A ringing call to an enabled callee, with the caller's name: what `accept_ringing` reads.
_CALLER_OF_CALL, _CALLEE_OF_CALL = _USERS.alias("caller"), _USERS.alias("callee")
_RINGING_CALL_TO = (
    select(_CALLS.caller_id, _CALLS.caller_session_id, _CALLS.created_at, _CALLS.stats,
           _CALLS.probe, _CALLER_OF_CALL.c.username.label("caller"))
    .select_from(
        Call.__table__.join(_CALLEE_OF_CALL, _CALLEE_OF_CALL.c.id == _CALLS.callee_id)
        .outerjoin(_CALLER_OF_CALL, _CALLER_OF_CALL.c.id == _CALLS.caller_id)
    )
    .where(_CALLS.id == bindparam("call_id"), _CALLS.callee_id == bindparam("user_id"),
           _CALLS.state == RINGING, _CALLEE_OF_CALL.c.is_disabled.is_(False))
)  # fmt: skip
_LIVE_CALLS_OF = select(Call).where(Call.id.in_(select(_LIVE_CALL_ROWS_OF.subquery().c.id)))
_INSERT_CALL = insert(Call.__table__).returning(Call.__table__.c.id)
# Read right after a new call's INSERT, in its transaction: the callee's ringing call to
# the caller, if one committed since the start looked (SQLite: the INSERT holds the one
# write lock, so this sees every commit before it), and the caller's starts in the rate
# window, this one included. One statement where a rate query before the INSERT and a
# glare check after the commit used to be two, each in a transaction of its own.
_AFTER_INSERT = select(
    select(_CALLS.id)
    .where(_CALLS.caller_id == bindparam("callee_id"), _CALLS.state == RINGING,
           _CALLS.callee_id == bindparam("caller_id"))
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
    .where(_CALLS.caller_id == bindparam("caller_id"), _CALLS.state == RINGING,
           _CALLS.callee_id == bindparam("callee_id"), _CALLS.id != bindparam("call_id"))
    .limit(1)
    .scalar_subquery()
    .label("duplicate_id"),
    # The callee sits admitted in an open meeting: the call ends busy, as for a call.
    exists()
    .where(MeetingParticipant.user_id == bindparam("callee_id"),
           MeetingParticipant.state == literal("admitted"),
           MeetingParticipant.meeting_id == Meeting.id, Meeting.state == literal("open"))
    .label("callee_in_meeting"),
    # The caller is in an active call (nobody is in two): one indexed lookup per side.
    or_(*(exists().where(side == bindparam("caller_id"), _CALLS.state == literal(ACTIVE))
          for side in (_CALLS.caller_id, _CALLS.callee_id))).label("caller_in_call"),
)  # fmt: skip
# Ringing -> active, only while neither side is in another active call: one statement, so
# two accepts (or an accept and a glare merge) for one person cannot both win. SQLite runs
# it under its one write lock; on PostgreSQL `_lock_parties` orders the deciders first.
_OTHER_CALL = Call.__table__.alias("other_call")


def _in_active_call(user_id: Any) -> Any:
    """SQL: `user_id` is a side of an active call (one indexed lookup per side)."""
    return or_(*(exists().where(side == user_id, _OTHER_CALL.c.state == literal(ACTIVE))
                 for side in (_OTHER_CALL.c.caller_id, _OTHER_CALL.c.callee_id)))  # fmt: skip


_ANSWER = (
    update(Call.__table__)
    .where(_CALLS.id == bindparam("where_id"), _CALLS.state == literal(RINGING),
           ~_in_active_call(_CALLS.caller_id), ~_in_active_call(_CALLS.callee_id))
)  # fmt: skip
_PARTIES_LOCKED = (
    select(_USERS.c.id)
    .where(_USERS.c.id.in_(bindparam("user_ids", expanding=True)))
    .order_by(_USERS.c.id)
    .with_for_update(key_share=True)
)


class _Party(Protocol):
    """A user of a call start: a row of `_PAIR_LOCKED` (id, username, is_disabled)."""

    id: int
    username: str
    is_probe: bool


# Outbox event kind announced for each end reason.
END_EVENTS = {
    EndReason.HANGUP: "call.ended",
    EndReason.DECLINED: "call.declined",
    EndReason.CANCELLED: "call.cancelled",
    EndReason.MISSED: "call.missed",
    EndReason.BUSY: "call.busy",
    EndReason.CONNECTION_LOST: "call.ended",
}


@dataclass
class StartResult:
    call_id: int
    outcome: str  # "ringing", "existing" or "merged"
    record: dict[str, Any]  # the call as `CallOut` JSON, as it stands after the start


def _record_of(call: Call) -> dict[str, Any]:
    """The call's public record, as clients and outbox events carry it (CallOut JSON)."""
    return CallOut.from_call(call).model_dump(mode="json")


def call_not_found() -> ApiError:
    return ApiError(404, "call_not_found", "No such call.")


def get_call_for(user_id: int, call_id: int) -> Call:
    """The call if `user_id` took part in it; otherwise 404 (never reveal others' calls)."""
    call = db.session.get(Call, call_id)
    if call is None or user_id not in call.participant_ids:
        raise call_not_found()
    return call


def _announce(kind: str, call: Call, **extra: Any) -> dict[str, Any]:
    """Log the transition and add its outbox event; returns the public record announced."""
    record = _record_of(call)
    _announce_record(kind, record, call.caller_id, call.callee_id, call.caller_session_id,
                     call.callee_session_id, reason=call.end_reason, probe=call.probe,
                     **extra)  # fmt: skip
    return record


def _announce_record(kind: str, record: dict[str, Any], caller_id: int | None,
                     callee_id: int | None, caller_session_id: int | None,
                     callee_session_id: int | None, reason: str | None = None,
                     probe: bool = False, **extra: Any) -> None:  # fmt: skip
    """`_announce` for a call known as its public `record` and routing ids (no object)."""
    logs.event(log, kind, call=record["id"], caller=record["caller"], callee=record["callee"],
               reason=reason)  # fmt: skip
    data = {
        "call": record,
        # internal routing facts for the daemon; never sent to clients as-is. With the ids
        # the daemon learns who is in a new call from the event alone, without a query.
        "caller_id": caller_id,
        "callee_id": callee_id,
        "caller_session_id": caller_session_id,
        "callee_session_id": callee_session_id,
        **({"probe": True} if probe else {}),  # chimecast-probe: no webhooks, no metrics
        **extra,
    }
    participants = [uid for uid in (caller_id, callee_id) if uid is not None]
    publish(kind, participants, data, call_id=record["id"])


@functools.cache
def _conditional_update(from_states: tuple[str, ...]) -> Update:
    """UPDATE calls SET ... WHERE id = :where_id AND state IN <from_states>.

    Built once per set of states (a handful exist). The SET clause comes from the keys of
    the execution parameters, so a transition builds, coerces and cache-keys no statement
    of its own (the Table, not the class: no ORM bulk-update path either)."""
    calls = Call.__table__
    states = [literal(state) for state in from_states]  # no expanding parameter (above)
    return update(calls).where(calls.c.id == bindparam("where_id"), calls.c.state.in_(states))


def _transition(call: Call, from_states: tuple[str, ...], **values: Any) -> bool:
    """Apply `values` if the call is still in one of `from_states`; True if this call won.

    The UPDATE is conditional, so when it wins the row holds exactly `values` on top of what
    was read: they are set on `call` directly instead of reading the row back.
    """
    result = db.session.execute(_conditional_update(from_states), {**values, "where_id": call.id})
    if result.rowcount != 1:
        db.session.rollback()
        return False
    for key, value in values.items():
        set_committed_value(call, key, value)
    return True


def _end(
    call: Call,
    reason: EndReason,
    ended_by: User | None,
    from_states: tuple[str, ...],
    **more: Any,
) -> bool:
    values = {"state": ENDED, "end_reason": reason.value, "ended_at": utcnow(), **more}
    values["ended_by_id"] = ended_by.id if ended_by is not None else None
    if not _transition(call, from_states, **values):
        return False
    set_committed_value(call, "ended_by", ended_by)
    _announce(END_EVENTS[reason], call)
    db.session.commit()
    return True


def expire_unanswered(now: datetime | None = None) -> list[int]:
    """Mark calls ringing longer than RING_TIMEOUT as missed; returns their ids (committed)."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=current_app.config["RING_TIMEOUT"])
    stale = list(
        db.session.scalars(select(Call).where(Call.state == RINGING, Call.created_at <= cutoff))
    )
    return [call.id for call in stale if _end(call, EndReason.MISSED, None, (RINGING,))]


def _start_window() -> datetime:
    """Starts made after this instant count against CALL_START_LIMIT."""
    return utcnow() - timedelta(seconds=current_app.config["CALL_START_WINDOW"])


def _too_many_calls() -> ApiError:
    window = current_app.config["CALL_START_WINDOW"]
    return ApiError(429, "too_many_calls", "You are starting calls too quickly.",
                    headers={"Retry-After": str(window)})  # fmt: skip


def _already_in_call() -> ApiError:
    return ApiError(409, "already_in_call", "You are in another call; hang up first.")


def _after_insert(caller_id: int, callee_id: int, call_id: int) -> Any:
    """The new call's (crossing_id, recent_starts, duplicate_id, caller_in_call), read in
    its transaction; a start over CALL_START_LIMIT, or by a caller in an active call, is
    rolled back here and refused (429, 409 already_in_call), so nothing is recorded."""
    found = db.session.execute(_AFTER_INSERT, {
        "caller_id": caller_id, "callee_id": callee_id, "since": _start_window(),
        "call_id": call_id,
    }).one()  # fmt: skip
    if found.caller_in_call:
        db.session.rollback()
        raise _already_in_call()
    if found.recent_starts > current_app.config["CALL_START_LIMIT"]:
        db.session.rollback()
        raise _too_many_calls()
    return found


def _lock_parties(*user_ids: int | None) -> None:
    """PostgreSQL: take the users' row locks (id order, the mode `_PAIR_LOCKED` takes), so
    whoever decides whether they are free to talk decides after the last one committed.
    SQLite serializes writers already."""
    ids = sorted({uid for uid in user_ids if uid is not None})
    if ids and db.session.get_bind().dialect.name != "sqlite":
        db.session.execute(_PARTIES_LOCKED, {"user_ids": ids}).all()


def _answer(call_id: int, values: dict[str, Any]) -> bool:
    """Ringing -> active with `values`, if neither side is in another active call."""
    return db.session.execute(_ANSWER, {**values, "where_id": call_id}).rowcount == 1


@dataclass
class _LiveCalls:
    """What a new call to `callee` runs into: one query, sorted out in Python."""

    existing: Call | None = None  # the caller's own call to the callee, still ringing
    crossing: Call | None = None  # the callee's call to the caller, ringing (glare)
    callee_busy: bool = False  # the callee is in an active call


def _live_calls_around(caller: _Party, callee: _Party) -> _LiveCalls:
    """Ringing and active calls of `callee`; overdue ringing ones are marked missed first.

    One query instead of one per question (and no sweep of every overdue call in the
    system on each start: the daemon's ring timer and the history views do that).
    """
    cutoff = utcnow() - timedelta(seconds=current_app.config["RING_TIMEOUT"])
    found = _LiveCalls()
    # Plain rows: most callees have no live call, and a call object is loaded (by id, with
    # its users) only for a row that needs one.
    for row in db.session.execute(_LIVE_CALL_ROWS_OF, {"user_id": callee.id}).all():
        if row.state == ACTIVE:
            found.callee_busy = found.callee_busy or not _ended_as_abandoned(row.id)
        elif row.created_at <= cutoff:
            _end(_load(row.id), EndReason.MISSED, None, (RINGING,))
        elif (row.caller_id, row.callee_id) == (caller.id, callee.id):
            found.existing = _load(row.id)
        elif (row.caller_id, row.callee_id) == (callee.id, caller.id):
            found.crossing = _load(row.id)
    return found


def _ended_as_abandoned(call_id: int) -> bool:
    """End an active call whose participant vanished with no daemon left to end it
    (`connection_lost`, ended by node "web"); True if it ended here."""
    call = _load(call_id)
    lost_user_id = liveness.abandoning_user(call)
    return lost_user_id is not None and end_lost_call(call_id, lost_user_id, "web")


def _load(call_id: int) -> Call:
    call = db.session.get(Call, call_id)
    assert call is not None  # calls are never deleted
    return call


def _insert_call(caller: _Party, callee: _Party, session_id: int | None, now: datetime,
                 **outcome: Any) -> tuple[int, dict[str, Any]]:  # fmt: skip
    """INSERT a new call (ringing, unless `outcome` says how it ended) as one prebuilt
    statement; returns its id and its public record. No object: nothing of the start
    needs one, and building it (and its users) cost more than the statement itself."""
    row = {"caller_id": caller.id, "callee_id": callee.id, "caller_session_id": session_id,
           "callee_session_id": None, "state": RINGING, "end_reason": None, "ended_by_id": None,
           "created_at": now, "answered_at": None, "ended_at": None, "stats": {},
           "probe": caller.is_probe, **outcome}  # fmt: skip
    call_id = db.session.execute(_INSERT_CALL, row).scalar_one()
    record = CallOut(
        id=call_id, state=row["state"], end_reason=row["end_reason"], caller=caller.username,
        callee=callee.username, created_at=now, answered_at=None, ended_at=row["ended_at"],
        duration_seconds=None,
    ).model_dump(mode="json")  # fmt: skip
    return call_id, record


def _announce_new(kind: str, record: dict[str, Any], caller: _Party, callee: _Party,
                  session_id: int | None) -> None:  # fmt: skip
    _announce_record(kind, record, caller.id, callee.id, session_id, None,
                     reason=record["end_reason"], probe=caller.is_probe)  # fmt: skip


def start_call(caller_id: int, callee_username: str, session_id: int | None = None,
               _attempts: int = 3) -> StartResult:  # fmt: skip
    """Ring `callee_username` on behalf of user `caller_id`.

    Outcomes: a new ringing call; the same caller's call that is already ringing
    ("existing"); the callee's own ringing call to the caller, accepted ("merged", glare);
    or, if the callee is in an active call, a call recorded as ended/busy raised as 409.
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
        return StartResult(live.existing.id, "existing", _record_of(live.existing))
    if live.crossing is not None:
        record = _merge(live.crossing, caller, session_id)
        if record is not None:
            return StartResult(live.crossing.id, "merged", record)
    now = utcnow()
    if live.callee_busy:
        _busy(caller, callee, session_id, now)
    call_id, record = _insert_call(caller, callee, session_id, now)
    found = _after_insert(caller.id, callee.id, call_id)
    if found.duplicate_id is not None:  # the same start, made at the same instant, won
        db.session.rollback()
        existing = _load(found.duplicate_id)
        return StartResult(existing.id, "existing", _record_of(existing))
    if found.callee_in_meeting:  # rare: asked after the INSERT, to keep a start 5 statements
        db.session.rollback()
        _busy(caller, callee, session_id, now)
    if found.crossing_id is not None and _attempts > 1:
        return _give_way(found.crossing_id, caller, callee_username, session_id, _attempts)
    _announce_new("call.ringing", record, caller, callee, session_id)
    db.session.commit()
    return StartResult(call_id, "ringing", record)


def _busy(caller: _Party, callee: _Party, session_id: int | None, now: datetime) -> None:
    """Record the call as ended busy (the callee is in a call or a meeting); raise 409."""
    busy_id, record = _insert_call(caller, callee, session_id, now, state=ENDED,
                                   end_reason=EndReason.BUSY.value, ended_at=now)  # fmt: skip
    _after_insert(caller.id, callee.id, busy_id)
    _announce_new(END_EVENTS[EndReason.BUSY], record, caller, callee, session_id)
    db.session.commit()
    raise ApiError(
        409, "callee_busy", f"{callee.username} is in another call.", body={"call": record}
    )


def _merge(crossing: Call, caller: _Party, session_id: int | None) -> dict[str, Any] | None:
    """Answer the callee's ringing call to `caller` on `caller`'s behalf (glare); returns
    the merged call's record, or None if the call was no longer ringing."""
    answered = {"state": ACTIVE, "answered_at": utcnow(), "callee_session_id": session_id}
    _lock_parties(crossing.caller_id, crossing.callee_id)
    if not _answer(crossing.id, answered):
        db.session.rollback()
        return None
    for key, value in answered.items():
        set_committed_value(crossing, key, value)
    record = _announce(
        "call.accepted", crossing, merged=True, accepted_by=caller.username, session_id=session_id
    )
    db.session.commit()
    return record


def _give_way(crossing_id: int, caller: _Party, callee_username: str, session_id: int | None,
              attempts: int) -> StartResult:  # fmt: skip
    """The callee's invite to the caller committed after this start looked for it and
    before its own INSERT (on SQLite, which has no row locks, two people who call each
    other at the same instant). The later invite gives way before it is ever announced:
    its INSERT is rolled back and the earlier invite is merged. (On PostgreSQL
    `_PAIR_LOCKED` already made this start see that invite.) If the crossing call stopped
    ringing meanwhile, the start begins again."""
    db.session.rollback()  # the new call's INSERT: nothing was announced
    crossing = _load(crossing_id)
    record = _merge(crossing, caller, session_id)
    if record is not None:
        return StartResult(crossing.id, "merged", record)
    return start_call(caller.id, callee_username, session_id, _attempts=attempts - 1)


def accept_call(user: User, call_id: int, session_id: int | None = None) -> Call:
    """The callee answers. `session_id` names the answering device (for answered_elsewhere)."""
    call = get_call_for(user.id, call_id)
    if call.callee_id != user.id:
        raise ApiError(409, "not_callee", "Only the person being called can accept.")
    answered = {"state": ACTIVE, "answered_at": utcnow(), "callee_session_id": session_id}
    _lock_parties(call.caller_id, call.callee_id)
    if not _answer(call.id, answered):
        db.session.rollback()
        db.session.refresh(call)
        if call.state == RINGING:
            raise _already_in_call()  # or the caller is: either way, not now
        raise ApiError(409, "call_not_ringing", f"The call is {call.state}, not ringing.")
    for key, value in answered.items():
        set_committed_value(call, key, value)
    _announce("call.accepted", call, accepted_by=user.username, session_id=session_id)
    db.session.commit()
    return call


@dataclass(frozen=True)
class Accepted:
    """A call its callee has just answered, as plain values (see `accept_ringing`)."""

    call_id: int
    caller_id: int | None
    callee_id: int
    caller: str | None  # usernames
    callee: str
    caller_session_id: int | None
    callee_session_id: int | None
    record: dict[str, Any]  # the public record announced (CallOut JSON)


def accept_ringing(user_id: int, user_name: str, call_id: int,
                   session_id: int | None = None) -> Accepted | None:  # fmt: skip
    """`accept_call` for its common case, with rows instead of objects: `user_id` (enabled)
    answers the ringing call `call_id` addressed to them. None, with nothing changed, in
    every other case; `accept_call` then says which refusal it is.

    The same transition and the same announcement as `accept_call`, in three statements
    and no ORM object (the daemon's accept job in one process: 736-772 -> 579-607 us)."""
    row = db.session.execute(
        _RINGING_CALL_TO, {"call_id": call_id, "user_id": user_id}
    ).one_or_none()
    if row is None:
        return None
    answered = {"state": ACTIVE, "answered_at": utcnow(), "callee_session_id": session_id}
    _lock_parties(row.caller_id, user_id)
    if not _answer(call_id, answered):
        db.session.rollback()
        return None
    record = CallOut(
        id=call_id, state=ACTIVE, end_reason=None, caller=row.caller, callee=user_name,
        created_at=row.created_at, answered_at=answered["answered_at"], ended_at=None,
        duration_seconds=None, stats=row.stats or {},
    ).model_dump(mode="json")  # fmt: skip
    _announce_record("call.accepted", record, row.caller_id, user_id, row.caller_session_id,
                     session_id, probe=row.probe, accepted_by=user_name,
                     session_id=session_id)  # fmt: skip
    db.session.commit()
    return Accepted(call_id, row.caller_id, user_id, row.caller, user_name,
                    row.caller_session_id, session_id, record)  # fmt: skip


def decline_call(user: User, call_id: int) -> Call:
    """The callee refuses a ringing call."""
    call = get_call_for(user.id, call_id)
    if call.callee_id != user.id:
        raise ApiError(409, "not_callee", "Only the person being called can decline.")
    if not _end(call, EndReason.DECLINED, user, (RINGING,)):
        raise ApiError(409, "call_not_ringing", f"The call is {call.state}, not ringing.")
    return call


def end_call(user: User, call_id: int) -> Call:
    """Hang up, cancel (caller, ringing) or decline (callee, ringing). Idempotent once ended."""
    call = get_call_for(user.id, call_id)
    for _attempt in range(3):  # the state may change under us; re-read and retry
        if call.state == ENDED:
            return call
        if call.state == ACTIVE:
            reason = EndReason.HANGUP
        else:
            reason = EndReason.CANCELLED if call.caller_id == user.id else EndReason.DECLINED
        if _end(call, reason, user, (call.state,)):
            return call
        db.session.refresh(call)
    return call


def end_lost_call(
    call_id: int, lost_user_id: int | None = None, node_id: str | None = None
) -> bool:
    """A vanished participant did not come back: end with connection_lost, recording who
    vanished (`ended_by`) and which process gave up waiting (`ended_by_node`)."""
    call = db.session.get(Call, call_id)
    if call is None:
        return False
    lost = db.session.get(User, lost_user_id) if lost_user_id else None
    return _end(
        call, EndReason.CONNECTION_LOST, lost, (RINGING, ACTIVE), ended_by_node=node_id or None
    )


def record_stats(user: User, call_id: int, stats: dict[str, Any]) -> Call:
    """Store what a participant reports about the media path (direct/relayed, RTT)."""
    call = get_call_for(user.id, call_id)
    merged = dict(call.stats or {})
    merged[user.username] = stats
    call.stats = merged
    db.session.commit()
    return call


def active_calls_of(user_id: int) -> list[Call]:
    """Calls ringing or active that `user_id` takes part in (for reconnecting clients)."""
    return list(db.session.scalars(_LIVE_CALLS_OF, {"user_id": user_id}))


def history(user_id: int, page: int, per_page: int) -> tuple[list[Call], int]:
    """The user's calls, newest first, and the total count."""
    mine = or_(Call.caller_id == user_id, Call.callee_id == user_id)
    total = db.session.scalar(select(func.count(Call.id)).where(mine)) or 0
    calls = db.session.scalars(
        select(Call)
        .where(mine)
        .order_by(Call.created_at.desc(), Call.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(calls), total
