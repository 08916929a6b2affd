"""Negotiation relay between a call's two devices: offer, answer and candidate.

Authorization uses the in-memory membership cache: no database query per relayed message.
Handlers never trust a client-supplied sender: `from` is the authenticated user.
"""

from __future__ import annotations

import logging

from app.logs import event
from signaling import errors, metrics
from signaling.errors import MessageError
from signaling.handlers.meetings import relay_in_meeting
from signaling.protocol import ClientMessage
from signaling.state.call_cache import ACTIVE, Membership
from signaling.state.hub import Connection
from signaling.state.services import Services

log = logging.getLogger(__name__)


def authorize_relay(services: Services, conn: Connection, message: ClientMessage) -> Membership:
    """The call if `conn` may send this to `message.to` now; MessageError otherwise.

    Uses the in-memory membership cache: no database query per relayed message.
    """
    assert message.call_id is not None
    call = call_member(services, conn, message.call_id)
    if message.to != call.other(conn.user_id)[1]:
        raise MessageError(errors.NOT_A_PARTICIPANT, f"{message.to} is not in this call.")
    return call


def call_member(services: Services, conn: Connection, call_id: int) -> Membership:
    """The active call if `conn` is its user's device in it; MessageError otherwise."""
    call = services.calls.get(call_id)
    if call is None or call.role_of(conn.user_id) is None:
        raise MessageError(errors.NOT_A_PARTICIPANT, "You are not in this call.")
    if call.state != ACTIVE:  # before the name check: an ended call's entry keeps only ids
        raise MessageError(errors.CALL_NOT_ACTIVE, f"The call is {call.state}, not active.")
    if call.session_of(conn.user_id) not in (None, conn.session_id):
        raise MessageError(errors.WRONG_DEVICE, "Another of your devices is in this call.")
    return call


def relay(services: Services, conn: Connection, message: ClientMessage) -> None:
    """Forward offer/answer/candidate to the other participant's in-call device (or, with a
    `meeting_id`, to one participant of a meeting: see signaling.handlers.meetings)."""
    if message.meeting_id is not None:
        relay_in_meeting(services, conn, message)
        return
    call = authorize_relay(services, conn, message)
    user_id = conn.user_id
    recipient_id, _name, recipient_session = call.other(user_id)
    assert recipient_id is not None
    seq = services.calls.next_seq(call.call_id, user_id)
    # server_message's shape, written out: this runs once per relayed message
    relayed = {
        "type": message.type,
        "call_id": call.call_id,
        "from": conn.username,
        "seq": seq,
        "payload": message.payload,
    }
    delivered = services.hub.send_to_user(recipient_id, relayed, session_id=recipient_session)
    metrics.RELAYED.inc(message.type)
    if log.isEnabledFor(logging.DEBUG):
        fields = {"call": call.call_id, "type": message.type, "seq": seq, "delivered": delivered}
        event(log, "relay", logging.DEBUG, conn=conn.conn_id, **fields)
