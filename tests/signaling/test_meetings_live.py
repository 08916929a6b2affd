"""Meetings over the real daemon: waiting room, moderation, host handover, and who may signal."""

from __future__ import annotations

import asyncio

import pytest

from tests.calling import close_all

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

OFFER = {"type": "offer", "sdp": "v=0\r\n"}


def create(host, **options) -> tuple[int, str]:
    created = host.api.call("POST", "/meetings", {"name": "Room", **options})
    return created["meeting"]["id"], created["invite"]


async def connect(stack, *people) -> None:
    for person in people:
        await person.connect(stack.signaling_url)


def run(coro_fn, *people):
    async def wrapper():
        try:
            await coro_fn()
        finally:
            await close_all(*people)

    asyncio.run(wrapper())


def test_waiting_room_host_sees_the_list_live_admits_one_and_denies_another(stack, people):
    host, ann, eve = people("host", "ann", "eve")
    meeting_id, invite = create(host, waiting_room=True)

    async def scenario():
        await connect(stack, host, ann, eve)
        early = await ann.sig.join_meeting(meeting_id, invite)
        assert early["state"] == "waiting", "arriving before the host is no bypass"
        await ann.sig.wait_for("waiting_room", meeting_id=meeting_id)
        assert (await host.sig.join_meeting(meeting_id))["state"] == "admitted"
        await eve.sig.join_meeting(meeting_id, invite)
        listed = await host.sig.wait_for(
            "waiting_list", meeting_id=meeting_id, waiting=[ann.name, eve.name]
        )
        assert listed["waiting"] == [ann.name, eve.name]
        admitted = await host.sig.request(
            {"type": "admit", "meeting_id": meeting_id, "user": ann.name}
        )
        assert admitted["type"] == "ack"
        joined = await ann.sig.wait_for("meeting_joined", meeting_id=meeting_id)
        assert joined["participants"] == [host.name], "ann offers to the host"
        await host.sig.wait_for("participant_joined", meeting_id=meeting_id, user=ann.name)
        denied = await host.sig.request(
            {"type": "deny", "meeting_id": meeting_id, "user": eve.name}
        )
        assert denied["type"] == "ack"
        await eve.sig.wait_for("join_denied", meeting_id=meeting_id)
        await host.sig.wait_for("waiting_list", meeting_id=meeting_id, waiting=[])
        not_host = await ann.sig.request({"type": "admit", "meeting_id": meeting_id})
        assert not_host["type"] == "error" and not_host["code"] == "not_host"

    run(scenario, host, ann, eve)


def test_denied_three_times_cannot_ask_again(stack, people):
    host, pest = people("host", "pest")
    meeting_id, invite = create(host, waiting_room=True)

    async def scenario():
        await connect(stack, host, pest)
        await host.sig.join_meeting(meeting_id)
        for _ in range(3):
            assert (await pest.sig.join_meeting(meeting_id, invite))["state"] == "waiting"
            await host.sig.request({"type": "deny", "meeting_id": meeting_id, "user": pest.name})
            await pest.sig.wait_for("join_denied", meeting_id=meeting_id)
        refused = await pest.sig.join_meeting(meeting_id, invite)
        assert refused["type"] == "error" and refused["code"] == "join_denied"

    run(scenario, host, pest)


def test_removed_participant_is_told_others_see_them_leave_and_they_cannot_return(stack, people):
    host, ann, ben = people("host", "ann", "ben")
    meeting_id, invite = create(host)

    async def scenario():
        await connect(stack, host, ann, ben)
        for person in (host, ann, ben):
            assert (await person.sig.join_meeting(meeting_id, invite))["state"] == "admitted"
        ack = await host.sig.request(
            {"type": "remove_participant", "meeting_id": meeting_id, "user": ben.name}
        )
        assert ack["type"] == "ack"
        await ben.sig.wait_for("removed", meeting_id=meeting_id)
        left = await ann.sig.wait_for("participant_left", meeting_id=meeting_id, user=ben.name)
        assert left["reason"] == "removed"
        again = await ben.sig.join_meeting(meeting_id, invite)
        assert again["type"] == "error" and again["code"] == "removed"
        reply = await ben.sig.request(
            {"type": "offer", "meeting_id": meeting_id, "to": ann.name, "payload": OFFER}
        )
        assert reply["type"] == "error" and reply["code"] == "not_a_participant"

    run(scenario, host, ann, ben)


