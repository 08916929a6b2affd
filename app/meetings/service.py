"""The meeting state machine: every change to a meeting or a seat happens here.

Like the call service it is used by the web app (HTTP) and the signaling daemon (join,
leave, moderation over the socket); each change commits with an outbox event for the
people concerned, so the daemon can tell them. Errors are ApiError with stable codes.

Rules: the host is never kept waiting; with a waiting room everyone else waits for the
host to admit them, even if they arrive first; a user denied MEETING_MAX_DENIALS times or
removed cannot ask again; a locked meeting takes nobody new; when the host leaves, the
longest-present participant becomes host; when the last admitted participant leaves, it
ends (a waiting guest who gives up ends nothing); a deleted or disabled account leaves
every meeting it is in, as if it had left. Only the host sees who waits and the seat
history; someone denied or removed sees the meeting no more.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select, update

from app import liveness
from app.clock import utcnow
from app.errors import ApiError
from app.events import publish
from app.extensions import db
from app.janus import rooms
from app.models import MediaPath, Meeting, MeetingParticipant, MeetingState, SeatState, User

OPEN, ENDED = MeetingState.OPEN.value, MeetingState.ENDED.value
WAITING, ADMITTED, DENIED = (
    SeatState.WAITING.value,
    SeatState.ADMITTED.value,
    SeatState.DENIED.value,
)
LEFT, REMOVED = SeatState.LEFT.value, SeatState.REMOVED.value
MESH, SFU = MediaPath.MESH.value, MediaPath.SFU.value
INVITE_PREFIX = "cci_"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def meeting_not_found() -> ApiError:
    return ApiError(404, "meeting_not_found", "No such meeting.")


def view(meeting: Meeting, viewer_id: int | None = None) -> dict[str, Any]:
    """The public shape of a meeting; the host also sees who is waiting and the seat
    history (who came, waited, left and why). Without a viewer (outbox events, which go
    to every participant) neither is included."""
    seats = meeting.seats
    own = _seat(meeting, viewer_id) if viewer_id is not None else None
    shut_out = own is not None and own.state in (DENIED, REMOVED) and viewer_id != meeting.host_id
    data: dict[str, Any] = {
        "id": meeting.id,
        "name": meeting.name,
        "state": meeting.state,
        "end_reason": meeting.end_reason,
        "host": meeting.host.username if meeting.host else None,
        "host_name": (meeting.host.display_name or meeting.host.username) if meeting.host else None,
        "waiting_room": meeting.waiting_room,
        "locked": meeting.locked,
        "max_participants": meeting.max_participants,
        "media": meeting.media,
        "created_at": meeting.created_at.isoformat(),
        "ended_at": meeting.ended_at.isoformat() if meeting.ended_at else None,
        "participants": [] if shut_out else [s.username for s in _admitted(meeting)],
        "sharer": _sharer_name(meeting),
        "waiting_count": sum(1 for s in seats if s.state == WAITING),
    }
    if viewer_id is not None and viewer_id == meeting.host_id:
        data["waiting"] = [s.username for s in seats if s.state == WAITING]
        data["history"] = [_seat_view(s) for s in seats]
    sfu = rooms.credential(meeting, own) if own is not None and not shut_out else None
    if sfu is not None:
        data["sfu"] = {**sfu, "feeds": rooms.feeds(meeting)}
    return data


def _sharer_name(meeting: Meeting) -> str | None:
    seat = _seat(meeting, meeting.screen_sharer_id) if meeting.screen_sharer_id else None
    return seat.username if seat is not None else None


def _seat_view(seat: MeetingParticipant) -> dict[str, Any]:
    return {
        "username": seat.username,
        "state": seat.state,
        "joined_at": seat.joined_at.isoformat() if seat.joined_at else None,
        "left_at": seat.left_at.isoformat() if seat.left_at else None,
        "left_reason": seat.left_reason,
    }


def roster(meeting: Meeting) -> dict[str, Any]:
    """Routing facts for the daemon (never sent to clients as-is): who sits where, on which
    device, and who hosts."""
    return {
        "meeting_id": meeting.id,
        "state": meeting.state,
        "host_id": meeting.host_id,
        "seats": [
            {
                "user_id": s.user_id,
                "username": s.username,
                "session_id": s.session_id,
                "state": s.state,
            }
            for s in meeting.seats
            if s.user_id is not None
        ],
    }


def _announce(kind: str, meeting: Meeting, user_ids: list[int] | None = None, **extra: Any) -> None:
    """Outbox event for everyone admitted (plus `user_ids`), carrying the meeting view."""
    present = [s.user_id for s in meeting.seats if s.state == ADMITTED and s.user_id]
    recipients = present + list(user_ids or []) + ([meeting.host_id] if meeting.host_id else [])
    data = {"meeting": view(meeting), "roster": roster(meeting), **extra}
    publish(kind, recipients, data, call_id=None)


def _seat(meeting: Meeting, user_id: int) -> MeetingParticipant | None:
    return next((s for s in meeting.seats if s.user_id == user_id), None)


def _admitted(meeting: Meeting) -> list[MeetingParticipant]:
    """Admitted seats in the order their users joined."""
    admitted = [s for s in meeting.seats if s.state == ADMITTED]
    return sorted(admitted, key=lambda s: (s.joined_at, s.id))


def create_meeting(
    host: User,
    name: str,
    waiting_room: bool = False,
    max_participants: int | None = None,
    invite_ttl: int | None = None,
    invite_max_uses: int | None = None,
    media: str = "auto",
) -> tuple[Meeting, str]:
    """Create an open meeting hosted by `host`; returns it and its invite token (shown once).

    `media` mesh, sfu or auto (sfu when an SFU is configured and the meeting is larger
    than a mesh may be); an SFU meeting gets its Janus room now."""
    config = current_app.config
    size = max_participants or config["MEETING_DEFAULT_SIZE"]
    media = _media_path(media, size)
    limit = config["MEETING_SFU_MAX_SIZE"] if media == SFU else config["MEETING_MAX_SIZE"]
    if not 2 <= size <= limit:
        raise ApiError(400, "invalid_field", f"max_participants: between 2 and {limit}.")
    token = INVITE_PREFIX + secrets.token_urlsafe(24)
    meeting = Meeting(
        name=name.strip()[:100] or f"{host.username}'s meeting",
        host=host,
        created_by_id=host.id,
        waiting_room=waiting_room,
        max_participants=size,
        invite_token_hash=_hash(token),
        invite_expires_at=utcnow() + timedelta(seconds=invite_ttl) if invite_ttl else None,
        invite_max_uses=invite_max_uses,
        media=media,
    )
    if media == SFU:
        rooms.open_room(meeting)
    db.session.add(meeting)
    _commit()
    return meeting, token


def _media_path(requested: str, size: int) -> str:
    """mesh or sfu for a new meeting of `size`; 409 for sfu without an SFU."""
    configured = bool(current_app.config["JANUS_URLS"])
    if requested == SFU and not configured:
        raise ApiError(409, "sfu_not_configured", "This server has no SFU (Janus); use media mesh.")
    if requested == "auto":
        return SFU if configured and size > current_app.config["MEETING_MAX_SIZE"] else MESH
    return requested


def _commit() -> None:
    """Commit, then make the Janus calls the change queued (see app/janus/rooms.py): the
    meeting's lock is given back before any of them."""
    db.session.commit()
    rooms.after_commit()


