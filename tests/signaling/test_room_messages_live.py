"""Chat and media state through the real web app and daemon: stamped, authorized, bounded."""

from __future__ import annotations

import pytest

from tests.signaling.test_live_calls import assert_nothing_more, ring_and_answer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


def test_chat_and_media_state_reach_the_peer_stamped_and_outsiders_are_refused(live):
    alice, bob, carol = live.person("alice"), live.person("bob"), live.person("carol")
    call_id, a, b = ring_and_answer(live, alice, bob)
    c = live.connect(carol)

    text = "see https://example.com/<b>x</b> ünïcode"
    a.send({"type": "chat", "call_id": call_id, "text": text, "from": "mallory", "id": "m1"})
    ack = a.expect("ack", ref="m1")
    chat = b.expect("chat", call_id=call_id)
    assert (chat["from"], chat["text"], chat["at"]) == (alice.name, text, ack["at"])

    b.send({"type": "media_state", "call_id": call_id, "audio": False, "video": False})
    state = a.expect("media_state", call_id=call_id)
    assert (state["from"], state["audio"], state["video"]) == (bob.name, False, False)
    # Sharing a screen (issue 19 §2): `screen` says so to the peer's socket.
    b.send(
        {"type": "media_state", "call_id": call_id, "audio": True, "video": True, "screen": True}
    )
    state = a.expect("media_state", call_id=call_id)
    assert (state["from"], state["video"], state["screen"]) == (bob.name, True, True)
    b.send({"type": "media_state", "call_id": call_id, "audio": True, "video": True, "screen": 1})
    assert b.expect("error", call_id=call_id)["code"] == "invalid_message"

    c.send({"type": "chat", "call_id": call_id, "text": "let me in", "id": "x"})
    assert c.expect("error", ref="x")["code"] == "not_a_participant"
    a.send({"type": "chat", "call_id": call_id, "text": "y" * 1001, "id": "long"})
    assert a.expect("error", ref="long")["code"] == "text_too_long"
    a.send({"type": "chat", "call_id": call_id, "text": "nul\u0000", "id": "nul"})
    assert a.expect("error", ref="nul")["code"] == "invalid_message"
    assert_nothing_more(b, "chat")
