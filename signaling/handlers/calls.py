"""Call control over the socket: call, accept, decline, hangup and stats, through the store."""

from __future__ import annotations

import logging

from app.logs import event
from signaling.protocol import ClientMessage, server_message
from signaling.state.hub import Connection
from signaling.state.services import Services

log = logging.getLogger(__name__)


def start_call(services: Services, conn: Connection, message: ClientMessage) -> None:
    """What POST /call/start does, from this connection's device: `ack` with the outcome.

    The ring itself reaches the callee (and the caller's `ringing`) through the outbox, as
    after an HTTP start, so both paths deliver it the same way."""
    assert conn.identity is not None and message.to is not None
    started = services.store.start_call(conn.identity, message.to)
    event(log, "call.start", conn=conn.conn_id, user=conn.username, call=started.call_id)
    reply = server_message(
        "ack", ref=message.id, call_id=started.call_id, call=started.record, outcome=started.outcome
    )
    conn.send(reply)


def call_control(services: Services, conn: Connection, message: ClientMessage) -> None:
    """The same transitions as POST /call/accept|decline|end, through the call service."""
    assert conn.identity is not None and message.call_id is not None
    call = services.store.call_action(message.type, conn.identity, message.call_id)
    services.calls.put(call)
    event(log, f"call.{message.type}", conn=conn.conn_id, user=conn.username, call=call.call_id)
    conn.send(server_message("ack", ref=message.id, call_id=call.call_id, call=call.call))


def stats(services: Services, conn: Connection, message: ClientMessage) -> None:
    """Store the participant's report on the media path with the call record."""
    assert conn.identity is not None and message.call_id is not None
    report = {key: message.payload[key] for key in ("path", "rtt_ms") if key in message.payload}
    call = services.store.record_stats(conn.identity, message.call_id, report)
    conn.send(server_message("ack", ref=message.id, call_id=call.call_id, call=call.call))
