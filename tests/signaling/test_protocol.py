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


# -- parse()'s shortcut for offer/answer/candidate must say exactly what the schema loop says
def _outcome(text: str):
    try:
        return ("ok", parse(text))
    except MessageError as exc:
        return ("error", exc.code, exc.message, exc.ref, exc.call_id)


def _relay_frames() -> list[str]:
    frames = []
    call_ids = [1, 2**31 - 1, 2**31, 0, -1, True, 1.0, "1", None, 10**30, {"a": 1}]
    names = ["bob", "b" * 64, "b" * 65, "", "b\x00b", "b\x7f", "b\u0085", "b\u00a0", "é☎😀", 7]
    payloads = [
        SDP,
        {"type": "answer", "sdp": ""},
        {"type": "pranswer", "sdp": "x"},
        {"sdp": 5},
        {"type": "offer"},
        CANDIDATE,
        None,
        {"candidate": "c", "sdpMid": None, "sdpMLineIndex": -1},
        {"candidate": "c", "sdpMLineIndex": True},
        {"sdp": '"payload": } {', "nested": {"payload": [{"}": "\\u0000"}]}},
        [],
        "payload",
    ]
    for kind in ("offer", "answer", "candidate"):
        for call_id in call_ids:
            for to in names:
                frames.append(json.dumps({"type": kind, "call_id": call_id, "to": to}))
                for payload in payloads:
                    message = {"type": kind, "call_id": call_id, "to": to, "payload": payload}
                    frames.append(json.dumps(message))
        frames += [
            # both scopes (call_id wins, as in the schema loop), an id, extra fields
            json.dumps({"type": kind, "call_id": 3, "meeting_id": 4, "to": "bob", "payload": None}),
            json.dumps({"type": kind, "id": "r" * 65, "call_id": 3, "to": "b", "payload": SDP}),
            json.dumps({"type": kind, "id": 2**53, "call_id": 3, "to": "b", "payload": SDP}),
            # duplicate keys: the last one counts, for both paths
            f'{{"type":"{kind}","call_id":3,"to":"b\\u0000","to":"bob","payload":null}}',
            f'{{"type":"{kind}","call_id":3,"to":"bob","to":"","payload":null}}',
            f'{{"type":"{kind}","call_id":3,"to":"bob","payload":null,"payload":{{"sdp":"v"}}}}',
            f'{{"type":"{kind}","call_id":1e3,"to":"bob","payload":null}}',
        ]
    return frames


def test_the_relay_shortcut_accepts_and_refuses_exactly_as_the_schema_loop(monkeypatch):
    from signaling import protocol

    frames = _relay_frames()
    fast = [_outcome(text) for text in frames]
    monkeypatch.setattr(protocol, "_RELAY_PAYLOAD_CHECKS", {})  # every frame takes the loop
    slow = [_outcome(text) for text in frames]
    assert sum(result[0] == "ok" for result in slow) > 50  # both kinds are well represented
    assert sum(result[0] == "error" for result in slow) > 1000
    for text, got, expected in zip(frames, fast, slow, strict=True):
        assert got == expected, text
