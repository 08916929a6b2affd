"""POST /call/start|accept|decline|end, GET /calls, GET /calls/<id>."""

from __future__ import annotations

from flask import Blueprint

from app.api import ErrorOut, endpoint
from app.auth.current import current_session, require_login, require_principal
from app.calls import service
from app.calls.schemas import (
    CallHistoryQuery,
    CallIdIn,
    CallOut,
    CallPageOut,
    CallRefusedOut,
    CallStartIn,
    CallStartOut,
    call_record,
)

bp = Blueprint("calls", __name__)

ACTION_ERRORS = {400: ErrorOut, 401: ErrorOut, 404: ErrorOut, 409: ErrorOut}


@bp.post("/call/start")
@endpoint(
    "Ring a user. 201 ringing; 200 when merged with their call to you (glare) or already "
    "ringing; 409 callee_busy or callee_offline (no device connected) with the call, "
    "recorded ended: the callee sees it as missed",
    body=CallStartIn,
    responses={
        201: CallStartOut,
        200: CallStartOut,
        409: CallRefusedOut,
        429: ErrorOut,
        **{k: v for k, v in ACTION_ERRORS.items() if k != 409},
    },
    tag="calls",
)
def start(body: CallStartIn):
    caller = require_principal()
    result = service.start_call(caller.user_id, body.callee, session_id=caller.session_id)
    status = 201 if result.outcome == "ringing" else 200
    return CallStartOut(call=CallOut(**result.record), outcome=result.outcome), status


@bp.post("/call/accept")
@endpoint(
    "Answer a ringing call (callee)",
    body=CallIdIn,
    responses={200: CallOut, **ACTION_ERRORS},
    tag="calls",
)
def accept(body: CallIdIn):
    row = service.accept_call(require_login().id, body.call_id, session_id=current_session().id)
    return call_record(row)


@bp.post("/call/decline")
@endpoint(
    "Refuse a ringing call (callee)",
    body=CallIdIn,
    responses={200: CallOut, **ACTION_ERRORS},
    tag="calls",
)
def decline(body: CallIdIn):
    return call_record(service.decline_call(require_login().id, body.call_id))


@bp.post("/call/end")
@endpoint(
    "Hang up, cancel or decline; ending an ended call returns it unchanged",
    body=CallIdIn,
    responses={200: CallOut, **ACTION_ERRORS},
    tag="calls",
)
def end(body: CallIdIn):
    return call_record(service.end_call(require_login().id, body.call_id))


@bp.get("/calls")
@endpoint(
    "My call history, newest first",
    query=CallHistoryQuery,
    responses={200: CallPageOut, 400: ErrorOut, 401: ErrorOut},
    tag="calls",
)
def history(query: CallHistoryQuery):
    user = require_login()
    service.expire_unanswered()
    calls, total = service.history(user.id, query.page, query.per_page)
    items = [CallOut(**call_record(row)) for row in calls]
    return CallPageOut(items=items, page=query.page, per_page=query.per_page, total=total)


@bp.get("/calls/<int:call_id>")
@endpoint("One of my calls", responses={200: CallOut, 401: ErrorOut, 404: ErrorOut}, tag="calls")
def show(call_id: int):
    user = require_login()
    service.expire_unanswered()
    return call_record(service.get_call_for(user.id, call_id))
