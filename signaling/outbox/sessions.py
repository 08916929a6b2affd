"""Session events from the outbox: a revoked login session's sockets are told and closed."""

from __future__ import annotations

import logging

from app import logs
from signaling.errors import CloseCode
from signaling.protocol import server_message
from signaling.state.services import Services
from signaling.state.store import OutboxEvent

log = logging.getLogger(__name__)


def session_revoked(services: Services, event: OutboxEvent) -> None:
    """`session_revoked`, then close 4003, on every socket of the revoked sessions."""
    reason = str(event.data.get("reason") or "revoked")
    message = server_message("session_revoked", reason=reason)
    for session_id in event.data.get("session_ids") or []:
        services.revoked.add(session_id)
        closed = services.hub.send_to_session(
            session_id, message, CloseCode.SESSION_REVOKED, local=True
        )
        if closed:
            logs.event(log, "session.revoked", session=session_id, reason=reason, closed=closed)