def _locked(meeting_id: int) -> Meeting | None:
    """The meeting, read after taking its row's write lock.

    Changes to one meeting's seats then happen one at a time, each seeing the outcome of
    the one before: two people joining at the same instant must each know of the other,
    or neither would offer to the other. A no-op UPDATE is the lock on both databases
    (PostgreSQL: the row; SQLite: the write lock, waited for with busy_timeout).
    """
    rooms.discard_pending()  # queued by a change that was rolled back
    db.session.execute(
        update(Meeting)
        .where(Meeting.id == meeting_id)
        .values(locked=Meeting.locked)
        .execution_options(synchronize_session=False)
    )
    db.session.expire_all()
    return db.session.get(Meeting, meeting_id)


def get_meeting_for(user_id: int, meeting_id: int, lock: bool = False) -> Meeting:
    """The meeting if `user_id` hosts it or has a seat in it; otherwise 404.

    `lock` for changes (see `_locked`)."""
    meeting = _locked(meeting_id) if lock else db.session.get(Meeting, meeting_id)
    if meeting is None or (meeting.host_id != user_id and _seat(meeting, user_id) is None):
        raise meeting_not_found()
    return meeting


def visible_meeting(user_id: int, meeting_id: int) -> Meeting:
    """`get_meeting_for` for reading: someone denied or removed is shown nothing (404),
    like anyone without a seat."""
    meeting = get_meeting_for(user_id, meeting_id)
    seat = _seat(meeting, user_id)
    if meeting.host_id != user_id and seat is not None and seat.state in (DENIED, REMOVED):
        raise meeting_not_found()
    return meeting


