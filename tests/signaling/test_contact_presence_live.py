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
