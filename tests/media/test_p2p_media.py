"""Two aiortc peers call each other through real gunicorn + the real signaling daemon."""

from __future__ import annotations

import asyncio
import signal

import pytest

from signaling.client.media import rgb_to_yuv
from tests.calling import media_pair, online, ring_and_answer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


def assert_sees(peer, rgb):
    """The peer's last received frame has the sender's colour (within codec noise)."""
    expected = rgb_to_yuv(rgb)
    seen = peer.remote_colour()
    assert seen is not None
    assert all(abs(a - b) <= 12 for a, b in zip(seen, expected, strict=True)), (seen, expected)


@pytest.mark.parametrize("trickle", [False, True], ids=["full_sdp", "trickled_candidates"])
def test_connect_audio_video_bidirectional(stack, people, trickle):
    alice, bob = people("alice", "bob")

    async def scenario():
        async with online(stack.signaling_url, alice, bob):
            call_id = await ring_and_answer(alice, bob)
            async with media_pair(alice, bob, call_id, trickle=trickle) as (a, b):
                await a.wait_connected()
                await b.wait_connected()
                before = (dict(a.received), dict(b.received))
                await asyncio.gather(a.wait_media(30, 30), b.wait_media(30, 30))
                assert a.received["video"] > before[0]["video"]
                assert b.received["audio"] > before[1]["audio"]
                assert_sees(a, (20, 20, 220))  # alice sees bob's blue camera
                assert_sees(b, (220, 20, 20))  # bob sees alice's red camera
                if trickle:
                    assert a.remote_candidates > 0 and b.remote_candidates > 0

    asyncio.run(scenario())


def test_http_end_tears_down_both_sides_and_records_duration(stack, people):
    alice, bob = people("alice", "bob")

    async def scenario():
        async with online(stack.signaling_url, alice, bob):
            call_id = await ring_and_answer(alice, bob)
            async with media_pair(alice, bob, call_id) as (a, b):
                await a.wait_connected()
                await asyncio.gather(a.wait_media(20, 20), b.wait_media(20, 20))
                ended = await asyncio.to_thread(alice.api.end_call, call_id)
                for person in (alice, bob):
                    event = await person.sig.wait_for("ended", call_id=call_id, timeout=5)
                    assert event["call"]["end_reason"] == "hangup"
            record = bob.api.get_call(call_id)
            assert record["state"] == "ended" and record["end_reason"] == "hangup"
            assert record["ended_by"] == alice.name
            assert record["duration_seconds"] > 0
            assert record["duration_seconds"] == ended["duration_seconds"]

    asyncio.run(scenario())


def test_outsider_cannot_inject_and_spoofed_sender_is_ignored(stack, people):
    alice, bob, mallory = people("alice", "bob", "mallory")

    async def scenario():
        async with online(stack.signaling_url, alice, bob, mallory):
            call_id = await ring_and_answer(alice, bob)
            fake_offer = {"type": "offer", "sdp": "v=0\r\n"}
            for kind, payload in (("offer", fake_offer), ("candidate", None)):
                reply = await mallory.sig.request(
                    {"type": kind, "call_id": call_id, "to": bob.name, "payload": payload}
                )
                assert reply["type"] == "error" and reply["code"] == "not_a_participant", reply
            await alice.sig.send(
                {"type": "candidate", "call_id": call_id, "to": bob.name, "from": mallory.name,
                 "payload": None}
            )  # fmt: skip
            relayed = await bob.sig.wait_for("candidate", call_id=call_id, timeout=5)
            assert relayed["from"] == alice.name
            await asyncio.sleep(0.3)
            leftovers = [m for m in bob.sig.drain() if m.get("type") in ("offer", "candidate")]
            assert leftovers == [], "an outsider's message reached bob"

    asyncio.run(scenario())


def test_glare_merges_into_one_call_and_media_flows(stack, people):
    alice, bob = people("alice", "bob")

    async def scenario():
        async with online(stack.signaling_url, alice, bob):
            first = await asyncio.to_thread(alice.api.start_call, bob.name)
            status, merged = await asyncio.to_thread(
                bob.api.request, "POST", "/call/start", {"callee": alice.name}
            )
            assert status == 200 and merged["outcome"] == "merged"
            assert merged["call"]["id"] == first["id"] and merged["call"]["state"] == "active"
            for person in (alice, bob):
                event = await person.sig.wait_for("accepted", call_id=first["id"], timeout=5)
                assert event["merged"] is True
            # the recorded caller (alice) offers
            async with media_pair(alice, bob, first["id"]) as (a, b):
                await a.wait_connected()
                await asyncio.gather(a.wait_media(10, 10), b.wait_media(10, 10))

    asyncio.run(scenario())


def test_media_survives_daemon_sigkill_and_clients_hang_up_after_restart(stack, people):
    alice, bob = people("alice", "bob")

    async def scenario():
        async with online(stack.signaling_url, alice, bob):
            call_id = await ring_and_answer(alice, bob)
            async with media_pair(alice, bob, call_id) as (a, b):
                await a.wait_connected()
                await asyncio.gather(a.wait_media(10, 10), b.wait_media(10, 10))
                stack.processes["signaling"].send_signal(signal.SIGKILL)
                stack.processes["signaling"].wait(5)
                await alice.sig.wait_closed(5)
                counts = dict(a.received), dict(b.received)
                await asyncio.sleep(1.5)  # no signaling server at all now
                assert a.received["video"] > counts[0]["video"] + 10, (
                    "media stopped with the daemon"
                )
                assert b.received["audio"] > counts[1]["audio"] + 10
                await asyncio.to_thread(stack.start_signaling, 0)
                welcomes = [(await p.connect(stack.signaling_url)).welcome for p in (alice, bob)]
                for welcome in welcomes:
                    assert [c["call_id"] for c in welcome["calls"]] == [call_id]
                ack = await bob.sig.hangup(call_id)
                assert ack["type"] == "ack" and ack["call"]["state"] == "ended"
                event = await alice.sig.wait_for("ended", call_id=call_id, timeout=5)
                assert event["call"]["end_reason"] == "hangup"

    asyncio.run(scenario())