def find_by_invite(token: str) -> Meeting | None:
    if not token.startswith(INVITE_PREFIX):
        return None
    return db.session.scalar(select(Meeting).filter_by(invite_token_hash=_hash(token)))


def _check_invite(
    meeting: Meeting, invite: str | None, user: User, seat: MeetingParticipant | None
) -> None:
    """Anyone may rejoin a meeting they were admitted to; newcomers need a valid invite."""
    if user.id == meeting.host_id or (seat is not None and seat.joined_at is not None):
        return
    if not invite or meeting.invite_token_hash != _hash(invite):
        raise meeting_not_found()
    if meeting.invite_expires_at is not None and utcnow() >= meeting.invite_expires_at:
        raise ApiError(403, "invite_expired", "This invite has expired.")
    if meeting.invite_max_uses is not None and meeting.invite_uses >= meeting.invite_max_uses:
        raise ApiError(403, "invite_used_up", "This invite has been used up.")
    if seat is None:
        meeting.invite_uses += 1


def _check_can_enter(meeting: Meeting, user: User, seat: MeetingParticipant | None) -> None:
    if meeting.state != OPEN:
        raise ApiError(409, "meeting_ended", "The meeting has ended.")
    if seat is not None and seat.state == REMOVED:
        raise ApiError(403, "removed", "The host removed you from this meeting.")
    if seat is not None and seat.denials >= current_app.config["MEETING_MAX_DENIALS"]:
        raise ApiError(403, "join_denied", "The host has denied your requests to join.")
    if meeting.locked and user.id != meeting.host_id and (seat is None or seat.state != ADMITTED):
        raise ApiError(403, "meeting_locked", "The meeting is locked.")


def _check_room(meeting: Meeting) -> None:
    if len(_admitted(meeting)) >= meeting.max_participants:
        raise ApiError(409, "room_full", f"The meeting is full ({meeting.max_participants}).")


def _free_abandoned_seats(
    meeting: Meeting, acting_id: int | None, only: int | None = None
) -> Meeting:
    """A full meeting (or, with `only`, that user's seat in any meeting) first frees the
    seats of devices that vanished with no daemon left to give them their grace (they would
    otherwise count for ever), committed before the request changes anything, and is
    locked again; the acting user's seat is never freed. The meeting ends if nobody is left."""
    if meeting.state != OPEN:
        return meeting
    if only is None and len(_admitted(meeting)) < meeting.max_participants:
        return meeting
    limit = utcnow() - liveness.abandoned_after()
    freed = False
    for seat in _admitted(meeting):
        if seat.user_id is None or seat.user_id == acting_id:
            continue
        if only is not None and seat.user_id != only:
            continue
        since = liveness.lost_since(seat.user_id, seat.session_id)
        if since is not None and since < limit:
            _leave(meeting, seat, LEFT, "connection_lost")
            _announce("meeting.left", meeting, [seat.user_id], user=seat.username,
                      reason="connection_lost")  # fmt: skip
            freed = True
    if not freed:
        return meeting
    _commit()
    relocked = _locked(meeting.id)
    assert relocked is not None  # meetings are never deleted
    return relocked


