"""In-call messages to everyone else in a call or meeting: chat, media state, hands, reactions.

The authorization is negotiation's (signaling.handlers.relay and .meetings): only a
participant's device that is in the call or admitted to the meeting may send, and `from` is
the connection's user, never a client field. Each message fans out to the others, so on top
of the per-connection message rate there is a tighter per-connection bound
(`services.room_messages`). Nothing is stored: the daemon forwards and forgets (PROTOCOL.md,
"In-call messages", says why).
"""

from __future__ import annotations

import time
from typing import Any

from signaling import errors, metrics
from signaling.errors import MessageError
from signaling.handlers.meetings import meeting_member
from signaling.handlers.relay import call_member
from signaling.protocol import ClientMessage, server_message
from signaling.state.hub import Connection
from signaling.state.rosters import Roster
from signaling.state.services import Services


def _within_bound(services: Services, conn: Connection) -> None:
    if not services.room_messages.take(conn.conn_id):
        text = "Too many chat messages, reactions or state changes; this one was dropped."
        raise MessageError(errors.RATE_LIMITED, text)


def _to_others(
    services: Services, conn: Connection, message: ClientMessage, fields: dict[str, Any]
) -> None:
    """Authorize, bound, then send `message.type` with `fields` to everyone else in the call
    (the peer's device in it) or meeting (every admitted participant's device)."""
    if message.meeting_id is not None:
        roster = meeting_member(services, conn, message.meeting_id)
        _within_bound(services, conn)
        out = server_message(message.type, meeting_id=roster.meeting_id, **fields)
        _tell(services, roster, out, exclude=conn.user_id)
    else:
        assert message.call_id is not None
        call = call_member(services, conn, message.call_id)
        _within_bound(services, conn)
        peer_id, _name, peer_session = call.other(conn.user_id)
        if peer_id is not None:
            out = server_message(message.type, call_id=call.call_id, **fields)
            services.hub.send_to_user(peer_id, out, session_id=peer_session)
    metrics.RELAYED.inc(message.type)


def _tell(
    services: Services, roster: Roster, out: dict[str, Any], exclude: int | None = None
) -> None:
    for seat in roster.present():
        if seat.user_id != exclude:
            services.hub.send_to_user(seat.user_id, out, session_id=seat.session_id)


def chat(services: Services, conn: Connection, message: ClientMessage) -> None:
    """A text line to the others, stamped with the sender and the server's time (ms since
    the epoch); the sender gets an `ack` with the same `at`."""
    assert conn.identity is not None
    at = int(time.time() * 1000)
    fields = {
        "from": conn.username,
        "name": conn.identity.display_name,
        "text": message.text,
        "at": at,
    }
    _to_others(services, conn, message, fields)
    scope = (
        {"meeting_id": message.meeting_id}
        if message.meeting_id is not None
        else {"call_id": message.call_id}
    )
    conn.send(server_message("ack", ref=message.id, **scope, at=at))


def media_state(services: Services, conn: Connection, message: ClientMessage) -> None:
    """Whether the sender's microphone and camera are on, for the others' tiles; with
    `screen` when the sender says it, whether they share a screen."""
    fields = {"from": conn.username, "audio": message.audio, "video": message.video}
    if message.screen is not None:
        fields["screen"] = message.screen
    _to_others(services, conn, message, fields)


def reaction(services: Services, conn: Connection, message: ClientMessage) -> None:
    """One of the fixed reactions (signaling.protocol.REACTIONS), shown to the others."""
    _to_others(services, conn, message, {"from": conn.username, "emoji": message.emoji})


def hand(services: Services, conn: Connection, message: ClientMessage) -> None:
    """Raise or lower one's own hand; with `user` naming someone else, the host lowers it.

    Everyone present gets `hand`, the sender included (the host sees the hand go down, and
    the lowered participant learns it was lowered `by` the host).
    """
    assert message.meeting_id is not None
    roster = meeting_member(services, conn, message.meeting_id)
    user = message.user if message.user is not None else conn.username
    if user != conn.username:
        if roster.host_id != conn.user_id:
            raise MessageError(errors.NOT_HOST, "Only the host can lower someone's hand.")
        if message.raised:
            raise MessageError(errors.INVALID_MESSAGE, "The host can only lower a hand.")
        seat = roster.by_name(user)
        if seat is None or roster.admitted(seat.user_id) is None:
            raise MessageError(errors.NOT_A_PARTICIPANT, f"{user} is not in this meeting.")
    _within_bound(services, conn)
    out = server_message(
        "hand", meeting_id=roster.meeting_id, user=user, raised=message.raised, by=conn.username
    )
    _tell(services, roster, out)
    metrics.RELAYED.inc("hand")
