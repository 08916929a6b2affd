"""Call control over the socket: accept, decline, hangup and stats, through the store."""

from __future__ import annotations

import logging

from app.logs import event
from signaling.protocol import ClientMessage, server_message
from signaling.state.hub import Connection
from signaling.state.services import Services

log = logging.getLogger(__name__)


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