Prior = tuple[str | None, Any, Any, str | None]  # a seat's state, joined_at, left_at, reason


def _admit(meeting: Meeting, seat: MeetingParticipant) -> Prior:
    """Admit `seat` (in place); in an SFU meeting it gets a new grant, which Janus learns
    of after the commit (`_grant_or_undo`). Returns what the seat was, to undo it."""
    prior = (seat.state, seat.joined_at, seat.left_at, seat.left_reason)
    if meeting.media == SFU:
        rooms.reserve(meeting, seat)
    seat.state, seat.joined_at = ADMITTED, seat.joined_at or utcnow()
    seat.left_at = seat.left_reason = None
    return prior


def _grant_or_undo(meeting: Meeting, admitted: list[tuple[MeetingParticipant, Prior]]) -> None:
    """After the commit that admitted them: give each seat's grant to Janus (no lock
    held). Seats Janus does not take are put back as they were (nobody is admitted to
    media they cannot reach; everyone is told they left, `sfu_unavailable`) and the 503
    is raised, unless the seat changed meanwhile (then that change stands)."""
    failed: list[tuple[int, str | None, Prior]] = []
    error: ApiError | None = None
    for seat, prior in admitted:
        try:
            rooms.grant(meeting, seat)
        except ApiError as exc:
            failed.append((seat.id, seat.janus_grant, prior))
            error = exc
    if error is None:
        return
    relocked = _locked(meeting.id)
    assert relocked is not None  # meetings are never deleted
    for seat_id, grant, (state, joined_at, left_at, reason) in failed:
        seat = next(s for s in relocked.seats if s.id == seat_id)
        if seat.state != ADMITTED or seat.janus_grant != grant:
            continue
        seat.janus_grant = None
        if state is None:  # a new seat: it was never anything else
            state, left_at, reason = LEFT, utcnow(), "sfu_unavailable"
        seat.state, seat.joined_at, seat.left_at, seat.left_reason = (
            state,
            joined_at,
            left_at,
            reason,
        )
        _announce("meeting.left", relocked, [seat.user_id], user=seat.username,
                  reason="sfu_unavailable")  # fmt: skip
    _commit()
    raise error


def join(
    user: User, meeting_id: int, invite: str | None, session_id: int | None
) -> MeetingParticipant:
    """Ask to join. The host and (without a waiting room) invitees are admitted at once;
    others wait. Rejoining from another device moves the seat to that device."""
    meeting = _locked(meeting_id)
    if meeting is None:
        raise meeting_not_found()
    meeting = _free_abandoned_seats(meeting, user.id)
    seat = _seat(meeting, user.id)
    _check_invite(meeting, invite, user, seat)
    _check_can_enter(meeting, user, seat)
    if seat is None:
        seat = MeetingParticipant(meeting=meeting, user_id=user.id, username=user.username)
        db.session.add(seat)
    was_admitted = seat.state == ADMITTED
    seat.session_id = session_id
    admitted: list[tuple[MeetingParticipant, Prior]] = []
    if was_admitted:
        pass  # a reconnect or a second device: same seat
    elif user.id == meeting.host_id or not meeting.waiting_room or seat.joined_at is not None:
        _check_room(meeting)
        admitted.append((seat, _admit(meeting, seat)))
    else:
        seat.state, seat.requested_at = WAITING, utcnow()
    db.session.flush()
    kind = "meeting.joined" if seat.state == ADMITTED else "meeting.waiting"
    _announce(kind, meeting, [user.id], user=user.username, session_id=session_id)
    _commit()
    _grant_or_undo(meeting, admitted)
    return seat


def _require_host(user: User, meeting_id: int) -> Meeting:
    meeting = get_meeting_for(user.id, meeting_id, lock=True)
    if meeting.host_id != user.id:
        raise ApiError(403, "not_host", "Only the host can do that.")
    if meeting.state != OPEN:
        raise ApiError(409, "meeting_ended", "The meeting has ended.")
    return meeting


def _seat_of(meeting: Meeting, username: str, states: tuple[str, ...]) -> MeetingParticipant:
    seat = next((s for s in meeting.seats if s.username == username.lower()), None)
    if seat is None or seat.state not in states:
        raise ApiError(
            404, "participant_not_found", f"{username} is not {' or '.join(states)} here."
        )
    return seat


