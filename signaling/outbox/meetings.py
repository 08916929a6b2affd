"""Meeting events from the outbox, turned into protocol messages for the participants.

Every daemon tails the outbox, so each delivers to its own connections only (the hub's
local view). Each event carries the fresh roster, which replaces the cached one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from signaling.protocol import server_message
from signaling.state.rosters import OPEN, WAITING, Roster, Seat
from signaling.state.services import Services
from signaling.state.store import OutboxEvent


def _send(services: Services, seat: Seat | None, message: dict[str, Any]) -> None:
    """To the seat's device only. Every daemon tails the outbox, so delivery stays local."""
    if seat is not None:
        services.hub.send_to_user(seat.user_id, message, session_id=seat.session_id, local=True)


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
    data: dict[str, Any]

    @property
    def meeting_id(self) -> int:
        return self.roster.meeting_id

    def message(self, kind: str, **fields: Any) -> dict[str, Any]:
        return server_message(kind, meeting_id=self.meeting_id, **fields)


MeetingTranslator = Callable[[MeetingEvent], None]


def meeting_event(services: Services, event: OutboxEvent) -> None:
    """Refresh the roster, run the event's translator, then update the host's waiting list."""
    roster = services.rooms.apply(event.data["roster"], version=event.id)
    name = event.data.get("user")
    who = roster.by_name(name) if isinstance(name, str) else None
    unpacked = MeetingEvent(
        services, roster, event.data["meeting"], who, event.user_ids, event.data
    )
    MEETING_TRANSLATORS[event.kind](unpacked)
    if roster.state == OPEN:
        _waiting_list(services, roster)


def _joined(e: MeetingEvent) -> None:
    """The newcomer learns who is there (and offers to each); the others learn who came."""
    if e.who is None:
        return
    e.services.presence.tell_contacts(e.who.user_id, e.who.username, "in_call")
    others = [s.username for s in e.roster.present() if s.user_id != e.who.user_id]
    _send(e.services, e.who, e.message("meeting_joined", meeting=e.view, participants=others))
    _everyone(e.services, e.roster, e.message("participant_joined", user=e.who.username), but=e.who)


def _waiting(e: MeetingEvent) -> None:
    _send(e.services, e.who, e.message("waiting_room", meeting=e.view))


def _denied(e: MeetingEvent) -> None:
    _send(e.services, e.who, e.message("join_denied"))


def _left(e: MeetingEvent) -> None:
    if e.who is not None:
        e.services.presence.tell_contacts(e.who.user_id, e.who.username, "online")
        e.services.rooms.rejoined(e.meeting_id, e.who.user_id)  # gone: no grace to wait out
        _everyone(
            e.services,
            e.roster,
            e.message("participant_left", user=e.who.username, reason=_left_reason(e.data)),
        )


def _left_reason(data: dict[str, Any]) -> str:
    """Why a participant left: left, connection_lost, account_deleted, account_disabled
    (events written before the reason was recorded say left)."""
    reason = data.get("reason")
    return reason if isinstance(reason, str) else "left"


def _removed(e: MeetingEvent) -> None:
    if e.who is not None:
        e.services.presence.tell_contacts(e.who.user_id, e.who.username, "online")
        _send(e.services, e.who, e.message("removed"))
        _everyone(
            e.services,
            e.roster,
            e.message("participant_left", user=e.who.username, reason="removed"),
        )


def _host_changed(e: MeetingEvent) -> None:
    _everyone(e.services, e.roster, e.message("host_changed", host=e.view["host"]))


def _locked(e: MeetingEvent) -> None:
    _everyone(e.services, e.roster, e.message("meeting_locked", locked=e.view["locked"]))


def _screen(e: MeetingEvent) -> None:
    """Everyone learns who shares now (None: nobody), and whose share the host took over."""
    message = e.message(
        "screen_share", user=e.view.get("sharer"), taken_from=e.data.get("taken_from")
    )
    _everyone(e.services, e.roster, message)


def _media_moved(e: MeetingEvent) -> None:
    """The SFU node died: everyone in the meeting fetches their new credential and rejoins."""
    _everyone(e.services, e.roster, e.message("media_moved", meeting=e.view))


def _ended(e: MeetingEvent) -> None:
    """Everyone who was in or waiting (the event's recipients) hears it ended."""
    ended = e.message("meeting_ended", meeting=e.view)
    for user_id in e.user_ids:
        seat = e.roster.seats.get(user_id)
        _send(e.services, seat, ended)
        if seat is not None:
            e.services.presence.tell_contacts(seat.user_id, seat.username, "online")


# The meeting event kinds this module translates, each to its own step.
MEETING_TRANSLATORS: dict[str, MeetingTranslator] = {
    "meeting.joined": _joined,
    "meeting.waiting": _waiting,
    "meeting.denied": _denied,
    "meeting.left": _left,
    "meeting.removed": _removed,
    "meeting.host_changed": _host_changed,
    "meeting.locked": _locked,
    "meeting.screen": _screen,
    "meeting.ended": _ended,
    "meeting.media_moved": _media_moved,
}
