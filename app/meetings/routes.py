"""/meetings: create, list, show, join, leave, moderate, end."""

from __future__ import annotations

from flask import Blueprint

from app.api import ErrorOut, endpoint
from app.auth.current import current_session, require_login
from app.meetings import service
from app.meetings.schemas import (
    AdmitIn,
    JoinIn,
    LockIn,
    MeetingCreatedOut,
    MeetingCreateIn,
    MeetingOut,
    MeetingPageOut,
    MeetingPageQuery,
    SeatStateOut,
    UsernameIn,
)

bp = Blueprint("meetings", __name__)

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut}


def _out(meeting, viewer_id: int) -> MeetingOut:
    return MeetingOut.model_validate(service.view(meeting, viewer_id))


@bp.post("/meetings")
@endpoint(
    "Create a meeting; you host it",
    body=MeetingCreateIn,
    responses={201: MeetingCreatedOut, **ERRORS, 503: ErrorOut},
    tag="meetings",
)
def create(body: MeetingCreateIn):
    user = require_login()
    meeting, invite = service.create_meeting(
        user,
        body.name,
        body.waiting_room,
        body.max_participants,
        body.invite_ttl_seconds,
        body.invite_max_uses,
        body.media or "auto",
    )
    return MeetingCreatedOut(meeting=_out(meeting, user.id), invite=invite), 201


@bp.get("/meetings")
@endpoint(
    "Meetings I hosted or joined, newest first",
    query=MeetingPageQuery,
    responses={200: MeetingPageOut, 400: ErrorOut, 401: ErrorOut},
    tag="meetings",
)
def index(query: MeetingPageQuery):
    user = require_login()
    meetings, total = service.meetings_of(user.id, query.page, query.per_page)
    items = [_out(m, user.id) for m in meetings]
    return MeetingPageOut(items=items, page=query.page, per_page=query.per_page, total=total)


@bp.get("/meetings/<int:meeting_id>")
@endpoint(
    "One meeting: status, host, participants, waiting count",
    responses={200: MeetingOut, 401: ErrorOut, 404: ErrorOut},
    tag="meetings",
)
def show(meeting_id: int):
    user = require_login()
    return _out(service.visible_meeting(user.id, meeting_id), user.id)


@bp.post("/meetings/<int:meeting_id>/join")
@endpoint(
    "Join (or wait to be admitted); newcomers need the invite",
    body=JoinIn,
    responses={200: SeatStateOut, **ERRORS, 503: ErrorOut},
    tag="meetings",
)
def join(meeting_id: int, body: JoinIn):
    user = require_login()
    seat = service.join(user, meeting_id, body.invite, current_session().id)
    return SeatStateOut(meeting=_out(seat.meeting, user.id), state=seat.state)


@bp.post("/meetings/<int:meeting_id>/leave")
@endpoint(
    "Leave the meeting (or the waiting room)",
    responses={200: MeetingOut, 401: ErrorOut, 404: ErrorOut},
    tag="meetings",
)
def leave(meeting_id: int):
    user = require_login()
    return _out(service.leave(user, meeting_id), user.id)


@bp.post("/meetings/<int:meeting_id>/admit")
@endpoint(
    "Host: admit one waiting user, or everyone",
    body=AdmitIn,
    responses={200: MeetingOut, **ERRORS, 503: ErrorOut},
    tag="meetings",
)
def admit(meeting_id: int, body: AdmitIn):
    user = require_login()
    service.admit(user, meeting_id, body.username)
    return _out(service.get_meeting_for(user.id, meeting_id), user.id)


@bp.post("/meetings/<int:meeting_id>/deny")
@endpoint(
    "Host: turn a waiting user away",
    body=UsernameIn,
    responses={200: MeetingOut, **ERRORS},
    tag="meetings",
)
def deny(meeting_id: int, body: UsernameIn):
    user = require_login()
    return _out(service.deny(user, meeting_id, body.username).meeting, user.id)


@bp.post("/meetings/<int:meeting_id>/remove")
@endpoint(
    "Host: remove a participant (they cannot come back)",
    body=UsernameIn,
    responses={200: MeetingOut, **ERRORS},
    tag="meetings",
)
def remove(meeting_id: int, body: UsernameIn):
    user = require_login()
    return _out(service.remove(user, meeting_id, body.username).meeting, user.id)


@bp.post("/meetings/<int:meeting_id>/lock")
@endpoint(
    "Host: lock or unlock the meeting",
    body=LockIn,
    responses={200: MeetingOut, **ERRORS},
    tag="meetings",
)
def lock(meeting_id: int, body: LockIn):
    user = require_login()
    return _out(service.set_locked(user, meeting_id, body.locked), user.id)


@bp.post("/meetings/<int:meeting_id>/host")
@endpoint(
    "Host: hand the host role to a participant",
    body=UsernameIn,
    responses={200: MeetingOut, **ERRORS},
    tag="meetings",
)
def transfer(meeting_id: int, body: UsernameIn):
    user = require_login()
    return _out(service.transfer_host(user, meeting_id, body.username), user.id)


@bp.post("/meetings/<int:meeting_id>/end")
@endpoint(
    "Host: end the meeting for everyone",
    responses={200: MeetingOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    tag="meetings",
)
def end(meeting_id: int):
    user = require_login()
    return _out(service.end_meeting(user, meeting_id), user.id)