def admit(host: User, meeting_id: int, username: str | None) -> list[str]:
    """Admit one waiting user, or everyone waiting (`username=None`) while there is room.

    People admitted together still arrive one after another: each one's event carries the
    roster as it was when they got in, so each newcomer offers only to those admitted before
    it, and of any two exactly one offers."""
    meeting = _free_abandoned_seats(_require_host(host, meeting_id), host.id)
    waiting = sorted(
        (s for s in meeting.seats if s.state == WAITING), key=lambda s: (s.requested_at, s.id)
    )
    seats = [_seat_of(meeting, username, (WAITING,))] if username else waiting
    if username:
        _check_room(meeting)  # one named person: say why they cannot come in
    admitted: list[tuple[MeetingParticipant, Prior]] = []
    for seat in seats:
        if len(_admitted(meeting)) >= meeting.max_participants:
            break  # everyone: let in whoever fits, in order of arrival; the rest keep waiting
        admitted.append((seat, _admit(meeting, seat)))
        db.session.flush()
        _announce(
            "meeting.joined",
            meeting,
            [seat.user_id],
            user=seat.username,
            session_id=seat.session_id,
        )
    _commit()
    _grant_or_undo(meeting, admitted)
    return [seat.username for seat, _ in admitted]


def deny(host: User, meeting_id: int, username: str) -> MeetingParticipant:
    meeting = _require_host(host, meeting_id)
    seat = _seat_of(meeting, username, (WAITING,))
    seat.state, seat.denials = DENIED, seat.denials + 1
    _announce("meeting.denied", meeting, [seat.user_id], user=seat.username)
    _commit()
    return seat


def _leave(meeting: Meeting, seat: MeetingParticipant, state: str, reason: str) -> None:
    """`seat` leaves; the host role passes on; the meeting ends when the last admitted
    participant has left. A waiting guest who gives up changes neither."""
    was_admitted = seat.state == ADMITTED
    seat.state, seat.left_at, seat.left_reason = state, utcnow(), reason
    if meeting.screen_sharer_id == seat.user_id:
        meeting.screen_sharer_id = None  # the others see it with `participant_left`
    if seat.janus_grant is not None:
        rooms.revoke(meeting, seat)
    if meeting.host_id == seat.user_id:
        _pass_host_role(meeting)
    if was_admitted and not _admitted(meeting):
        _end(meeting, "empty")


def _pass_host_role(meeting: Meeting) -> None:
    """The participant present longest becomes host (none if nobody is admitted)."""
    successor = next(iter(_admitted(meeting)), None)
    if successor is not None:
        meeting.host = db.session.get(User, successor.user_id)
        _announce("meeting.host_changed", meeting, user=successor.username)


def leave(user: User, meeting_id: int, reason: str = "left") -> Meeting:
    """Leave (or stop waiting); `reason` is left or connection_lost. Idempotent."""
    meeting = get_meeting_for(user.id, meeting_id, lock=True)
    seat = _seat(meeting, user.id)
    if meeting.state == OPEN and seat is not None and seat.state in (ADMITTED, WAITING):
        _leave(meeting, seat, LEFT, reason)
        _announce("meeting.left", meeting, [user.id], user=user.username, reason=reason)
        _commit()
    return meeting


def free_abandoned_seats_of(user_id: int) -> bool:
    """Free the user's seats whose device vanished with no daemon left to give it its grace
    (see `_free_abandoned_seats`); True if the user now sits in no open meeting. Asked by a
    call to someone who seems to be in a meeting, which would otherwise answer busy for ever."""
    seated = select(MeetingParticipant.meeting_id).where(
        MeetingParticipant.user_id == user_id, MeetingParticipant.state == ADMITTED
    )
    ids = db.session.scalars(
        select(Meeting.id).where(Meeting.state == OPEN, Meeting.id.in_(seated)).order_by(Meeting.id)
    ).all()
    still_seated = False
    for meeting_id in ids:
        meeting = _locked(meeting_id)
        if meeting is None:
            continue
        meeting = _free_abandoned_seats(meeting, acting_id=None, only=user_id)
        seat = _seat(meeting, user_id)
        still_seated = still_seated or (
            meeting.state == OPEN and seat is not None and seat.state == ADMITTED
        )
    _commit()
    return not still_seated


