"""What the daemon does with each client message type: a `{type: handler}` registry.

A handler gets the daemon's services, the connection and the validated message. It answers
through `conn.send()`; a MessageError or CallServiceError becomes an `error` reply, and any
other exception is logged and answered with `internal_error`; the connection stays open.
Handlers never trust a client-supplied sender: `from` is the authenticated user.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import gevent

from app.logs import event
from signaling import errors, metrics
from signaling.backoff import UNAVAILABLE
from signaling.calls import ACTIVE, Membership
from signaling.context import Services
from signaling.errors import CallServiceError, CloseCode, MessageError
from signaling.protocol import (
    PROTOCOL_VERSION,
    RELAY_TYPES,
    ClientMessage,
    error_message,
    server_message,
)
from signaling.store import ConnectInfo, Identity

log = logging.getLogger(__name__)

HELLO_MARGIN = 0.5  # s before the hello deadline: time to close with 1011 rather than 4001
RETRY_REASON = "database unavailable, retry shortly"


class Conn(Protocol):
    """The connection as handlers see it (a `Peer`, or a fake in tests)."""

    conn_id: str
    identity: Identity | None
    closing: bool
    started: float  # time.monotonic() when the connection opened (the hello deadline)

    @property
    def user_id(self) -> int: ...

    @property
    def username(self) -> str: ...

    @property
    def session_id(self) -> int: ...

    def send(self, message: dict[str, Any]) -> bool: ...

    def close(self, code: int, reason: str = "") -> None: ...

    def authenticated(self, identity: Identity) -> None: ...

    def welcome(self, message: dict[str, Any]) -> None: ...


Handler = Callable[[Services, Conn, ClientMessage], None]
HANDLERS: dict[str, Handler] = {}


def handles(*types: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for kind in types:
            HANDLERS[kind] = handler
        return handler

    return register


def dispatch(services: Services, conn: Conn, message: ClientMessage) -> None:
    """Run the handler of `message.type`; errors become `error` replies, never exceptions."""
    handler = HANDLERS[message.type]
    try:
        handler(services, conn, message)
    except MessageError as exc:
        reply = error_message(exc.code, exc.message, ref=message.id, call_id=message.call_id)
        conn.send(reply)
    except CallServiceError as exc:
        conn.send(error_message(exc.code, exc.message, ref=message.id, call_id=message.call_id))
    except Exception:
        event(log, "handler.failed", logging.ERROR, True, conn=conn.conn_id, type=message.type)
        text = "The server could not handle this message."
        conn.send(
            error_message(errors.INTERNAL_ERROR, text, ref=message.id, call_id=message.call_id)
        )


# -- connecting -----------------------------------------------------------------------------
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
    services: Services, conn: Conn, who: Identity, info: ConnectInfo, ref: Any
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


@handles("hello")
def hello(services: Services, conn: Conn, message: ClientMessage) -> None:
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
    services.presence.connected(conn, info.calls, first_of_user)


def _check_token(services: Services, conn: Conn, token: str) -> Identity | None:
    """The identity behind `token`; gevent.Timeout if the database has not answered by
    shortly before the hello deadline (which would otherwise close with a misleading 4001)."""
    timeout = services.settings.hello_timeout
    left = conn.started + timeout - min(HELLO_MARGIN, timeout / 5) - time.monotonic()
    with gevent.Timeout(max(left, 0.001)):
        return services.store.authenticate(token)


def _cannot_check(services: Services, conn: Conn, exc: BaseException, step: str) -> None:
    """Close 1011 asking the client to retry; a database outage goes to its outage log
    (one line per outage, not one per client), anything else is a bug and logged as one."""
    if isinstance(exc, (*UNAVAILABLE, gevent.Timeout)):
        services.database.failed(exc, step, track=False)
        conn.close(CloseCode.INTERNAL_ERROR, RETRY_REASON)
    else:
        event(log, "hello.failed", logging.ERROR, exc, conn=conn.conn_id, step=step)
        conn.close(CloseCode.INTERNAL_ERROR, "server error")


@handles("ping")
def ping(services: Services, conn: Conn, message: ClientMessage) -> None:
    conn.send(server_message("pong", ref=message.id))


# -- call control ---------------------------------------------------------------------------
@handles("accept", "decline", "hangup")
def call_control(services: Services, conn: Conn, message: ClientMessage) -> None:
    """The same transitions as POST /call/accept|decline|end, through the call service."""
    assert conn.identity is not None and message.call_id is not None
    call = services.store.call_action(message.type, conn.identity, message.call_id)
    services.calls.put(call)
    event(log, f"call.{message.type}", conn=conn.conn_id, user=conn.username, call=call.call_id)
    conn.send(server_message("ack", ref=message.id, call_id=call.call_id, call=call.call))


@handles("stats")
def stats(services: Services, conn: Conn, message: ClientMessage) -> None:
    """Store the participant's report on the media path with the call record."""
    assert conn.identity is not None and message.call_id is not None
    report = {key: message.payload[key] for key in ("path", "rtt_ms") if key in message.payload}
    call = services.store.record_stats(conn.identity, message.call_id, report)
    conn.send(server_message("ack", ref=message.id, call_id=call.call_id, call=call.call))


# -- negotiation ----------------------------------------------------------------------------
def authorize_relay(services: Services, conn: Conn, message: ClientMessage) -> Membership:
    """The call if `conn` may send this to `message.to` now; MessageError otherwise.

    Uses the in-memory membership cache: no database query per relayed message.
    """
    assert message.call_id is not None
    call = services.calls.get(message.call_id)
    if call is None or call.role_of(conn.user_id) is None:
        raise MessageError(errors.NOT_A_PARTICIPANT, "You are not in this call.")
    if call.state != ACTIVE:  # before the name check: an ended call's entry keeps only ids
        raise MessageError(errors.CALL_NOT_ACTIVE, f"The call is {call.state}, not active.")
    if message.to != call.other(conn.user_id)[1]:
        raise MessageError(errors.NOT_A_PARTICIPANT, f"{message.to} is not in this call.")
    if call.session_of(conn.user_id) not in (None, conn.session_id):
        raise MessageError(errors.WRONG_DEVICE, "Another of your devices is in this call.")
    return call


@handles(*RELAY_TYPES)
def relay(services: Services, conn: Conn, message: ClientMessage) -> None:
    """Forward offer/answer/candidate to the other participant's in-call device (or, with a
    `meeting_id`, to one participant of a meeting: see signaling.meetings)."""
    if message.meeting_id is not None:
        from signaling.meetings import relay_in_meeting

        relay_in_meeting(services, conn, message)
        return
    call = authorize_relay(services, conn, message)
    recipient_id, _name, recipient_session = call.other(conn.user_id)
    assert recipient_id is not None
    seq = services.calls.next_seq(call.call_id, conn.user_id)
    relayed = server_message(
        message.type,
        call_id=call.call_id,
        **{"from": conn.username},
        seq=seq,
        payload=message.payload,
    )
    delivered = services.hub.send_to_user(recipient_id, relayed, session_id=recipient_session)
    metrics.RELAYED.labels(message.type).inc()
    if log.isEnabledFor(logging.DEBUG):
        event(log, "relay", logging.DEBUG, conn=conn.conn_id, call=call.call_id,
              type=message.type, seq=seq, delivered=delivered)  # fmt: skip
