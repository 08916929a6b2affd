"""A four-party meeting of aiortc peers: every participant receives media from every other."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from signaling.client.media import MediaPeer, rgb_to_yuv
from tests.calling import close_all

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

COLOURS = [(220, 20, 20), (20, 200, 20), (20, 20, 220), (220, 220, 20)]
SIZE = (160, 120)  # 12 peer connections in one test process: keep the encoders cheap


def test_four_party_mesh_every_participant_receives_media_from_every_other(stack, people):
    host, *guests = people("host", "ann", "ben", "cat")
    everyone = [host, *guests]
    colour_of = {p.name: COLOURS[i] for i, p in enumerate(everyone)}
    created = host.api.call("POST", "/meetings", {"name": "Mesh", "max_participants": 4})
    meeting_id, invite = created["meeting"]["id"], created["invite"]
    peers: dict[tuple[str, str], MediaPeer] = {}  # (me, remote) -> my connection to remote

    def peer(me, remote) -> MediaPeer:
        key = (me.name, remote)
        if key not in peers:
            peers[key] = MediaPeer(
                me.sig, None, remote, meeting_id=meeting_id, colour=colour_of[me.name], size=SIZE
            )
        return peers[key]

    async def arrive(newcomer) -> None:
        """Join; offer to everyone already there (they answer)."""
        ack = await newcomer.sig.join_meeting(meeting_id, invite)
        assert ack["type"] == "ack" and ack["state"] == "admitted", ack
        joined = await newcomer.sig.wait_for("meeting_joined", meeting_id=meeting_id)
        present = [p for p in everyone if p.name in joined["participants"]]
        for other in present:
            note = await other.sig.wait_for(
                "participant_joined", meeting_id=meeting_id, user=newcomer.name
            )
            assert note["user"] == newcomer.name
            await peer(other, newcomer.name).answer()
        for other in present:
            await peer(newcomer, other.name).offer()

    async def scenario():
        for person in everyone:
            await person.connect(stack.signaling_url)
        try:
            for person in everyone:
                await arrive(person)
            assert len(peers) == 12, "each of 4 participants holds 3 connections"
            await asyncio.gather(*(p.wait_connected(30) for p in peers.values()))
            await asyncio.gather(*(p.wait_media(15, 15, timeout=40) for p in peers.values()))
            for (me, remote), connection in peers.items():
                expected = rgb_to_yuv(colour_of[remote])
                seen = connection.remote_colour()
                assert all(abs(a - b) <= 14 for a, b in zip(seen, expected, strict=True)), (
                    me,
                    remote,
                    seen,
                )
            shown = host.api.call("GET", f"/meetings/{meeting_id}")
            assert shown["participants"] == [p.name for p in everyone]
        finally:
            await asyncio.gather(*(p.close() for p in peers.values()))
            await close_all(*everyone)

    asyncio.run(scenario())
    assert {(a, b) for a, b in itertools.permutations([p.name for p in everyone], 2)} == set(peers)
