"""`hello` and `ping`: authenticate a connection, register it, and answer `welcome`."""

from __future__ import annotations

import logging
import time
from typing import Any

import gevent

from app.logs import event
from signaling import errors
from signaling.backoff import UNAVAILABLE
from signaling.errors import CloseCode, MessageError
from signaling.protocol import PROTOCOL_VERSION, ClientMessage, server_message
from signaling.state.call_cache import Membership
from signaling.state.hub import Connection
from signaling.state.services import Services
from signaling.state.store import ConnectInfo, Identity

log = logging.getLogger(__name__)

HELLO_MARGIN = 0.5  # s before the hello deadline: time to close with 1011 rather than 4001
RETRY_REASON = "database unavailable, retry shortly"


def _call_summary(call: Membership, user_id: int, online: frozenset[int]) -> dict[str, Any]:
    peer_id, peer_name, _session = call.other(user_id)
    return {
        "call_id": call.call_id,
        "state": call.state,
        "role": call.role_of(user_id),
        "peer": peer_name,
        "peer_online": peer_id in online,
        "call": call.call,
    }


def welcome_message(
    services: Services, conn: Connection, who: Identity, info: ConnectInfo, ref: Any
) -> dict[str, Any]:
    settings = services.settings
    return server_message(
        "welcome",
        ref=ref,
        protocol=PROTOCOL_VERSION,
        connection_id=conn.conn_id,
        user={"username": who.username, "display_name": who.display_name},
        ice_servers=info.ice_servers,
        heartbeat={
            "ping_interval": settings.heartbeat_interval,
            "timeout": settings.heartbeat_timeout,
        },
        calls=[_call_summary(call, who.user_id, info.online_user_ids) for call in info.calls],
    )


def hello(services: Services, conn: Connection, message: ClientMessage) -> None:
    """Authenticate, register the connection, and answer `welcome` with the user's calls."""
    if conn.identity is not None:
        raise MessageError(errors.ALREADY_AUTHENTICATED, "This connection is authenticated.")
    try:
        who = _check_token(services, conn, message.token)
    except (Exception, gevent.Timeout) as exc:  # Timeout is a BaseException
        _cannot_check(services, conn, exc, "hello")
        return
    if conn.closing:
        return  # the hello deadline passed while the token was being checked
    if who is None or who.session_id in services.revoked:
        conn.close(CloseCode.INVALID_TOKEN, "invalid, expired or revoked token")
        return
    hub = services.hub
    if hub.count_user(who.user_id) >= services.settings.max_connections_per_user:
        conn.close(CloseCode.TOO_MANY_CONNECTIONS, "too many connections")
        return
    # Register before reading the user's calls, so no event falls between the two; the
    # connection holds what the hub sends it until `welcome` has gone out.
    conn.authenticated(who)
    first_of_user = hub.add(conn) == 1
    try:
        info = services.store.connect(who, conn.conn_id, services.settings.node_id)
    except Exception as exc:
        _cannot_check(services, conn, exc, "connect")
        return
    if who.session_id in services.revoked:
        conn.close(CloseCode.SESSION_REVOKED, "session revoked")
        return
    for call in info.calls:
        services.calls.put(call)
    conn.welcome(welcome_message(services, conn, who, info, message.id))
    services.presence.connected(conn, info.calls, first_of_user, info.contact_ids)


def _check_token(services: Services, conn: Connection, token: str) -> Identity | None:
    """The identity behind `token`; gevent.Timeout if the database has not answered by
    shortly before the hello deadline (which would otherwise close with a misleading 4001)."""
    timeout = services.settings.hello_timeout
    left = conn.started + timeout - min(HELLO_MARGIN, timeout / 5) - time.monotonic()
    with gevent.Timeout(max(left, 0.001)):
        return services.store.authenticate(token)


def _cannot_check(services: Services, conn: Connection, exc: BaseException, step: str) -> None:
    """Close 1011 asking the client to retry; a database outage goes to its outage log
    (one line per outage, not one per client), anything else is a bug and logged as one."""
    if isinstance(exc, (*UNAVAILABLE, gevent.Timeout)):
        services.database.failed(exc, step, track=False)
        conn.close(CloseCode.INTERNAL_ERROR, RETRY_REASON)
    else:
        event(log, "hello.failed", logging.ERROR, exc, conn=conn.conn_id, step=step)
        conn.close(CloseCode.INTERNAL_ERROR, "server error")


def ping(services: Services, conn: Connection, message: ClientMessage) -> None:
    conn.send(server_message("pong", ref=message.id))
