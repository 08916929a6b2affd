"""Meetings over the socket: join/leave and moderation, mesh negotiation relay, mute requests.

Who offers: when someone is admitted, they get `meeting_joined` listing everyone already
there and send one offer to each; the others get `participant_joined` and wait for that
offer. So two participants never both offer. A participant who reconnects and joins again
is a newcomer once more: the others drop their old connection to them and wait.

Rosters (who is admitted, on which device, who hosts) are cached per meeting
(signaling.state.rosters) and refreshed by every meeting event, so relaying costs no query.
"""

from __future__ import annotations

from signaling import errors, metrics
from signaling.errors import MessageError
from signaling.protocol import ClientMessage, server_message
from signaling.state.hub import Connection
from signaling.state.rosters import ADMITTED, Roster, Seat
from signaling.state.services import Services

MODERATION = ("admit", "deny", "remove_participant", "lock_meeting", "transfer_host", "end_meeting")
# Start or stop sharing a screen: one sharer per meeting, kept in the database (so every
# daemon agrees), changed through the meeting service like moderation.
SCREEN = ("screen_share",)


def meeting_action(services: Services, conn: Connection, message: ClientMessage) -> None:
    """Join, leave and host actions, through the meeting service (the events follow)."""
    assert conn.identity is not None and message.meeting_id is not None
    view, roster = services.store.meeting_action(conn.identity, message)
    rooms = services.rooms
    rooms.apply(roster)
    if message.type == "join_meeting":
        rooms.rejoined(message.meeting_id, conn.user_id)
    seat = next((s for s in roster["seats"] if s["user_id"] == conn.user_id), None)
    state = seat["state"] if seat else None
    conn.send(
        server_message(
            "ack", ref=message.id, meeting_id=message.meeting_id, meeting=view, state=state
        )
    )


def _authorize(services: Services, conn: Connection, message: ClientMessage) -> tuple[Roster, Seat]:
    """(roster, recipient's seat) when sender and `to` are both in the meeting, else error."""
    assert message.meeting_id is not None and message.to is not None
    roster = meeting_member(services, conn, message.meeting_id)
    recipient = roster.by_name(message.to)
    if recipient is None or recipient.state != ADMITTED or recipient.user_id == conn.user_id:
        raise MessageError(errors.NOT_A_PARTICIPANT, f"{message.to} is not in this meeting.")
    return roster, recipient


def meeting_member(services: Services, conn: Connection, meeting_id: int) -> Roster:
    """The open meeting's roster if `conn` is its user's admitted device; MessageError else."""
    roster = services.rooms.get(meeting_id)
    if roster is None or roster.admitted(conn.user_id) is None:
        raise MessageError(errors.NOT_A_PARTICIPANT, "You are not in this meeting.")
    if roster.admitted(conn.user_id, conn.session_id) is None:
        raise MessageError(errors.WRONG_DEVICE, "Another of your devices is in this meeting.")
    return roster


def relay_in_meeting(services: Services, conn: Connection, message: ClientMessage) -> None:
    """offer/answer/candidate between two admitted participants' devices."""
    roster, recipient = _authorize(services, conn, message)
    seq = services.rooms.next_seq(roster.meeting_id, conn.user_id, recipient.user_id)
    relayed = server_message(
        message.type,
        meeting_id=roster.meeting_id,
        **{"from": conn.username},
        seq=seq,
        payload=message.payload,
    )
    services.hub.send_to_user(recipient.user_id, relayed, session_id=recipient.session_id)
    metrics.RELAYED.inc(message.type)


def mute_request(services: Services, conn: Connection, message: ClientMessage) -> None:
    """The host asks one participant to mute; only the participant can actually mute."""
    roster, recipient = _authorize(services, conn, message)
    if roster.host_id != conn.user_id:
        raise MessageError(errors.NOT_HOST, "Only the host can ask someone to mute.")
    request = server_message(
        "mute_request", meeting_id=roster.meeting_id, **{"from": conn.username}
    )
    services.hub.send_to_user(recipient.user_id, request, session_id=recipient.session_id)
    conn.send(server_message("ack", ref=message.id, meeting_id=roster.meeting_id))
