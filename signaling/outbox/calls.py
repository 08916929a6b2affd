"""Call events from the outbox: ringing, accepted and the ends, to both parties' devices.

Every daemon tails the outbox, so each delivers to its own connections only (the hub's
local view), and updates its membership cache from the event first.
"""

from __future__ import annotations

from signaling.protocol import server_message
from signaling.state.call_cache import Membership
from signaling.state.services import Services
from signaling.state.store import OutboxEvent

# Call events that end a call, and the message type each becomes.
END_KINDS = {
    "call.declined": "declined",
    "call.cancelled": "cancelled",
    "call.missed": "missed",
    "call.busy": "busy",
    "call.ended": "ended",
}


def _membership(services: Services, event: OutboxEvent) -> Membership | None:
    """The call's membership, updated by this event. A call this daemon has not seen yet is
    taken from the event itself (or, for an older event without the participants' ids,
    read from the database once)."""
    if event.call_id is None:
        return None
    services.presence.met(event.data.get("caller_id"), event.data.get("callee_id"))
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


def call_ringing(services: Services, event: OutboxEvent) -> None:
    """`incoming` to every device of the callee, `ringing` to every device of the caller."""
    call = _membership(services, event)
    if call is None:
        return
    record = event.data["call"]
    hub = services.hub
    if call.callee_id is not None:
        incoming = server_message(
            "incoming", call_id=call.call_id, **{"from": call.caller or ""}, call=record
        )
        hub.send_to_user(call.callee_id, incoming, local=True)
    if call.caller_id is not None:
        hub.send_to_user(
            call.caller_id, server_message("ringing", call_id=call.call_id, call=record), local=True
        )


def call_accepted(services: Services, event: OutboxEvent) -> None:
    """`accepted` to the caller and the answering device, `answered_elsewhere` to the rest."""
    call = _membership(services, event)
    if call is None:
        return
    record, hub = event.data["call"], services.hub
    for user_id, name in ((call.caller_id, call.caller), (call.callee_id, call.callee)):
        services.presence.tell_contacts(user_id, name, "in_call")
    accepted = server_message(
        "accepted", call_id=call.call_id, merged=bool(event.data.get("merged")), call=record
    )
    if call.caller_id is not None:
        hub.send_to_user(call.caller_id, accepted, local=True)
    if call.callee_id is None:
        return
    answering = call.callee_session_id
    if answering is None:
        hub.send_to_user(call.callee_id, accepted, local=True)
        return
    hub.send_to_user(call.callee_id, accepted, session_id=answering, local=True)
    elsewhere = server_message("answered_elsewhere", call_id=call.call_id, call=record)
    hub.send_to_user(call.callee_id, elsewhere, except_session_id=answering, local=True)


def call_finished(services: Services, event: OutboxEvent) -> None:
    """declined / cancelled / missed / busy / ended to both sides; grace timers stop."""
    call = _membership(services, event)
    if call is None:
        return
    services.presence.call_ended(call.call_id)
    services.calls.ended(call.call_id)
    if event.data["call"].get("answered_at"):  # it was a call in progress: free again
        for user_id, name in ((call.caller_id, call.caller), (call.callee_id, call.callee)):
            services.presence.tell_contacts(user_id, name, "online")
    message = server_message(END_KINDS[event.kind], call_id=call.call_id, call=event.data["call"])
    for user_id in (call.caller_id, call.callee_id):
        if user_id is not None:
            services.hub.send_to_user(user_id, message, local=True)
