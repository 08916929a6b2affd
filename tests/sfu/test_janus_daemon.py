"""SFU meetings run through the real processes: gunicorn and the signaling daemon both
talk to Janus (join and moderation over the socket go through the daemon)."""

from __future__ import annotations

import asyncio
import time

import pytest

from signaling.client.sfu import SfuPeer
from tests.calling import close_all
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
