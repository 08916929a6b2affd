"""Meeting rosters kept in memory: who is admitted, on which device, who hosts; plus the
per-pair relay sequence numbers and the reconnect grace of participants' devices (timers in
`services.grace`, the same as calls').

A roster is loaded with one database read on a miss and replaced by every meeting event
from the outbox, so relaying inside a meeting costs no query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from signaling.protocol import server_message

if TYPE_CHECKING:
    from signaling.state.hub import Connection
    from signaling.state.services import Services

ADMITTED, WAITING, OPEN = "admitted", "waiting", "open"


@dataclass
class Seat:
    user_id: int
    username: str
    session_id: int | None
    state: str


@dataclass
class Roster:
    """Who sits in a meeting and on which device; `host_id` moderates."""

    meeting_id: int
    state: str
    host_id: int | None
    seats: dict[int, Seat] = field(default_factory=dict)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Roster:
        seats = {s["user_id"]: Seat(**s) for s in data["seats"]}
        return cls(data["meeting_id"], data["state"], data["host_id"], seats)

    def admitted(self, user_id: int, session_id: int | None = None) -> Seat | None:
        seat = self.seats.get(user_id)
        if seat is None or seat.state != ADMITTED or self.state != OPEN:
            return None
        if session_id is not None and seat.session_id not in (None, session_id):
            return None
        return seat

    def by_name(self, username: str) -> Seat | None:
        return next((s for s in self.seats.values() if s.username == username), None)

    def present(self) -> list[Seat]:
        return [s for s in self.seats.values() if s.state == ADMITTED]


class Rooms:
    """The roster cache, per-pair relay sequence numbers and participants' reconnect grace."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._rosters: dict[int, Roster] = {}
        self._versions: dict[int, int] = {}  # meeting id -> version of the roster applied
        self._seq: dict[tuple[int, int, int], int] = {}

    def get(self, meeting_id: int) -> Roster | None:
        roster = self._rosters.get(meeting_id)
        if roster is None:
            data = self.services.store.meeting_roster(meeting_id)
            if data is not None:
                roster = self.apply(data)
        return roster

    def apply(self, data: dict[str, Any], version: int | None = None) -> Roster:
        """Take a roster snapshot and return it; keep it unless it is older than the one held.

        `version` orders snapshots: an outbox event's id, or (`data["version"]`) the id of
        the last event an action wrote before its roster was read. The outbox tail runs on
        its own thread, so the event of the host's join can arrive after ann's join was
        applied from her own action: its roster, without ann, must not replace the newer
        one (ann's offers would be refused). Unversioned snapshots are always kept.
        """
        roster = Roster.from_data(data)
        if version is None:
            version = data.get("version")
        if version is not None:
            if version <= self._versions.get(roster.meeting_id, 0):
                return roster
            self._versions[roster.meeting_id] = version
        if roster.state == OPEN:
            self._rosters[roster.meeting_id] = roster
        else:
            self._rosters.pop(roster.meeting_id, None)
        return roster

    def next_seq(self, meeting_id: int, sender: int, recipient: int) -> int:
        key = (meeting_id, sender, recipient)
        self._seq[key] = self._seq.get(key, 0) + 1
        return self._seq[key]

    def meetings_of(self, user_id: int, session_id: int) -> list[Roster]:
        return [r for r in self._rosters.values() if r.admitted(user_id, session_id)]

    # -- a participant's device drops and maybe comes back ---------------------------------
    def disconnected(self, conn: Connection) -> None:
        hub = self.services.hub
        if hub.count_session(conn.session_id) > 0:
            return
        for roster in self.meetings_of(conn.user_id, conn.session_id):
            if hub.distributed and self.services.store.is_connected(conn.user_id, conn.session_id):
                continue
            self._start_grace(roster, conn.user_id, conn.session_id)

    def lost(self, user_id: int, session_id: int, meeting_ids: list[int]) -> None:
        """A device's connections were on a dead daemon (signaling.state.liveness): in each
        meeting it sat in, it gets the grace its disconnect would have started, unless it
        is connected somewhere."""
        if self.services.hub.count_session(session_id) > 0:
            return
        for meeting_id in meeting_ids:
            roster = self.get(meeting_id)
            if roster is None or roster.admitted(user_id, session_id) is None:
                continue
            if self.services.store.is_connected(user_id, session_id):
                return  # back already, on another daemon
            self._start_grace(roster, user_id, session_id)

    def _start_grace(self, roster: Roster, user_id: int, session_id: int) -> None:
        """Tell the others `participant_disconnected`; the seat is left if nobody comes back."""
        key = ("meeting", roster.meeting_id, user_id)
        if self.services.grace.pending(key):
            return
        seat = roster.seats[user_id]
        grace = self.services.settings.reconnect_grace
        dropped = server_message(
            "participant_disconnected",
            meeting_id=roster.meeting_id,
            user=seat.username,
            grace_seconds=grace,
        )
        self._tell(roster, dropped, exclude=user_id)
        self.services.grace.start(
            key, grace, self._grace_over, roster.meeting_id, user_id, session_id
        )

    def rejoined(self, meeting_id: int, user_id: int) -> None:
        self.services.grace.cancel(("meeting", meeting_id, user_id))

    def _grace_over(self, meeting_id: int, user_id: int, session_id: int) -> None:
        if self.services.hub.count_session(session_id) > 0:
            return
        if self.services.store.is_connected(user_id, session_id):
            return
        self.services.store.leave_lost_meeting(user_id, meeting_id)

    def _tell(self, roster: Roster, message: dict[str, Any], exclude: int | None = None) -> None:
        for seat in roster.present():
            if seat.user_id != exclude:
                self.services.hub.send_to_user(seat.user_id, message, session_id=seat.session_id)
