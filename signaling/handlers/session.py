"""`hello` and `ping`: authenticate a connection, register it, and answer `welcome`."""

from __future__ import annotations

import logging
from typing import Any

import gevent

from app.logs import event
from signaling import errors, metrics
from signaling.backoff import UNAVAILABLE
from signaling.errors import CloseCode, MessageError
from signaling.protocol import PROTOCOL_VERSION, ClientMessage, server_message
from signaling.state.admission import busy_reason, client_hung_up
from signaling.state.batches import Abandoned
from signaling.state.call_cache import Membership
from signaling.state.hub import Connection
from signaling.state.services import Services
from signaling.state.store import ConnectInfo, Identity

log = logging.getLogger(__name__)

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
    """Authenticate, register the connection, and answer `welcome` with the user's calls.

    The hello is first admitted (signaling.state.admission) or shed with 1013 and a retry
    hint; once admitted, the client has met its hello deadline and waits for us.
    """
    if conn.identity is not None:
        raise MessageError(errors.ALREADY_AUTHENTICATED, "This connection is authenticated.")
    admission = services.admission
    retry_after = admission.enter(conn)
    if retry_after is not None:
        metrics.HELLOS_SHED.inc("queue_full")
        conn.close(CloseCode.TRY_AGAIN_LATER, busy_reason(retry_after))
        return
    served = False
    try:
        served = _serve(services, conn, message)
    finally:
        admission.leave(conn, served)


def _serve(services: Services, conn: Connection, message: ClientMessage) -> bool:
    """Answer the hello; False if it was not served (overdue, or its client left)."""
    try:
        who = _check_token(services, conn, message.token)
    except Abandoned:
        metrics.HELLOS_SHED.inc("departed")
        return False  # the client has gone: its reader finds out next
    except gevent.Timeout:  # our queue, not the client, was too slow: come back later
        metrics.HELLOS_SHED.inc("overdue")
        conn.close(CloseCode.TRY_AGAIN_LATER, busy_reason(services.admission.retry_hint()))
        return False
    except Exception as exc:
        _cannot_check(services, conn, exc, "hello")
        return True
    if conn.closing:
        return True  # closed while the token was being checked (shutdown, session revoked)
    if who is None or who.session_id in services.revoked:
        conn.close(CloseCode.INVALID_TOKEN, "invalid, expired or revoked token")
        return True
    hub = services.hub
    if hub.count_user(who.user_id) >= services.settings.max_connections_per_user:
        conn.close(CloseCode.TOO_MANY_CONNECTIONS, "too many connections")
        return True
    # Register before reading the user's calls, so no event falls between the two; the
    # connection holds what the hub sends it until `welcome` has gone out.
    conn.authenticated(who)
    first_of_user = hub.add(conn) == 1
    try:
        info = services.store.connect(who, conn.conn_id, services.settings.node_id)
    except Exception as exc:
        _cannot_check(services, conn, exc, "connect")
        return True
    if who.session_id in services.revoked:
        conn.close(CloseCode.SESSION_REVOKED, "session revoked")
        return True
    for call in info.calls:
        services.calls.put(call)
    conn.welcome(welcome_message(services, conn, who, info, message.id))
    services.presence.connected(conn, info.calls, first_of_user, info.contact_ids)
    return True


def _check_token(services: Services, conn: Connection, token: str) -> Identity | None:
    """The identity behind `token`, checked in arrival order; `Abandoned` if the client
    has gone by its turn (no database work is done for it); gevent.Timeout if it is not
    answered within the admission's own bound (a few hello deadlines: the client's hello
    deadline stopped counting when its hello arrived)."""
    with gevent.Timeout(services.admission.overdue):
        return services.store.authenticate(token, lambda: not client_hung_up(conn))


def _cannot_check(services: Services, conn: Connection, exc: BaseException, step: str) -> None:
    """Close 1011 asking the client to retry; a database outage goes to its outage log
    (one line per outage, not one per client), anything else is a bug and logged as one."""
    if isinstance(exc, UNAVAILABLE):
        services.database.failed(exc, step, track=False)
        conn.close(CloseCode.INTERNAL_ERROR, RETRY_REASON)
    else:
        event(log, "hello.failed", logging.ERROR, exc, conn=conn.conn_id, step=step)
        conn.close(CloseCode.INTERNAL_ERROR, "server error")


def ping(services: Services, conn: Connection, message: ClientMessage) -> None:
    conn.send(server_message("pong", ref=message.id))