def seated_on(user_id: int, session_id: int) -> list[int]:
    """Ids of the open meetings where the user is admitted on that device (or on no
    particular device): the meetings a vanished device leaves if it does not come back."""
    return list(
        db.session.scalars(
            select(MeetingParticipant.meeting_id)
            .join(Meeting, Meeting.id == MeetingParticipant.meeting_id)
            .where(
                Meeting.state == OPEN,
                MeetingParticipant.user_id == user_id,
                MeetingParticipant.state == ADMITTED,
                or_(
                    MeetingParticipant.session_id.is_(None),
                    MeetingParticipant.session_id == session_id,
                ),
            )
            .order_by(MeetingParticipant.meeting_id)
        )
    )


def leave_all(user: User, reason: str) -> list[int]:
    """The user leaves every open meeting they sit, wait in or host, with `reason`
    (account_deleted, account_disabled): seats stop counting toward capacity, the host
    role passes on, and a meeting left with nobody admitted ends. Committed per meeting;
    returns the meeting ids touched."""
    seated = select(MeetingParticipant.meeting_id).where(
        MeetingParticipant.user_id == user.id,
        MeetingParticipant.state.in_((ADMITTED, WAITING)),
    )
    ids = db.session.scalars(
        select(Meeting.id)
        .where(Meeting.state == OPEN, or_(Meeting.host_id == user.id, Meeting.id.in_(seated)))
        .order_by(Meeting.id)
    ).all()
    for meeting_id in ids:
        meeting = _locked(meeting_id)
        if meeting is None or meeting.state != OPEN:
            continue
        seat = _seat(meeting, user.id)
        if seat is not None and seat.state in (ADMITTED, WAITING):
            _leave(meeting, seat, LEFT, reason)
            _announce("meeting.left", meeting, [user.id], user=user.username, reason=reason)
        if meeting.state == OPEN and meeting.host_id == user.id:
            _pass_host_role(meeting)  # a host who was not in the meeting themselves
        if meeting.state == OPEN and meeting.host_id == user.id:
            _end(meeting, "empty")  # nobody admitted to take over: nobody could moderate
        _commit()
    return list(ids)


def remove(host: User, meeting_id: int, username: str) -> MeetingParticipant:
    meeting = _require_host(host, meeting_id)
    seat = _seat_of(meeting, username, (ADMITTED, WAITING))
    if seat.user_id == host.id:
        raise ApiError(400, "cannot_remove_self", "Leave the meeting instead.")
    _leave(meeting, seat, REMOVED, "removed")
    _announce("meeting.removed", meeting, [seat.user_id], user=seat.username)
    _commit()
    return seat


def set_locked(host: User, meeting_id: int, locked: bool) -> Meeting:
    meeting = _require_host(host, meeting_id)
    meeting.locked = locked
    _announce("meeting.locked", meeting, locked=locked)
    _commit()
    return meeting


def share_screen(user: User, meeting_id: int, sharing: bool) -> Meeting:
    """Start or stop sharing a screen; one sharer at a time. While someone else shares,
    409 screen_in_use, unless `user` hosts: the host takes over, and the event names whose
    share was stopped (`taken_from`). Stopping a share that is not yours changes nothing."""
    meeting = get_meeting_for(user.id, meeting_id, lock=True)
    seat = _seat(meeting, user.id)
    if meeting.state != OPEN:
        raise ApiError(409, "meeting_ended", "The meeting has ended.")
    if seat is None or seat.state != ADMITTED:
        raise ApiError(404, "participant_not_found", "You are not in this meeting.")
    current = meeting.screen_sharer_id
    if not sharing:
        if current != user.id:
            return meeting
        meeting.screen_sharer_id = None
        _announce("meeting.screen", meeting, taken_from=None)
        _commit()
        return meeting
    if current == user.id:
        return meeting
    taken_from = _sharer_name(meeting)
    if taken_from is not None and meeting.host_id != user.id:
        raise ApiError(409, "screen_in_use", f"{taken_from} is sharing a screen; one at a time.")
    meeting.screen_sharer_id = user.id
    _announce("meeting.screen", meeting, taken_from=taken_from)
    _commit()
    return meeting


