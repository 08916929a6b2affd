"""The outbox relay: tails the `events` table and pushes each event to the users' devices.

The web app (and the daemon itself, through the call service) writes an `Event` row in the
same transaction as each call or session change. This module reads rows newer than the last
one it saw (polled every ~50 ms from the server) and translates each kind into the protocol
messages of PROTOCOL.md, as a `{kind: translator}` registry.

Ids are assigned at insert but become visible at commit, so on a database with concurrent
writers (PostgreSQL) a lower id can appear after a higher one: skipped ids are remembered as
gaps and asked for again for a few seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from app import logs
from signaling import metrics
from signaling.calls import Membership
from signaling.context import Services
from signaling.errors import CloseCode
from signaling.protocol import server_message
from signaling.store import OutboxEvent

log = logging.getLogger(__name__)

Translator = Callable[[Services, OutboxEvent], None]
TRANSLATORS: dict[str, Translator] = {}

# Call events that end a call, and the message type each becomes.
END_KINDS = {
    "call.declined": "declined",
    "call.cancelled": "cancelled",
    "call.missed": "missed",
    "call.busy": "busy",
    "call.ended": "ended",
}


def translates(*kinds: str) -> Callable[[Translator], Translator]:
    def register(translator: Translator) -> Translator:
        for kind in kinds:
            TRANSLATORS[kind] = translator
        return translator

    return register


def _membership(services: Services, event: OutboxEvent) -> Membership | None:
    """The call's membership, updated by this event. A call this daemon has not seen yet is
    taken from the event itself (or, for an older event without the participants' ids,
    read from the database once)."""
    if event.call_id is None:
        return None
    state = (event.data.get("call") or {}).get("state", "")
    entry = services.calls.apply_event(event.call_id, state, event.data)
    if entry is not None:
        return entry
    entry = Membership.from_event(event.call_id, event.data)
    if entry is not None:
        services.calls.put(entry)
        return entry
    entry = services.calls.reload(event.call_id)
    if entry is not None:
        entry.apply(state, event.data)  # events are applied in order: this one's state
    return entry


@translates("call.ringing")
def call_ringing(services: Services, event: OutboxEvent) -> None:
    """`incoming` to every device of the callee, `ringing` to every device of the caller."""
    call = _membership(services, event)
    if call is None:
        return
    record = event.data["call"]
    hub = services.hub.local_view()
    if call.callee_id is not None:
        incoming = server_message(
            "incoming", call_id=call.call_id, **{"from": call.caller or ""}, call=record
        )
        hub.send_to_user(call.callee_id, incoming)
    if call.caller_id is not None:
        hub.send_to_user(
            call.caller_id, server_message("ringing", call_id=call.call_id, call=record)
        )


@translates("call.accepted")
def call_accepted(services: Services, event: OutboxEvent) -> None:
    """`accepted` to the caller and the answering device, `answered_elsewhere` to the rest."""
    call = _membership(services, event)
    if call is None:
        return
    record, hub = event.data["call"], services.hub.local_view()
    accepted = server_message(
        "accepted", call_id=call.call_id, merged=bool(event.data.get("merged")), call=record
    )
    if call.caller_id is not None:
        hub.send_to_user(call.caller_id, accepted)
    if call.callee_id is None:
        return
    answering = call.callee_session_id
    if answering is None:
        hub.send_to_user(call.callee_id, accepted)
        return
    hub.send_to_user(call.callee_id, accepted, session_id=answering)
    elsewhere = server_message("answered_elsewhere", call_id=call.call_id, call=record)
    hub.send_to_user(call.callee_id, elsewhere, except_session_id=answering)


@translates(*END_KINDS)
def call_finished(services: Services, event: OutboxEvent) -> None:
    """declined / cancelled / missed / busy / ended to both sides; grace timers stop."""
    call = _membership(services, event)
    if call is None:
        return
    services.presence.call_ended(call.call_id)
    services.calls.ended(call.call_id)
    message = server_message(END_KINDS[event.kind], call_id=call.call_id, call=event.data["call"])
    for user_id in (call.caller_id, call.callee_id):
        if user_id is not None:
            services.hub.local_view().send_to_user(user_id, message)


@translates("session.revoked")
def session_revoked(services: Services, event: OutboxEvent) -> None:
    """`session_revoked`, then close 4003, on every socket of the revoked sessions."""
    reason = str(event.data.get("reason") or "revoked")
    message = server_message("session_revoked", reason=reason)
    for session_id in event.data.get("session_ids") or []:
        services.revoked.add(session_id)
        closed = services.hub.local_view().send_to_session(
            session_id, message, CloseCode.SESSION_REVOKED
        )
        if closed:
            logs.event(log, "session.revoked", session=session_id, reason=reason, closed=closed)


class OutboxRelay:
    """Reads new outbox rows and delivers them; `poll_once()` is one round."""

    GAP_TTL = 10.0  # seconds a skipped id is waited for (a rolled-back insert never appears)
    MAX_GAPS = 1000

    def __init__(
        self,
        services: Services,
        batch: int = 500,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.services = services
        self.batch = batch
        self.last_id = 0
        self.last_poll_ok = time.monotonic()  # for chimecast_signaling_outbox_lag_seconds
        self._gaps: dict[int, float] = {}
        self._clock = clock

    def start(self) -> None:
        """Begin after the newest event: older ones are reflected in `welcome` instead."""
        self.last_id = self.services.store.last_event_id()

    def poll_once(self) -> int:
        """Fetch and deliver the events not seen yet; returns how many."""
        now = self._clock()
        self._gaps = {i: at for i, at in self._gaps.items() if now - at < self.GAP_TTL}
        events = self.services.store.events_after(self.last_id, sorted(self._gaps), self.batch)
        self.last_poll_ok = time.monotonic()
        for event in events:
            self._advance(event.id, now)
            self.deliver(event)
        return len(events)

    def _advance(self, event_id: int, now: float) -> None:
        if self._gaps.pop(event_id, None) is not None:
            return
        for missing in range(self.last_id + 1, event_id):
            if len(self._gaps) < self.MAX_GAPS:
                self._gaps[missing] = now
        self.last_id = max(self.last_id, event_id)

    def deliver(self, event: OutboxEvent) -> None:
        """Translate one event; a failure is logged and the relay goes on with the next."""
        translator = TRANSLATORS.get(event.kind)
        if translator is None:
            logs.event(log, "outbox.skipped", logging.DEBUG, event=event.id, kind=event.kind)
            return
        if event.created_at is not None:
            metrics.EVENT_DELAY.observe(max(0.0, time.time() - event.created_at.timestamp()))
        try:
            translator(self.services, event)
        except Exception:
            logs.event(log, "outbox.failed", logging.ERROR, True, event=event.id, kind=event.kind)
