"""Eight aiortc participants in one SFU meeting: each receives all seven others, each
with its own colour (56 subscriptions through one real Janus)."""

from __future__ import annotations

import asyncio

import pytest

from signaling.client.media import rgb_to_yuv
from signaling.client.sfu import SfuPeer
from tests.app.helpers import create, join

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

COLOURS = [
    (220, 20, 20), (20, 200, 20), (20, 20, 220), (220, 220, 20),
    (220, 20, 220), (20, 220, 220), (240, 240, 240), (120, 60, 20),
]  # fmt: skip
SIZE = (64, 48)  # 8 encoders and 56 decoders in one test process: keep each cheap


def _close(colour, expected) -> bool:
    if colour is None:
        return False
    return all(abs(a - b) <= 14 for a, b in zip(colour, expected, strict=True))


def test_eight_participants_each_receive_the_seven_others_with_their_colour(
    sfu_app, janus_nodes, users
):
    app = sfu_app(janus_nodes())
    client = app.test_client()
    names = [f"person{i}" for i in range(8)]
    headers = dict(zip(names, users(app, *names), strict=True))
    meeting_id, invite = create(client, headers["person0"], max_participants=20)
    credentials = {
        name: join(client, headers[name], meeting_id, invite).json["meeting"]["sfu"]
        for name in names
    }
    feeds = client.get(f"/meetings/{meeting_id}", headers=headers["person0"]).json["sfu"]["feeds"]
    colour_of = dict(zip(names, COLOURS, strict=True))

    async def run() -> None:
        peers = {n: SfuPeer(credentials[n], colour_of[n], SIZE) for n in names}
        try:
            await asyncio.gather(*(peer.publish() for peer in peers.values()))
            for name, peer in peers.items():
                for other in names:
                    if other != name:
                        await peer.subscribe(feeds[other])
            async with asyncio.timeout(60):
                while True:
                    missing = [
                        (name, other)
                        for name, peer in peers.items()
                        for other in names
                        if other != name
                        and not (
                            peer.subscriptions[feeds[other]].received["video"] >= 10
                            and peer.subscriptions[feeds[other]].received["audio"] >= 10
                            and _close(
                                peer.subscriptions[feeds[other]].remote_colour(),
                                rgb_to_yuv(colour_of[other]),
                            )
                        )
                    ]
                    if not missing:
                        return
                    await asyncio.sleep(0.25)
        finally:
            await asyncio.gather(*(peer.close() for peer in peers.values()))

    asyncio.run(run())
