"""Client -> server messages: the daemon's one `{type: handler}` table, and `dispatch`.

A handler gets the daemon's services, the connection and the validated message. It answers
through `conn.send()`; a MessageError or CallServiceError becomes an `error` reply, a
database that cannot be reached `database_unavailable` (and a line of the outage log), and
any other exception (an unknown type included) is logged and answered with
`internal_error`; the connection stays open. Handlers never trust a client-supplied
sender: `from` is the authenticated user.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from app.logs import event
from app.outage import DATABASE_UNAVAILABLE
from signaling import errors
from signaling.errors import CallServiceError, MessageError
from signaling.handlers import calls, meetings, relay, room_messages, session
from signaling.protocol import RELAY_TYPES, ClientMessage, error_message
from signaling.state.hub import Connection
from signaling.state.services import Services

log = logging.getLogger(__name__)

Handler = Callable[[Services, Connection, ClientMessage], None]

HANDLERS: dict[str, Handler] = {
    "hello": session.hello,
    "ping": session.ping,
    "call": calls.start_call,
    "accept": calls.call_control,
    "decline": calls.call_control,
    "hangup": calls.call_control,
    "stats": calls.stats,
    **dict.fromkeys(RELAY_TYPES, relay.relay),
    "join_meeting": meetings.meeting_action,
    "leave_meeting": meetings.meeting_action,
    **dict.fromkeys(meetings.MODERATION, meetings.meeting_action),
    **dict.fromkeys(meetings.SCREEN, meetings.meeting_action),
    "mute_request": meetings.mute_request,
    "chat": room_messages.chat,
    "media_state": room_messages.media_state,
    "hand": room_messages.hand,
    "reaction": room_messages.reaction,
}


def dispatch(services: Services, conn: Connection, message: ClientMessage) -> None:
    """Run the handler of `message.type`; errors become `error` replies, never exceptions.

    The lookup is inside the error handling: a type without a handler is answered
    `internal_error` (and logged), it never escapes to close the socket with 1011.
    """
    try:
        HANDLERS[message.type](services, conn, message)
    except MessageError as exc:
        reply = error_message(exc.code, exc.message, ref=message.id, call_id=message.call_id)
        conn.send(reply)
    except CallServiceError as exc:
        call_id = exc.call_id if exc.call_id is not None else message.call_id
        conn.send(error_message(exc.code, exc.message, ref=message.id, call_id=call_id))
    except DATABASE_UNAVAILABLE as exc:  # not a fault of the handler: the outage log says it
        services.database.failed(exc, message.type, track=False)  # once, not once a message
        text = "The database is unavailable; retry shortly."
        conn.send(
            error_message(
                errors.DATABASE_UNAVAILABLE, text, ref=message.id, call_id=message.call_id
            )
        )
    except Exception:
        event(log, "handler.failed", logging.ERROR, True, conn=conn.conn_id, type=message.type)
        text = "The server could not handle this message."
        conn.send(
            error_message(errors.INTERNAL_ERROR, text, ref=message.id, call_id=message.call_id)
        )
