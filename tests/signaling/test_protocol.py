"""The client message parser: what it accepts, and the error code for everything it refuses."""

from __future__ import annotations

import json

import pytest

from signaling.errors import MessageError
from signaling.protocol import check_server_message, error_message, parse, server_message

SDP = {"type": "offer", "sdp": "v=0\r\n"}
CANDIDATE = {"candidate": "candidate:1 1 UDP 1 192.0.2.1 5000 typ host", "sdpMid": "0"}

VALID = [
    {"type": "hello", "token": "ccs_abc"},
    {"type": "hello", "token": "ccs_abc", "id": "h1", "extra": "ignored"},
    {"type": "ping"},
    {"type": "ping", "id": 2**53 - 1},
    {"type": "accept", "call_id": 1},
    {"type": "decline", "call_id": 42},
    {"type": "hangup", "call_id": 42, "id": "x"},
    {"type": "stats", "call_id": 1, "payload": {"path": "direct"}},
    {"type": "stats", "call_id": 1, "payload": {"path": "relayed", "rtt_ms": 0}},
    {"type": "offer", "call_id": 1, "to": "bob", "payload": SDP},
    {"type": "offer", "call_id": 1, "to": "bob", "payload": {"sdp": "v=0"}},
    {"type": "answer", "call_id": 1, "to": "bob", "payload": {"type": "answer", "sdp": ""}},
    {"type": "answer", "call_id": 1, "to": "bob", "payload": {"type": "pranswer", "sdp": ""}},
    {"type": "candidate", "call_id": 1, "to": "bob", "payload": CANDIDATE},
    {"type": "candidate", "call_id": 1, "to": "bob", "payload": None},
    {
        "type": "candidate",
        "call_id": 1,
        "to": "bob",
        "payload": {"candidate": "", "sdpMLineIndex": 0},
    },
]


@pytest.mark.parametrize("raw", VALID, ids=lambda raw: raw["type"])
def test_valid_messages_parse(raw):
    parsed = parse(json.dumps(raw))
    assert parsed.type == raw["type"]
    assert parsed.id == raw.get("id")
    assert parsed.call_id == raw.get("call_id")


def test_parse_keeps_the_payload_and_drops_a_client_supplied_from():
    parsed = parse(
        json.dumps({"type": "offer", "call_id": 3, "to": "bob", "payload": SDP, "from": "eve"})
    )
    assert (parsed.to, parsed.payload) == ("bob", SDP)
    assert not hasattr(parsed, "from_")


def test_media_state_screen_is_optional_and_kept_when_given():
    base = {"type": "media_state", "call_id": 4, "audio": True, "video": False}
    assert parse(json.dumps(base)).screen is None
    assert parse(json.dumps({**base, "screen": True})).screen is True
    assert parse(json.dumps({**base, "screen": False})).screen is False


