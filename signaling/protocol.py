"""Message types of protocol version 1: parsing and validating client messages, shaping server ones.

PROTOCOL.md is the prose version of the tables below; `tests/signaling/test_protocol_doc.py`
runs every example in it through `parse()` (client) or `check_server_message()` (server).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

import orjson

from signaling import metrics
from signaling.errors import (
    INVALID_JSON,
    INVALID_MESSAGE,
    TEXT_TOO_LONG,
    UNKNOWN_TYPE,
    MessageError,
)

PROTOCOL_VERSION = 1
MAX_ID_LENGTH = 64
MAX_SAFE_INTEGER = 2**53 - 1  # JavaScript clients must be able to echo ids exactly
RELAY_TYPES = ("offer", "answer", "candidate")
# Types that name a call (`call_id`) or, inside a meeting, a meeting (`meeting_id`) instead.
SCOPED_TYPES = (*RELAY_TYPES, "chat", "media_state")
MAX_CHAT_LENGTH = 1000  # characters; a chat line, not a document
REACTIONS = ("👍", "👏", "😂", "❤️", "🎉", "😮")

# A check returns None when the value is acceptable, else what is wrong with it.
Check = Callable[[Any], str | None]


class ClientMessage(NamedTuple):
    """A validated client message; fields the type does not use are None.

    A named tuple: one is made per message received, and a frozen dataclass of these 15
    fields cost more to build (15 `object.__setattr__` calls) than the JSON decode.
    """

    type: str
    id: str | int | None = None
    call_id: int | None = None
    to: str | None = None
    payload: Any = None
    token: str | None = None
    meeting_id: int | None = None
    invite: str | None = None
    user: str | None = None
    locked: bool | None = None
    text: str | None = None
    audio: bool | None = None
    video: bool | None = None
    raised: bool | None = None
    emoji: str | None = None
    sharing: bool | None = None
    screen: bool | None = None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and value == value  # not NaN


def _call_id(value: Any) -> str | None:
    # the database's id range (app.api.MAX_ID): larger ids name nothing
    return None if _is_int(value) and 1 <= value <= 2**31 - 1 else "must be a positive integer"


# C0, DEL and C1 control characters. A compiled search, not a generator over the
# characters: two usernames are checked per relayed message (py-spy: 6.6 % of a flood).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _plain(value: str) -> bool:
    """No control characters (C0, DEL, C1): names, tokens and ids are never made of them,
    and a NUL is text PostgreSQL refuses, so it is stopped here, before any handler."""
    return _CONTROL.search(value) is None


def _username(value: Any) -> str | None:
    if isinstance(value, str) and 1 <= len(value) <= 64 and _plain(value):
        return None
    return "must be a username"


def _token(value: Any) -> str | None:
    if isinstance(value, str) and 1 <= len(value) <= 256 and _plain(value):
        return None
    return "must be a string without control characters"


def _optional(value: Any, kind: Callable[[Any], bool]) -> bool:
    return value is None or kind(value)


def _description(*allowed: str) -> Check:
    """An RTCSessionDescriptionInit: `sdp` text and, if given, a `type` of `allowed`."""

    def check(value: Any) -> str | None:
        if not isinstance(value, dict) or not isinstance(value.get("sdp"), str):
            return "must be an object with a string 'sdp'"
        if "type" in value and value["type"] not in allowed:
            return f"'type' must be one of {', '.join(allowed)}"
        return None

    return check


def _candidate(value: Any) -> str | None:
    """An RTCIceCandidateInit, or null for end-of-candidates."""
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("candidate"), str):
        return "must be null or an object with a string 'candidate'"
    if not _optional(value.get("sdpMid"), lambda v: isinstance(v, str)):
        return "'sdpMid' must be a string or null"
    if not _optional(value.get("sdpMLineIndex"), lambda v: _is_int(v) and v >= 0):
        return "'sdpMLineIndex' must be a non-negative integer or null"
    return None


def _bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


class Refusal(str):
    """What is wrong with a field, with an error code of its own (not `invalid_message`)."""

    code: str

    def __new__(cls, text: str, code: str) -> Refusal:
        refusal = super().__new__(cls, text)
        refusal.code = code
        return refusal


def _chat_text(value: Any) -> str | None:
    """1 to MAX_CHAT_LENGTH characters; line breaks and tabs are the only control characters
    (a NUL cannot even be sent on to PostgreSQL-backed tools, and the others hide text)."""
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string"
    if len(value) > MAX_CHAT_LENGTH:
        return Refusal(f"must be at most {MAX_CHAT_LENGTH} characters", TEXT_TOO_LONG)
    if any((ord(c) < 32 and c not in "\n\t") or 127 <= ord(c) < 160 for c in value):
        return "must not contain control characters"
    return None


def _emoji(value: Any) -> str | None:
    return None if value in REACTIONS else f"must be one of {' '.join(REACTIONS)}"


def _stats(value: Any) -> str | None:
    if not isinstance(value, dict) or value.get("path") not in ("direct", "relayed"):
        return "must be an object whose 'path' is 'direct' or 'relayed'"
    rtt = value.get("rtt_ms")
    if rtt is not None and not (_is_number(rtt) and 0 <= rtt <= 60000):
        return "'rtt_ms' must be a number from 0 to 60000"
    return None


# Every type a client may send, and its required fields (all others are ignored).
CLIENT_SCHEMAS: dict[str, dict[str, Check]] = {
    "hello": {"token": _token},
    "ping": {},
    "call": {"to": _username},
    "accept": {"call_id": _call_id},
    "decline": {"call_id": _call_id},
    "hangup": {"call_id": _call_id},
    "stats": {"call_id": _call_id, "payload": _stats},
    "offer": {"call_id": _call_id, "to": _username, "payload": _description("offer")},
    "answer": {"call_id": _call_id, "to": _username, "payload": _description("answer", "pranswer")},
    "candidate": {"call_id": _call_id, "to": _username, "payload": _candidate},
    # meetings (mesh group calls)
    "join_meeting": {"meeting_id": _call_id},
    "leave_meeting": {"meeting_id": _call_id},
    "admit": {"meeting_id": _call_id},
    "deny": {"meeting_id": _call_id, "user": _username},
    "remove_participant": {"meeting_id": _call_id, "user": _username},
    "lock_meeting": {"meeting_id": _call_id, "locked": _bool},
    "transfer_host": {"meeting_id": _call_id, "user": _username},
    "end_meeting": {"meeting_id": _call_id},
    "mute_request": {"meeting_id": _call_id, "to": _username},
    "screen_share": {"meeting_id": _call_id, "sharing": _bool},
    # in-call messages to everyone else in the call or meeting (signaling.handlers.room_messages)
    "chat": {"call_id": _call_id, "text": _chat_text},
    "media_state": {"call_id": _call_id, "audio": _bool, "video": _bool},
    "hand": {"meeting_id": _call_id, "raised": _bool},
    "reaction": {"meeting_id": _call_id, "emoji": _emoji},
}
# Fields a type may carry but need not.
OPTIONAL_FIELDS: dict[str, dict[str, Check]] = {
    "join_meeting": {"invite": _token},
    "admit": {"user": _username},
    "hand": {"user": _username},  # the host lowering someone else's hand
    "media_state": {"screen": _bool},  # sharing a screen in a call (meetings: screen_share)
}


_SCHEMA_ITEMS = {kind: tuple(schema.items()) for kind, schema in CLIENT_SCHEMAS.items()}
# parse()'s shortcut for relayed negotiation: the payload check of each relay type (its
# `call_id` and `to` are checked inline as `_call_id` and `_username` do).
_RELAY_PAYLOAD_CHECKS = {kind: CLIENT_SCHEMAS[kind]["payload"] for kind in RELAY_TYPES}
assert all(
    tuple(CLIENT_SCHEMAS[kind]) == ("call_id", "to", "payload") and kind not in OPTIONAL_FIELDS
    for kind in RELAY_TYPES
), "parse()'s relay shortcut builds ClientMessage(type, id, call_id, to, payload)"
_MISSING = object()


def _schema_of(kind: str, raw: dict[str, Any]) -> dict[str, Check] | None:
    """The required fields of `kind`; negotiation inside a meeting names `meeting_id`
    where a call names `call_id`."""
    schema = CLIENT_SCHEMAS.get(kind)
    if schema is not None and kind in SCOPED_TYPES and "call_id" not in raw and "meeting_id" in raw:
        schema = {
            ("meeting_id" if name == "call_id" else name): check for name, check in schema.items()
        }
    return schema


def _message_id(raw: dict[str, Any]) -> str | int | None:
    value = raw.get("id")
    if value is None:
        return None
    if isinstance(value, str) and len(value) <= MAX_ID_LENGTH and _plain(value):
        return value
    if _is_int(value) and abs(value) <= MAX_SAFE_INTEGER:
        return value
    raise MessageError(INVALID_MESSAGE, "'id' must be a short string or an integer")


def decode(text: str | bytes) -> dict[str, Any]:
    """The JSON object in a frame; MessageError `invalid_json` for anything else."""
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise MessageError(INVALID_JSON, "The frame is not valid JSON.") from None
    if not isinstance(raw, dict):
        raise MessageError(INVALID_JSON, "A message must be a JSON object.")
    return raw


def parse(text: str | bytes) -> ClientMessage:
    """Validate one client frame. Raises MessageError carrying the code, `ref` and `call_id`."""
    raw = decode(text)
    ref = _message_id(raw)
    kind = raw.get("type")
    if not isinstance(kind, str):
        raise MessageError(INVALID_MESSAGE, "'type' must be a string.", ref=ref)
    if kind in _RELAY_PAYLOAD_CHECKS and "call_id" in raw:
        # An offer, answer or candidate in a call: every relayed message. The same checks as
        # the schema loop below, without its per-field calls; anything they refuse goes
        # through that loop, which says what is wrong.
        call_id, to, payload = raw["call_id"], raw.get("to"), raw.get("payload", _MISSING)
        if (
            type(call_id) is int
            and 1 <= call_id <= 2**31 - 1
            and type(to) is str
            and 1 <= len(to) <= 64
            and _CONTROL.search(to) is None
            and payload is not _MISSING
            and _RELAY_PAYLOAD_CHECKS[kind](payload) is None
        ):
            return ClientMessage(kind, ref, call_id, to, payload)
    schema = _SCHEMA_ITEMS.get(kind)
    if schema is not None and kind in SCOPED_TYPES and "call_id" not in raw and "meeting_id" in raw:
        schema = tuple(_schema_of(kind, raw).items())  # type: ignore[union-attr]
    if schema is None:
        raise MessageError(UNKNOWN_TYPE, f"Unknown message type {kind[:32]!r}.", ref=ref)
    fields = {}
    for name, check in schema:
        value = raw.get(name, _MISSING)
        problem = "is required" if value is _MISSING else check(value)
        if problem is not None:
            code = getattr(problem, "code", INVALID_MESSAGE)
            call_id = raw.get("call_id") if _call_id(raw.get("call_id")) is None else None
            raise MessageError(code, f"'{name}' {problem}.", ref=ref, call_id=call_id)
        fields[name] = value
    optional = OPTIONAL_FIELDS.get(kind)
    if optional is not None:
        for name, check in optional.items():
            if raw.get(name) is not None:
                problem = check(raw[name])
                if problem is not None:
                    call_id = raw.get("call_id") if _call_id(raw.get("call_id")) is None else None
                    raise MessageError(
                        INVALID_MESSAGE, f"'{name}' {problem}.", ref=ref, call_id=call_id
                    )
                fields[name] = raw[name]
    return ClientMessage(kind, ref, **fields)


def server_message(kind: str, *, ref: Any = None, **fields: Any) -> dict[str, Any]:
    """A server message; `ref` (the client's `id`) only when there is one."""
    message: dict[str, Any] = {"type": kind}
    if ref is not None:
        message["ref"] = ref
    message.update(fields)
    return message


def error_message(
    code: str, text: str, *, ref: Any = None, call_id: int | None = None
) -> dict[str, Any]:
    extra = {"call_id": call_id} if call_id is not None else {}
    metrics.ERRORS.inc(code)  # every error reply is built here
    return server_message("error", ref=ref, **extra, code=code, message=text)


def encode(message: dict[str, Any]) -> bytes:
    """UTF-8 JSON for a text frame."""
    return orjson.dumps(message)


# What each server message must carry (name -> accepted Python types), for the doc test and
# the handler tests; a new server message needs a line here and an example in PROTOCOL.md.
_CALL = {"call_id": int, "call": dict}
SERVER_SHAPES: dict[str, dict[str, tuple[type, ...] | type]] = {
    "welcome": {
        "protocol": int,
        "connection_id": str,
        "user": dict,
        "ice_servers": list,
        "heartbeat": dict,
        "calls": list,
    },
    "pong": {},
    "ack": {},
    "error": {"code": str, "message": str},
    "incoming": {**_CALL, "from": str},
    "ringing": _CALL,
    "accepted": {**_CALL, "merged": bool},
    "answered_elsewhere": _CALL,
    "declined": _CALL,
    "cancelled": _CALL,
    "missed": _CALL,
    "busy": _CALL,
    "ended": _CALL,
    "peer_disconnected": {"call_id": int, "user": str, "grace_seconds": (int, float)},
    "peer_reconnected": {"call_id": int, "user": str},
    "presence": {"call_id": int, "user": str, "presence": str},
    "contact_presence": {"user": str, "presence": str},
    # relayed negotiation carries `call_id`, or `meeting_id` inside a meeting (see below)
    "offer": {"from": str, "seq": int, "payload": dict},
    "answer": {"from": str, "seq": int, "payload": dict},
    "candidate": {"from": str, "seq": int, "payload": (dict, type(None))},
    "going_away": {"reason": str},
    # meetings
    "meeting_joined": {"meeting_id": int, "meeting": dict, "participants": list},
    "participant_joined": {"meeting_id": int, "user": str},
    "participant_left": {"meeting_id": int, "user": str, "reason": str},
    "participant_disconnected": {"meeting_id": int, "user": str, "grace_seconds": (int, float)},
    "waiting_room": {"meeting_id": int, "meeting": dict},
    "waiting_list": {"meeting_id": int, "waiting": list},
    "join_denied": {"meeting_id": int},
    "removed": {"meeting_id": int},
    "host_changed": {"meeting_id": int, "host": (str, type(None))},
    "meeting_locked": {"meeting_id": int, "locked": bool},
    "meeting_ended": {"meeting_id": int, "meeting": dict},
    "media_moved": {"meeting_id": int, "meeting": dict},
    "mute_request": {"meeting_id": int, "from": str},
    "screen_share": {
        "meeting_id": int,
        "user": (str, type(None)),
        "taken_from": (str, type(None)),
    },
    # in-call messages, scoped like relayed negotiation (`call_id` or `meeting_id`)
    "chat": {"from": str, "name": str, "text": str, "at": int},
    "media_state": {"from": str, "audio": bool, "video": bool},
    "hand": {"meeting_id": int, "user": str, "raised": bool, "by": str},
    "reaction": {"meeting_id": int, "from": str, "emoji": str},
    "session_revoked": {"reason": str},
}


def _has_type(value: Any, types: tuple[type, ...] | type) -> bool:
    """isinstance, except that a bool is not an int (JSON true is not a number)."""
    wanted = types if isinstance(types, tuple) else (types,)
    if isinstance(value, bool):
        return bool in wanted
    return isinstance(value, wanted)


def check_server_message(message: dict[str, Any]) -> list[str]:
    """Problems with a server message's shape (empty when it is fine)."""
    kind = message.get("type")
    shape = SERVER_SHAPES.get(kind) if isinstance(kind, str) else None
    if shape is None:
        return [f"unknown server message type {kind!r}"]
    problems = []
    for name, types in shape.items():
        if name not in message:
            problems.append(f"{kind}: missing {name!r}")
        elif not _has_type(message[name], types):
            problems.append(f"{kind}: {name!r} has type {type(message[name]).__name__}")
    if kind in SCOPED_TYPES:  # scoped to a call, or to a meeting
        scope = "meeting_id" if "meeting_id" in message and "call_id" not in message else "call_id"
        if scope not in message:
            problems.append(f"{kind}: missing {scope!r}")
        elif not _has_type(message[scope], int):
            problems.append(f"{kind}: {scope!r} has type {type(message[scope]).__name__}")
    return problems
