"""SFU meetings run through the real processes: gunicorn and the signaling daemon both
talk to Janus (join and moderation over the socket go through the daemon)."""

from __future__ import annotations

import asyncio
import time

import pytest

from signaling.client.sfu import SfuPeer
from tests.calling import close_all, make_person
from tests.conftest import Stack, database_url_for
from tests.janus import ADMIN_KEY

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def janus_node(janus_nodes):
    return janus_nodes()


@pytest.fixture
def stack_env(janus_node) -> dict[str, str]:
    return {"CHIMECAST_JANUS_URLS": janus_node.setting, "CHIMECAST_JANUS_ADMIN_KEY": ADMIN_KEY}


def test_socket_join_gives_the_credential_and_socket_removal_evicts_within_a_second(
    stack, people, janus_node
):
    host, ann = people("host", "ann")
    created = host.api.call("POST", "/meetings", {"name": "Big", "max_participants": 30})
    assert created["meeting"]["media"] == "sfu"  # auto: larger than a mesh
    meeting_id, invite = created["meeting"]["id"], created["invite"]

    async def scenario() -> None:
        await host.connect(stack.signaling_url)
        await ann.connect(stack.signaling_url)
        acks = [await p.sig.join_meeting(meeting_id, invite) for p in (host, ann)]
        assert [a["state"] for a in acks] == ["admitted", "admitted"]
        hosts, anns = (a["meeting"]["sfu"] for a in acks)
        assert hosts["token"] != anns["token"] and hosts["room"] == anns["room"]
        peers = [SfuPeer(hosts, size=(160, 120)), SfuPeer(anns, size=(160, 120))]
        try:
            for peer in peers:
                await peer.publish()
            watching = await peers[1].subscribe(hosts["feed"])
            async with asyncio.timeout(15):
                while watching.received["video"] < 10:
                    await asyncio.sleep(0.05)
            started = time.monotonic()
            ack = await host.sig.request(
                {"type": "remove_participant", "meeting_id": meeting_id, "user": ann.name}
            )
            assert ack["type"] == "ack"
            room = hosts["room"]
            while anns["feed"] in [p["id"] for p in janus_node.admin.participants(room)]:
                assert time.monotonic() - started < 1.0, "ann still in the room after 1 s"
                await asyncio.sleep(0.02)
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
            got = watching.received["video"]
            await asyncio.sleep(1.0)
            assert watching.received["video"] - got <= 1, "ann still receives after 1 s"
            ended = await host.sig.request({"type": "end_meeting", "meeting_id": meeting_id})
            assert ended["type"] == "ack"
            assert room not in [r["room"] for r in janus_node.admin.rooms()]
        finally:
            for peer in peers:
                await peer.close()
            await close_all(host, ann)

    asyncio.run(scenario())


@pytest.fixture
def two_nodes(janus_nodes):
    return janus_nodes(), janus_nodes()


def test_when_a_node_dies_its_meetings_move_and_participants_rejoin_on_another(tmp_path, two_nodes):
    """Run with a stack of its own: two nodes, a room placed on each, one node killed."""
    first, second = two_nodes
    env = {
        "CHIMECAST_ENV": "development",
        "CHIMECAST_ARGON2_TIME_COST": "1",
        "CHIMECAST_ARGON2_MEMORY_KIB": "1024",
        "CHIMECAST_JANUS_URLS": f"{first.setting},{second.setting}",
        "CHIMECAST_JANUS_ADMIN_KEY": ADMIN_KEY,
        "CHIMECAST_JANUS_HEALTH_INTERVAL": "0.5",
    }
    with Stack(database_url_for(tmp_path), extra_env=env, log_dir=tmp_path / "logs") as stack:
        host, ann = make_person(stack, "host"), make_person(stack, "ann")
        made = [host.api.call("POST", "/meetings", {"media": "sfu"}) for _ in range(2)]
        meeting_id, invite = made[0]["meeting"]["id"], made[0]["invite"]

        async def scenario() -> None:
            await host.connect(stack.signaling_url)
            await ann.connect(stack.signaling_url)
            acks = [await p.sig.join_meeting(meeting_id, invite) for p in (host, ann)]
            before = acks[0]["meeting"]["sfu"]
            assert before["server"] == first.api  # the first meeting went to the first node
            # One room on each node.
            assert len(first.admin.rooms()) == 1 and len(second.admin.rooms()) == 1
            first.kill()
            started = time.monotonic()
            moved = await ann.sig.wait_for("media_moved", meeting_id=meeting_id, timeout=10)
            await host.sig.wait_for("media_moved", meeting_id=meeting_id, timeout=5)
            assert time.monotonic() - started < 5, "noticed within a few health intervals"
            assert moved["meeting"]["media"] == "sfu"
            fresh = [p.api.call("GET", f"/meetings/{meeting_id}")["sfu"] for p in (host, ann)]
            assert all(c["server"] == second.api for c in fresh), fresh
            assert fresh[1]["token"] != acks[1]["meeting"]["sfu"]["token"]
            assert fresh[0]["room"] in [r["room"] for r in second.admin.rooms()]
            peers = [SfuPeer(c, size=(160, 120)) for c in fresh]
            try:
                for peer in peers:
                    await peer.publish()
                watching = await peers[1].subscribe(fresh[0]["feed"])
                async with asyncio.timeout(15):
                    while watching.received["video"] < 10:
                        await asyncio.sleep(0.05)
            finally:
                for peer in peers:
                    await peer.close()
                await close_all(host, ann)
            # A new meeting goes to the live node only.
            again = host.api.call("POST", "/meetings", {"media": "sfu"})
            assert host.api.call("GET", f"/meetings/{again['meeting']['id']}")["media"] == "sfu"

        asyncio.run(scenario())
