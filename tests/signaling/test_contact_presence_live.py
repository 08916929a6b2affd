"""Recent contacts hear at once when someone comes online or leaves (`contact_presence`)."""

from __future__ import annotations

import asyncio

import pytest

from tests.signaling.test_meetings_live import connect, run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


def talked(caller, callee) -> None:
    """A call from `caller` to `callee` while the callee is offline (recorded at once, as
    missed): they are contacts now."""
    status, body = caller.api.request("POST", "/call/start", {"callee": callee.name})
    assert (status, body["error"]) == (409, "callee_offline"), body


def test_contacts_hear_a_user_come_online_and_go_offline(stack, people):
    alice, bob, carol = people("alice", "bob", "carol")

    async def scenario():
        await connect(stack, alice, carol)
        await asyncio.to_thread(talked, alice, bob)
        await connect(stack, bob)
        online = await alice.sig.wait_for("contact_presence", user=bob.name, timeout=5)
        assert online["presence"] == "online"
        await bob.sig.close()
        offline = await alice.sig.wait_for(
            "contact_presence", user=bob.name, presence="offline", timeout=5
        )
        assert offline["presence"] == "offline"
        # Carol never called bob nor was called by him: she hears nothing about him.
        assert not [m for m in carol.sig.drain() if m.get("type") == "contact_presence"], (
            "carol is not bob's contact"
        )

    run(scenario, alice, bob, carol)


def test_someone_called_after_connecting_is_a_contact_too(stack, people):
    alice, dave = people("alice", "dave")

    async def scenario():
        await connect(stack, alice, dave)  # strangers when they connect
        started = await asyncio.to_thread(
            dave.api.call, "POST", "/call/start", {"callee": alice.name}
        )
        await alice.sig.wait_for("incoming", call_id=started["call"]["id"], timeout=5)
        await asyncio.to_thread(
            dave.api.call, "POST", "/call/end", {"call_id": started["call"]["id"]}
        )
        await dave.sig.close()
        told = await alice.sig.wait_for("contact_presence", user=dave.name, timeout=5)
        assert told["presence"] == "offline"

    run(scenario, alice, dave)


def test_contacts_hear_a_user_start_and_end_a_call(stack, people):
    alice, bob, carol = people("alice", "bob", "carol")

    async def scenario():
        await connect(stack, carol)
        await asyncio.to_thread(talked, carol, bob)  # carol is bob's contact, not alice's
        await connect(stack, alice, bob)
        started = await asyncio.to_thread(
            bob.api.call, "POST", "/call/start", {"callee": alice.name}
        )
        call_id = started["call"]["id"]
        await alice.sig.wait_for("incoming", call_id=call_id, timeout=5)
        await alice.sig.accept(call_id)
        busy = await carol.sig.wait_for(
            "contact_presence", user=bob.name, presence="in_call", timeout=5
        )
        assert busy["presence"] == "in_call"
        await bob.sig.hangup(call_id)
        free = await carol.sig.wait_for(
            "contact_presence", user=bob.name, presence="online", timeout=5
        )
        assert free["presence"] == "online"
        told = [m for m in carol.sig.drain() if m.get("type") == "contact_presence"]
        assert all(m["user"] == bob.name for m in told), "alice is not carol's contact"

    run(scenario, alice, bob, carol)


def test_contacts_hear_a_user_join_and_leave_a_meeting(stack, people):
    bob, carol = people("bob", "carol")
    meeting_id = bob.api.call("POST", "/meetings", {"name": "Busy"})["meeting"]["id"]

    async def scenario():
        await connect(stack, carol)
        await asyncio.to_thread(talked, carol, bob)
        await connect(stack, bob)
        await carol.sig.wait_for("contact_presence", user=bob.name, presence="online", timeout=5)
        await bob.sig.join_meeting(meeting_id)
        await carol.sig.wait_for("contact_presence", user=bob.name, presence="in_call", timeout=5)
        await bob.sig.leave_meeting(meeting_id)
        await carol.sig.wait_for("contact_presence", user=bob.name, presence="online", timeout=5)

    run(scenario, bob, carol)