def test_host_hands_over_and_the_role_passes_on_when_the_host_leaves(stack, people):
    host, ann, ben = people("host", "ann", "ben")
    meeting_id, invite = create(host)

    async def scenario():
        await connect(stack, host, ann, ben)
        for person in (host, ann, ben):
            await person.sig.join_meeting(meeting_id, invite)
        await host.sig.request(
            {"type": "transfer_host", "meeting_id": meeting_id, "user": ann.name}
        )
        for person in (host, ann, ben):
            changed = await person.sig.wait_for("host_changed", meeting_id=meeting_id)
            assert changed["host"] == ann.name
        await ann.sig.leave_meeting(meeting_id)
        passed = await ben.sig.wait_for("host_changed", meeting_id=meeting_id, host=host.name)
        assert passed["host"] == host.name, "the longest-present participant takes over"
        locked = await host.sig.request(
            {"type": "lock_meeting", "meeting_id": meeting_id, "locked": True}
        )
        assert locked["type"] == "ack"
        await ben.sig.wait_for("meeting_locked", meeting_id=meeting_id, locked=True)
        ended = await host.sig.request({"type": "end_meeting", "meeting_id": meeting_id})
        assert ended["meeting"]["state"] == "ended"
        await ben.sig.wait_for("meeting_ended", meeting_id=meeting_id)

    run(scenario, host, ann, ben)


def test_non_participant_cannot_signal_into_a_meeting_and_mute_requests_reach_only_the_target(
    stack, people
):
    host, ann, mallory = people("host", "ann", "mallory")
    meeting_id, invite = create(host)

    async def scenario():
        await connect(stack, host, ann, mallory)
        await host.sig.join_meeting(meeting_id)
        await ann.sig.join_meeting(meeting_id, invite)
        for kind, payload in (("offer", OFFER), ("candidate", None)):
            reply = await mallory.sig.request(
                {"type": kind, "meeting_id": meeting_id, "to": ann.name, "payload": payload}
            )
            assert reply["type"] == "error" and reply["code"] == "not_a_participant"
        sneak = await mallory.sig.join_meeting(meeting_id, "cci_guessed")
        assert sneak["type"] == "error" and sneak["code"] == "meeting_not_found"
        await ann.sig.send(
            {
                "type": "offer",
                "meeting_id": meeting_id,
                "to": host.name,
                "from": mallory.name,
                "payload": OFFER,
            }
        )
        relayed = await host.sig.wait_for("offer", meeting_id=meeting_id)
        assert relayed["from"] == ann.name, "the server stamps the sender"
        refused = await ann.sig.request(
            {"type": "mute_request", "meeting_id": meeting_id, "to": host.name}
        )
        assert refused["type"] == "error" and refused["code"] == "not_host"
        ok = await host.sig.request(
            {"type": "mute_request", "meeting_id": meeting_id, "to": ann.name}
        )
        assert ok["type"] == "ack"
        asked = await ann.sig.wait_for("mute_request", meeting_id=meeting_id)
        assert asked["from"] == host.name
        await asyncio.sleep(0.3)
        assert not [m for m in mallory.sig.drain() if m.get("meeting_id") == meeting_id]

    run(scenario, host, ann, mallory)


def test_room_full_when_the_cap_is_reached(stack, people):
    host, ann, ben = people("host", "ann", "ben")
    meeting_id, invite = create(host, max_participants=2)

    async def scenario():
        await connect(stack, host, ann, ben)
        await host.sig.join_meeting(meeting_id)
        await ann.sig.join_meeting(meeting_id, invite)
        full = await ben.sig.join_meeting(meeting_id, invite)
        assert full["type"] == "error" and full["code"] == "room_full"

    run(scenario, host, ann, ben)