def transfer_host(host: User, meeting_id: int, username: str) -> Meeting:
    meeting = _require_host(host, meeting_id)
    seat = _seat_of(meeting, username, (ADMITTED,))
    meeting.host = db.session.get(User, seat.user_id)
    _announce("meeting.host_changed", meeting, user=seat.username)
    _commit()
    return meeting


def _end(meeting: Meeting, reason: str) -> None:
    now = utcnow()
    recipients = [s.user_id for s in meeting.seats if s.state in (ADMITTED, WAITING) and s.user_id]
    for seat in meeting.seats:
        if seat.state in (ADMITTED, WAITING):
            seat.state, seat.left_at, seat.left_reason = LEFT, now, "meeting_ended"
    meeting.state, meeting.ended_at, meeting.end_reason = ENDED, now, reason
    if meeting.media == SFU:
        rooms.close_room(meeting)
    _announce("meeting.ended", meeting, recipients)


def end_meeting(host: User, meeting_id: int) -> Meeting:
    """The host ends the meeting for everyone."""
    meeting = _require_host(host, meeting_id)
    _end(meeting, "ended_by_host")
    _commit()
    return meeting


def move_off_dead_nodes() -> list[int]:
    """Open SFU meetings whose Janus node fails a fresh health check get a room on a
    healthy node, and their admitted seats new tokens into it; the participants are told
    (`meeting.media_moved`) and rejoin there. Idempotent (several daemons may run it);
    committed per meeting; returns the meetings moved. Stops when no node takes a room.

    No Janus call runs under the meeting's lock: the room is created first, the meeting
    moved to it and committed, the tokens given, and only then are the participants told,
    so the credential they fetch works."""
    moved: list[int] = []
    for node in rooms.dead_nodes():
        ids = db.session.scalars(
            select(Meeting.id).where(
                Meeting.state == OPEN, Meeting.media == SFU, Meeting.janus_node == node
            )
        ).all()
        for meeting_id in ids:
            found = db.session.get(Meeting, meeting_id)
            assert found is not None  # meetings are never deleted
            size, name = found.max_participants, found.name
            db.session.rollback()  # hold nothing while Janus works
            try:
                placement = rooms.place_room(size, name)
            except ApiError:
                return moved
            meeting = _locked(meeting_id)
            if meeting is None or meeting.state != OPEN or meeting.janus_node != node:
                db.session.rollback()
                rooms.drop_room(placement)  # moved by another process meanwhile
                continue
            rooms.open_room(meeting, placement)
            seats = _admitted(meeting)
            for seat in seats:
                seat.janus_grant = None  # it died with the node
                rooms.reserve(meeting, seat)
            _commit()
            for seat in seats:
                try:
                    rooms.grant(meeting, seat)
                except ApiError:  # the new node failed too: the next sweep moves it again
                    pass
            meeting = _locked(meeting_id)
            assert meeting is not None
            _announce("meeting.media_moved", meeting)
            _commit()
            moved.append(meeting_id)
    return moved


def meetings_of(user_id: int, page: int, per_page: int) -> tuple[list[Meeting], int]:
    """Meetings the user hosted or sat in, newest first, and the total."""
    mine = or_(
        Meeting.created_by_id == user_id,
        Meeting.host_id == user_id,
        Meeting.id.in_(
            select(MeetingParticipant.meeting_id).where(MeetingParticipant.user_id == user_id)
        ),
    )
    total = db.session.scalar(select(func.count(Meeting.id)).where(mine)) or 0
    meetings = db.session.scalars(
        select(Meeting)
        .where(mine)
        .order_by(Meeting.created_at.desc(), Meeting.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(meetings.unique()), total