INVALID = [
    # (frame, error code, ref, call_id)
    ("not json", "invalid_json", None, None),
    ("[1, 2]", "invalid_json", None, None),
    ('"hello"', "invalid_json", None, None),
    ("{}", "invalid_message", None, None),
    ('{"type": 5}', "invalid_message", None, None),
    ('{"type": "welcome", "id": "w"}', "unknown_type", "w", None),
    ('{"type": "offer!"}', "unknown_type", None, None),
    ('{"type": "ping", "id": true}', "invalid_message", None, None),
    ('{"type": "ping", "id": {"a": 1}}', "invalid_message", None, None),
    ('{"type": "ping", "id": "' + "x" * 65 + '"}', "invalid_message", None, None),
    ('{"type": "ping", "id": 9007199254740992}', "invalid_message", None, None),
    ('{"type": "hello", "id": 1}', "invalid_message", 1, None),
    ('{"type": "hello", "token": 123}', "invalid_message", None, None),
    ('{"type": "hello", "token": ""}', "invalid_message", None, None),
    # no control characters in names, tokens or ids (a NUL is text PostgreSQL refuses)
    ('{"type": "hello", "token": "cct_a\\u0000b"}', "invalid_message", None, None),
    ('{"type": "ping", "id": "a\\u0000"}', "invalid_message", None, None),
    (
        '{"type": "join_meeting", "meeting_id": 3, "invite": "cci_\\u0000"}',
        "invalid_message",
        None,
        None,
    ),
    ('{"type": "deny", "meeting_id": 3, "user": "bob\\u0000"}', "invalid_message", None, None),
    (
        '{"type": "transfer_host", "meeting_id": 3, "user": "bo\\u0085b"}',
        "invalid_message",
        None,
        None,
    ),
    (
        '{"type": "offer", "call_id": 4, "to": "bob\\u001b", "payload": {"type": "offer", "sdp": ""}}',
        "invalid_message",
        None,
        4,
    ),
    ('{"type": "accept", "id": "a"}', "invalid_message", "a", None),
    ('{"type": "accept", "call_id": "42"}', "invalid_message", None, None),
    ('{"type": "accept", "call_id": 0}', "invalid_message", None, None),
    ('{"type": "accept", "call_id": true}', "invalid_message", None, None),
    ('{"type": "accept", "call_id": 1.5}', "invalid_message", None, None),
    ('{"type": "stats", "call_id": 4, "payload": {"path": "p2p"}}', "invalid_message", None, 4),
    (
        '{"type": "stats", "call_id": 4, "payload": {"path": "direct", "rtt_ms": -1}}',
        "invalid_message",
        None,
        4,
    ),
    (
        '{"type": "stats", "call_id": 4, "payload": {"path": "direct", "rtt_ms": "3"}}',
        "invalid_message",
        None,
        4,
    ),
    ('{"type": "offer", "call_id": 4, "payload": {"sdp": ""}}', "invalid_message", None, 4),
    (
        '{"type": "offer", "call_id": 4, "to": "", "payload": {"sdp": ""}}',
        "invalid_message",
        None,
        4,
    ),
    ('{"type": "offer", "call_id": 4, "to": "bob"}', "invalid_message", None, 4),
    ('{"type": "offer", "call_id": 4, "to": "bob", "payload": "v=0"}', "invalid_message", None, 4),
    (
        '{"type": "offer", "call_id": 4, "to": "bob", "payload": {"sdp": 1}}',
        "invalid_message",
        None,
        4,
    ),
    (
        '{"type": "offer", "call_id": 4, "to": "bob", "payload": {"type": "answer", "sdp": ""}}',
        "invalid_message",
        None,
        4,
    ),
    (
        '{"type": "answer", "call_id": 4, "to": "bob", "payload": {"type": "offer", "sdp": ""}}',
        "invalid_message",
        None,
        4,
    ),
    ('{"type": "candidate", "call_id": 4, "to": "bob"}', "invalid_message", None, 4),
    ('{"type": "candidate", "call_id": 4, "to": "bob", "payload": {}}', "invalid_message", None, 4),
    (
        '{"type": "candidate", "call_id": 4, "to": "bob", "payload": {"candidate": "c", "sdpMLineIndex": -1}}',
        "invalid_message",
        None,
        4,
    ),
    (
        '{"type": "candidate", "call_id": 4, "to": "bob", "payload": {"candidate": "c", "sdpMid": 0}}',
        "invalid_message",
        None,
        4,
    ),
    # media_state's optional `screen` is a boolean, never a truthy stand-in
    (
        '{"type": "media_state", "call_id": 4, "audio": true, "video": true, "screen": "yes"}',
        "invalid_message",
        None,
        4,
    ),
    (
        '{"type": "media_state", "call_id": 4, "audio": true, "video": true, "screen": 1}',
        "invalid_message",
        None,
        4,
    ),
]


@pytest.mark.parametrize(("frame", "code", "ref", "call_id"), INVALID, ids=[f for f, *_ in INVALID])
def test_invalid_messages_get_a_stable_code_with_ref_and_call_id(frame, code, ref, call_id):
    with pytest.raises(MessageError) as caught:
        parse(frame)
    assert (caught.value.code, caught.value.ref, caught.value.call_id) == (code, ref, call_id)


def test_error_message_has_the_documented_shape():
    error = error_message("not_a_participant", "No.", ref=7, call_id=42)
    assert error == {
        "type": "error",
        "ref": 7,
        "call_id": 42,
        "code": "not_a_participant",
        "message": "No.",
    }
    assert check_server_message(error) == []
    assert "ref" not in error_message("invalid_json", "No.")


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ({"type": "nope"}, "unknown server message type"),
        ({"type": "pong", "extra": 1}, None),
        ({"type": "ringing", "call_id": 1}, "missing 'call'"),
        ({"type": "accepted", "call_id": 1, "call": {}, "merged": 1}, "'merged' has type int"),
        (
            {"type": "offer", "call_id": True, "from": "a", "seq": 1, "payload": {}},
            "'call_id' has type bool",
        ),
        ({"type": "candidate", "call_id": 1, "from": "a", "seq": 1, "payload": None}, None),
    ],
)
def test_server_shape_check(message, problem):
    problems = check_server_message(message)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


def test_server_message_omits_ref_when_absent():
    assert server_message("pong") == {"type": "pong"}
    assert server_message("pong", ref=0) == {"type": "pong", "ref": 0}
