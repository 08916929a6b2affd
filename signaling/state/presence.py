"""Participants' devices during active calls: drop, grace period, return, and presence pushes.

A participant's device is the login session that is in the call (the caller's starting
session, the callee's answering one; any of the user's connections when the call does not
name one). When its last connection drops, the other participant gets `peer_disconnected`
and a grace timer starts; a connection of that session coming back in time cancels it and
sends `peer_reconnected`; otherwise the call ends with `connection_lost` through the call
service. `presence` goes to the other participant when a user's first connection opens or
last one closes, and `contact_presence` to the user's recent contacts (read on connect).
Devices that were connected to a daemon that died or stopped get the same grace from the
daemon that sweeps it (`lost`, called by signaling.state.liveness).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from app import logs
from signaling.protocol import server_message
from signaling.state.call_cache import ACTIVE, ENDED, Membership

if TYPE_CHECKING:
    from signaling.state.hub import Connection
    from signaling.state.services import Services

log = logging.getLogger(__name__)


def _is_device(call: Membership, conn: Connection) -> bool:
    session = call.session_of(conn.user_id)
    return session is None or session == conn.session_id


def _username_of(call: Membership, user_id: int) -> str:
    return (call.caller if user_id == call.caller_id else call.callee) or ""


def _key(call_id: int, user_id: int) -> tuple[str, int, int]:
    """This device's key among the grace timers (signaling.state.grace)."""
    return ("call", call_id, user_id)


class Presence:
    """Call devices' grace (timers in `services.grace`), and the notifications around it."""

    def __init__(self, services: Services) -> None:
        self.services = services
        # user id -> the ids of their recent contacts, for users connected here: read on
        # connect, grown by every call event (`met`), dropped with their last connection.
        self.contacts: dict[int, set[int]] = {}

    def pending(self, call_id: int, user_id: int) -> bool:
        return self.services.grace.pending(_key(call_id, user_id))

    def device_online(self, call: Membership, user_id: int) -> bool:
        """Whether the user's in-call device is connected: to this daemon, or (when daemons
        share a bus) to any daemon, which costs one query on a disconnect or at start-up."""
        hub = self.services.hub
        session = call.session_of(user_id)
        if session is None:
            here = hub.count_user(user_id) > 0
        else:
            here = hub.count_session(session) > 0
        if here or not hub.distributed:
            return here
        return self.services.store.is_connected(user_id, session)

    def _tell_other(self, call: Membership, user_id: int, kind: str, **fields: Any) -> None:
        other_id = call.other(user_id)[0]
        if other_id is not None:
            message = server_message(kind, call_id=call.call_id, **fields)
            self.services.hub.send_to_user(other_id, message)

    def _tell_contacts(self, conn: Connection, presence: str) -> None:
        """`contact_presence` to every device of the user's recent contacts. A hint to
        refresh: with several daemons "first" and "last" are this daemon's view."""
        self.tell_contacts(conn.user_id, conn.username, presence)

    def tell_contacts(self, user_id: int | None, username: str | None, presence: str) -> None:
        """`contact_presence` about a user connected here (the daemon holding them knows
        their contacts; the others know nobody to tell) to their contacts' devices."""
        contacts = self.contacts.get(user_id) if user_id is not None else None
        if not contacts or not username:
            return
        message = server_message("contact_presence", user=username, presence=presence)
        for contact_id in contacts:
            self.services.hub.send_to_user(contact_id, message)

    def met(self, user_id: int | None, other_id: int | None) -> None:
        """A call between the two (any call event): each is now the other's contact."""
        if user_id is None or other_id is None:
            return
        if user_id in self.contacts:
            self.contacts[user_id].add(other_id)
        if other_id in self.contacts:
            self.contacts[other_id].add(user_id)

    def connected(
        self,
        conn: Connection,
        calls: list[Membership],
        first_of_user: bool,
        contact_ids: frozenset[int] = frozenset(),
    ) -> None:
        """A connection authenticated; `calls` are the user's ringing and active calls,
        `contact_ids` the people they recently called or were called by."""
        self.contacts.setdefault(conn.user_id, set()).update(contact_ids)
        if first_of_user:
            self._tell_contacts(conn, "online")
        for call in calls:
            if call.state != ACTIVE or call.role_of(conn.user_id) is None:
                continue
            if first_of_user:
                self._tell_other(
                    call, conn.user_id, "presence", user=conn.username, presence="in_call"
                )
            if _is_device(call, conn) and self.services.grace.cancel(
                _key(call.call_id, conn.user_id)
            ):
                logs.event(log, "grace.back", call=call.call_id, user=conn.username)
                self._tell_other(call, conn.user_id, "peer_reconnected", user=conn.username)

    def disconnected(self, conn: Connection, calls: list[Membership], last_of_user: bool) -> None:
        """A connection ended; `calls` are the user's ringing and active calls."""
        if last_of_user:
            self._tell_contacts(conn, "offline")
            self.contacts.pop(conn.user_id, None)
        for call in calls:
            if call.state != ACTIVE or call.role_of(conn.user_id) is None:
                continue
            if last_of_user:
                self._tell_other(
                    call, conn.user_id, "presence", user=conn.username, presence="offline"
                )
            if _is_device(call, conn) and not self.device_online(call, conn.user_id):
                self.start_grace(call, conn.user_id)

    def lost(self, user_id: int, session_id: int, calls: list[Membership]) -> None:
        """A device's connections were on a dead daemon (signaling.state.liveness): it gets the
        grace its disconnect would have started, unless it is connected somewhere."""
        for call in calls:
            if call.state != ACTIVE or call.role_of(user_id) is None:
                continue
            if call.session_of(user_id) not in (None, session_id):
                continue  # another device of the user is the one in the call
            if self.device_online(call, user_id):
                continue
            if self.services.store.is_connected(user_id, call.session_of(user_id)):
                continue  # back already, on another daemon (without a shared bus)
            self.start_grace(call, user_id)

    def start_grace(self, call: Membership, user_id: int) -> None:
        """Tell the other side `peer_disconnected` and end the call if nobody comes back."""
        if self.pending(call.call_id, user_id):
            return
        grace = self.services.settings.reconnect_grace
        username = _username_of(call, user_id)
        logs.event(log, "grace.start", call=call.call_id, user=username, seconds=grace)
        self._tell_other(call, user_id, "peer_disconnected", user=username, grace_seconds=grace)
        session = call.session_of(user_id)
        key = _key(call.call_id, user_id)
        self.services.grace.start(key, grace, self._grace_over, call.call_id, user_id, session)

    def _grace_over(self, call_id: int, user_id: int, session_id: int | None) -> None:
        call = self.services.calls.peek(call_id)
        if call is not None and (call.state == ENDED or self.device_online(call, user_id)):
            return
        if self.services.store.is_connected(user_id, session_id):
            return  # connected to another daemon
        if self.services.store.end_lost_call(call_id, user_id):
            logs.event(log, "grace.expired", call=call_id, user_id=user_id)

    def call_ended(self, call_id: int) -> None:
        """Forget the grace timers of an ended call."""
        self.services.grace.cancel_where(lambda key: key[:2] == ("call", call_id))

    def watch_after_restart(self, calls: list[Membership]) -> None:
        """At start-up nobody is connected: every participant of an active call gets the grace."""
        for call in calls:
            for user_id in (call.caller_id, call.callee_id):
                if user_id is not None and not self.device_online(call, user_id):
                    self.start_grace(call, user_id)
