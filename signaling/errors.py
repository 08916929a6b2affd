"""Close codes and error types of the signaling protocol (PROTOCOL.md, "Errors" and "Closing")."""

from __future__ import annotations

import enum
from typing import Any


class CloseCode(enum.IntEnum):
    """WebSocket close codes the daemon sends; every one is documented in PROTOCOL.md."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003  # a binary frame
    INVALID_PAYLOAD = 1007  # bad UTF-8 or repeated invalid JSON
    POLICY_VIOLATION = 1008  # a message sliced into more than MAX_FRAGMENTS frames
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013  # hello shed or overdue: the reason carries a retry hint
    HELLO_REQUIRED = 4001
    INVALID_TOKEN = 4002
    SESSION_REVOKED = 4003
    TOO_MANY_CONNECTIONS = 4004
    FLOOD = 4008  # messages past the rate limit, or frames past the frame budget
    TOO_SLOW = 4009
    HEARTBEAT_TIMEOUT = 4010


# Stable `error.code` values (PROTOCOL.md, "Errors"); the call service adds its own codes.
INVALID_JSON = "invalid_json"
INVALID_MESSAGE = "invalid_message"
UNKNOWN_TYPE = "unknown_type"
NOT_A_PARTICIPANT = "not_a_participant"
WRONG_DEVICE = "wrong_device"
CALL_NOT_ACTIVE = "call_not_active"
RATE_LIMITED = "rate_limited"
TEXT_TOO_LONG = "text_too_long"
NOT_HOST = "not_host"
ALREADY_AUTHENTICATED = "already_authenticated"
INTERNAL_ERROR = "internal_error"
DATABASE_UNAVAILABLE = "database_unavailable"  # as the HTTP API's 503


class MessageError(Exception):
    """A user error: answered with an `error` message; the connection stays open."""

    def __init__(self, code: str, message: str, *, ref: Any = None, call_id: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref
        self.call_id = call_id


class ProtocolViolation(Exception):
    """A protocol error: the connection is closed with `close_code`."""

    def __init__(self, close_code: int, reason: str = "") -> None:
        super().__init__(f"{close_code} {reason}".strip())
        self.close_code = close_code
        self.reason = reason


class PeerClosed(Exception):
    """The client sent a close frame (`code` is None when it carried no status)."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"peer closed: {code} {reason}".strip())
        self.code = code
        self.reason = reason


class CallServiceError(Exception):
    """The call service refused (ApiError translated by the store); `code` is its stable code,
    `call_id` the call the refusal recorded, if any (a start refused busy or offline)."""

    def __init__(self, code: str, message: str, call_id: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.call_id = call_id
