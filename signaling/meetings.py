"""Meetings in the daemon: join/leave and moderation over the socket, mesh negotiation relay,
and the outbox's meeting events turned into protocol messages.

Who offers: when someone is admitted, they get `meeting_joined` listing everyone already
there and send one offer to each; the others get `participant_joined` and wait for that
offer. So two participants never both offer. A participant who reconnects and joins again
is a newcomer once more: the others drop their old connection to them and wait.

Rosters (who is admitted, on which device, who hosts) are cached per meeting and refreshed
by every meeting event, so relaying costs no database query.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from signaling import errors, metrics
from signaling.errors import MessageError
from signaling.events import translates
from signaling.handlers import Conn, handles
from signaling.protocol import ClientMessage, server_message
from signaling.rooms import ADMITTED, OPEN, WAITING, Rooms, Roster, Seat

if TYPE_CHECKING:
    from signaling.context import Services
    from signaling.store import OutboxEvent

log = logging.getLogger(__name__)

MODERATION = ("admit", "deny", "remove_participant", "lock_meeting", "transfer_host", "end_meeting")


def _rooms(services: Services) -> Rooms:
    return services.rooms


# -- client messages --------------------------------------------------------------------------
@handles("join_meeting", "leave_meeting", *MODERATION)
def meeting_action(services: Services, conn: Conn, message: ClientMessage) -> None:
    """Join, leave and host actions, through the meeting service (the events follow)."""
    assert conn.identity is not None and message.meeting_id is not None
    view, roster = services.store.meeting_action(conn.identity, message)
    rooms = _rooms(services)
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


def _authorize(services: Services, conn: Conn, message: ClientMessage) -> tuple[Roster, Seat]:
    """(roster, recipient's seat) when sender and `to` are both in the meeting, else error."""
    assert message.meeting_id is not None and message.to is not None
    roster = _rooms(services).get(message.meeting_id)
    if roster is None or roster.admitted(conn.user_id) is None:
        raise MessageError(errors.NOT_A_PARTICIPANT, "You are not in this meeting.")
    if roster.admitted(conn.user_id, conn.session_id) is None:
        raise MessageError(errors.WRONG_DEVICE, "Another of your devices is in this meeting.")
    recipient = roster.by_name(message.to)
    if recipient is None or recipient.state != ADMITTED or recipient.user_id == conn.user_id:
        raise MessageError(errors.NOT_A_PARTICIPANT, f"{message.to} is not in this meeting.")
    return roster, recipient


def relay_in_meeting(services: Services, conn: Conn, message: ClientMessage) -> None:
    """offer/answer/candidate between two admitted participants' devices."""
    roster, recipient = _authorize(services, conn, message)
    seq = _rooms(services).next_seq(roster.meeting_id, conn.user_id, recipient.user_id)
    relayed = server_message(
        message.type, meeting_id=roster.meeting_id, **{"from": conn.username}, seq=seq,
        payload=message.payload,
    )  # fmt: skip
    services.hub.send_to_user(recipient.user_id, relayed, session_id=recipient.session_id)
    metrics.RELAYED.labels(message.type).inc()


@handles("mute_request")
def mute_request(services: Services, conn: Conn, message: ClientMessage) -> None:
    """The host asks one participant to mute; only the participant can actually mute."""
    roster, recipient = _authorize(services, conn, message)
    if roster.host_id != conn.user_id:
        raise MessageError("not_host", "Only the host can ask someone to mute.")
    request = server_message(
        "mute_request", meeting_id=roster.meeting_id, **{"from": conn.username}
    )
    services.hub.send_to_user(recipient.user_id, request, session_id=recipient.session_id)
    conn.send(server_message("ack", ref=message.id, meeting_id=roster.meeting_id))


# -- outbox events ----------------------------------------------------------------------------
def _send(services: Services, seat: Seat | None, message: dict[str, Any]) -> None:
    """To the seat's device only. Every daemon tails the outbox, so delivery stays local."""
    if seat is not None:
        services.hub.local_view().send_to_user(seat.user_id, message, session_id=seat.session_id)


def _everyone(
    services: Services, roster: Roster, message: dict[str, Any], but: Seat | None = None
) -> None:
    for seat in roster.present():
        if but is None or seat.user_id != but.user_id:
            _send(services, seat, message)


def _waiting_list(services: Services, roster: Roster) -> None:
    """The host's live view of the waiting room, after anything that may change it."""
    host = roster.seats.get(roster.host_id) if roster.host_id else None
    waiting = [s.username for s in roster.seats.values() if s.state == WAITING]
    _send(
        services,
        host,
        server_message("waiting_list", meeting_id=roster.meeting_id, waiting=waiting),
    )


@dataclass
class MeetingEvent:
    """An outbox meeting event, unpacked: the fresh roster, the public view, its subject."""

    services: Services
    roster: Roster
    view: dict[str, Any]
    who: Seat | None
    user_ids: list[int]

    @property
    def meeting_id(self) -> int:
        return self.roster.meeting_id

    def message(self, kind: str, **fields: Any) -> dict[str, Any]:
        return server_message(kind, meeting_id=self.meeting_id, **fields)


MeetingTranslator = Callable[[MeetingEvent], None]
MEETING_TRANSLATORS: dict[str, MeetingTranslator] = {}


def on(kind: str) -> Callable[[MeetingTranslator], MeetingTranslator]:
    def register(fn: MeetingTranslator) -> MeetingTranslator:
        MEETING_TRANSLATORS["meeting." + kind] = fn
        return fn

    return register


@translates(
    *(
        f"meeting.{k}"
        for k in (
            "joined",
            "waiting",
            "denied",
            "left",
            "removed",
            "host_changed",
            "locked",
            "ended",
        )
    )
)
def meeting_event(services: Services, event: OutboxEvent) -> None:
    """Refresh the roster, run the event's translator, then update the host's waiting list."""
    roster = _rooms(services).apply(event.data["roster"], version=event.id)
    name = event.data.get("user")
    who = roster.by_name(name) if isinstance(name, str) else None
    unpacked = MeetingEvent(services, roster, event.data["meeting"], who, event.user_ids)
    MEETING_TRANSLATORS[event.kind](unpacked)
    if roster.state == OPEN:
        _waiting_list(services, roster)


@on("joined")
def _joined(e: MeetingEvent) -> None:
    """The newcomer learns who is there (and offers to each); the others learn who came."""
    if e.who is None:
        return
    others = [s.username for s in e.roster.present() if s.user_id != e.who.user_id]
    _send(e.services, e.who, e.message("meeting_joined", meeting=e.view, participants=others))
    _everyone(e.services, e.roster, e.message("participant_joined", user=e.who.username), but=e.who)


@on("waiting")
def _waiting(e: MeetingEvent) -> None:
    _send(e.services, e.who, e.message("waiting_room", meeting=e.view))


@on("denied")
def _denied(e: MeetingEvent) -> None:
    _send(e.services, e.who, e.message("join_denied"))


@on("left")
def _left(e: MeetingEvent) -> None:
    if e.who is not None:
        _rooms(e.services).rejoined(e.meeting_id, e.who.user_id)  # gone: no grace to wait out
        _everyone(
            e.services, e.roster, e.message("participant_left", user=e.who.username, reason="left")
        )


@on("removed")
def _removed(e: MeetingEvent) -> None:
    if e.who is not None:
        _send(e.services, e.who, e.message("removed"))
        _everyone(
            e.services,
            e.roster,
            e.message("participant_left", user=e.who.username, reason="removed"),
        )


@on("host_changed")
def _host_changed(e: MeetingEvent) -> None:
    _everyone(e.services, e.roster, e.message("host_changed", host=e.view["host"]))


@on("locked")
def _locked(e: MeetingEvent) -> None:
    _everyone(e.services, e.roster, e.message("meeting_locked", locked=e.view["locked"]))


@on("ended")
def _ended(e: MeetingEvent) -> None:
    """Everyone who was in or waiting (the event's recipients) hears it ended."""
    ended = e.message("meeting_ended", meeting=e.view)
    for user_id in e.user_ids:
        _send(e.services, e.roster.seats.get(user_id), ended)
