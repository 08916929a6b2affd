"""Call membership kept in memory, so relaying an offer, answer or candidate costs no query.

An entry is loaded with one database read on a cache miss, refreshed by every outbox event
about the call (and by socket call control), and evicted least-recently-used. A ringing
entry is re-read when a relay asks for it, because a relay that finds a call "ringing" may
have raced the accept that the outbox has not shown us yet.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RINGING, ACTIVE, ENDED = "ringing", "active", "ended"


@dataclass
class Membership:
    """Who is in a call and on which device (login session); `call` is the public record."""

    call_id: int
    state: str
    caller_id: int | None
    callee_id: int | None
    caller: str | None  # usernames; None once an account is deleted
    callee: str | None
    caller_session_id: int | None = None
    callee_session_id: int | None = None
    call: dict[str, Any] = field(default_factory=dict)

    def role_of(self, user_id: int) -> str | None:
        if user_id == self.caller_id:
            return "caller"
        if user_id == self.callee_id:
            return "callee"
        return None

    def session_of(self, user_id: int) -> int | None:
        """The session (device) of `user_id` that is in the call; None when not fixed yet."""
        return self.caller_session_id if user_id == self.caller_id else self.callee_session_id

    def other(self, user_id: int) -> tuple[int | None, str | None, int | None]:
        """(user id, username, session id) of the other participant."""
        if user_id == self.caller_id:
            return self.callee_id, self.callee, self.callee_session_id
        return self.caller_id, self.caller, self.caller_session_id

    @classmethod
    def from_event(cls, call_id: int, data: dict[str, Any]) -> Membership | None:
        """The membership an outbox event describes in full (the service's `_announce` adds
        the participants' ids), or None for an event without them (written before they were
        added): then the call is read from the database instead."""
        record = data.get("call")
        if "caller_id" not in data or not isinstance(record, dict):
            return None
        return cls(
            call_id=call_id,
            state=str(record.get("state", "")),
            caller_id=data["caller_id"],
            callee_id=data.get("callee_id"),
            caller=record.get("caller"),
            callee=record.get("callee"),
            caller_session_id=data.get("caller_session_id"),
            callee_session_id=data.get("callee_session_id"),
            call=record,
        )

    def apply(self, state: str, data: dict[str, Any]) -> None:
        """Update from an outbox event's data (the service's `_announce` shape)."""
        self.state = state
        self.caller_session_id = data.get("caller_session_id", self.caller_session_id)
        self.callee_session_id = data.get("callee_session_id", self.callee_session_id)
        if isinstance(data.get("call"), dict):
            self.call = data["call"]


Loader = Callable[[int], "Membership | None"]


class CallCache:
    """Membership by call id, plus the per-(call, sender) relay sequence numbers."""

    def __init__(self, load: Loader, capacity: int = 10_000, ended_capacity: int = 256) -> None:
        self._load = load
        self._capacity = capacity
        self._entries: OrderedDict[int, Membership] = OrderedDict()
        # Calls being loaded, and whether an update arrived meanwhile: a load that raced an
        # update is retried rather than stored stale.
        self._loading: dict[int, bool] = {}
        self._seq: dict[int, dict[int, int]] = {}
        # Recently ended calls, as (caller id, callee id) only: candidates still in flight
        # at a hang-up are refused without a query, and an ended call costs nothing once it
        # falls off the end (memory stays flat however many calls a daemon has seen).
        self._ended: OrderedDict[int, tuple[int | None, int | None]] = OrderedDict()
        self._ended_capacity = ended_capacity

    def __contains__(self, call_id: int) -> bool:
        return call_id in self._entries or call_id in self._ended

    def states(self) -> list[str]:
        """The state of every cached call (for metrics)."""
        return [entry.state for entry in self._entries.values()] + [ENDED] * len(self._ended)

    def peek(self, call_id: int) -> Membership | None:
        """The cached entry, never loading."""
        entry = self._entries.get(call_id)
        return entry if entry is not None else self._tombstone(call_id)

    def get(self, call_id: int) -> Membership | None:
        """The membership of `call_id`, loading it on a miss (or if it was ringing)."""
        entry = self._entries.get(call_id)
        if entry is not None and entry.state != RINGING:
            self._entries.move_to_end(call_id)
            return entry
        if entry is None and call_id in self._ended:
            return self._tombstone(call_id)
        return self.reload(call_id)

    def _tombstone(self, call_id: int) -> Membership | None:
        ids = self._ended.get(call_id)
        if ids is None:
            return None
        return Membership(call_id, ENDED, ids[0], ids[1], None, None)

    def reload(self, call_id: int) -> Membership | None:
        """Read the call from the store now (one query, retried if an update raced it)."""
        fresh = None
        try:
            for _attempt in range(3):
                self._loading[call_id] = False
                fresh = self._load(call_id)
                if not self._loading.get(call_id):
                    break
        finally:
            self._loading.pop(call_id, None)
        if fresh is not None:
            self.put(fresh)
        return fresh

    def put(self, membership: Membership) -> None:
        """Store a membership read from the database just now (an ended one as such)."""
        call_id = membership.call_id
        if call_id in self._loading:
            self._loading[call_id] = True
        if membership.state == ENDED:
            self._entries.pop(call_id, None)
            self._remember_ended(membership)
            return
        self._entries[call_id] = membership
        self._entries.move_to_end(call_id)
        while len(self._entries) > self._capacity:
            evicted, _ = self._entries.popitem(last=False)
            self._seq.pop(evicted, None)

    def apply_event(self, call_id: int, state: str, data: dict[str, Any]) -> Membership | None:
        """Apply an outbox event; returns the updated entry (None when not cached)."""
        if call_id in self._loading:
            self._loading[call_id] = True
        entry = self._entries.get(call_id)
        if entry is not None:
            entry.apply(state, data)
        return entry

    def ended(self, call_id: int) -> None:
        """A call ended: keep only who was in it, among the last `ended_capacity` ended calls,
        and drop its record and sequence counters."""
        entry = self._entries.pop(call_id, None)
        if entry is not None:
            self._remember_ended(entry)
        self._seq.pop(call_id, None)

    def _remember_ended(self, membership: Membership) -> None:
        self._ended[membership.call_id] = (membership.caller_id, membership.callee_id)
        self._ended.move_to_end(membership.call_id)
        while len(self._ended) > self._ended_capacity:
            self._ended.popitem(last=False)
        self._seq.pop(membership.call_id, None)

    def next_seq(self, call_id: int, sender_id: int) -> int:
        """1, 2, 3... for each message relayed from `sender_id` in `call_id`."""
        counters = self._seq.setdefault(call_id, {})
        counters[sender_id] = counters.get(sender_id, 0) + 1
        return counters[sender_id]
