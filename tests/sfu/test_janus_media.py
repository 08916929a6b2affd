"""Media through a real Janus: admitted participants publish and receive each other with
their colour identity; a stranger's subscription is refused; a removed participant stops
receiving within a second."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.janus.client import JanusError
from signaling.client.media import rgb_to_yuv
from signaling.client.sfu import SfuPeer
from tests.app.helpers import act, create, join

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

COLOURS = {"host": (220, 20, 20), "ann": (20, 200, 20), "ben": (20, 20, 220)}
SIZE = (160, 120)


def _close(colour, expected) -> bool:
    return colour is not None and all(
        abs(a - b) <= 12 for a, b in zip(colour, expected, strict=True)
    )


async def _until(condition, timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


def _meeting_with(sfu_app, janus_nodes, users, names):
    """An SFU meeting with everyone in `names` admitted: (app, client, headers, credentials)."""
    app = sfu_app(janus_nodes())
    client = app.test_client()
    headers = dict(zip(names, users(app, *names), strict=True))
    meeting_id, invite = create(client, headers[names[0]], media="sfu")
    credentials = {}
    for name in names:
        response = join(client, headers[name], meeting_id, None if name == names[0] else invite)
        credentials[name] = response.json["meeting"]["sfu"]
    # Everyone's view lists everyone's feed once all have arrived.
    feeds = client.get(f"/meetings/{meeting_id}", headers=headers[names[0]]).json["sfu"]["feeds"]
    return app, client, headers, meeting_id, credentials, feeds


def test_participants_receive_every_other_participant_with_their_colour(
    sfu_app, janus_nodes, users
):
    _, _, _, _, credentials, feeds = _meeting_with(sfu_app, janus_nodes, users, list(COLOURS))

    async def run() -> None:
        peers = {n: SfuPeer(credentials[n], COLOURS[n], SIZE) for n in COLOURS}
        try:
            for peer in peers.values():
                await peer.publish()
            for name, peer in peers.items():
                for other in COLOURS:
                    if other != name:
                        await peer.subscribe(feeds[other])
            for name, peer in peers.items():
                for other in COLOURS:
                    if other == name:
                        continue
                    sub = peer.subscriptions[feeds[other]]
                    expected = rgb_to_yuv(COLOURS[other])
                    await _until(
                        lambda s=sub, e=expected: (
                            s.received["video"] >= 10
                            and s.received["audio"] >= 10
                            and _close(s.remote_colour(), e)
                        )
                    )
        finally:
            for peer in peers.values():
                await peer.close()

    asyncio.run(run())


def test_a_stranger_with_a_real_token_of_another_meeting_cannot_subscribe(
    sfu_app, janus_nodes, users
):
    app, client, headers, _, credentials, feeds = _meeting_with(
        sfu_app, janus_nodes, users, ["host", "ann"]
    )
    (eve,) = users(app, "eve")
    other_id, _ = create(client, eve, media="sfu")
    theirs = join(client, eve, other_id).json["meeting"]["sfu"]

    async def run() -> None:
        host = SfuPeer(credentials["host"], COLOURS["host"], SIZE)
        stranger = SfuPeer({**theirs, "room": credentials["host"]["room"]}, size=SIZE)
        try:
            await host.publish()
            # Eve's own token opens her own room only: joining this one is refused...
            with pytest.raises(JanusError) as refused:
                await stranger.publish()
            assert refused.value.code == 433
            # ...and subscribing to the host's live feed needs a private id she cannot have.
            for private_id in (None, host.private_id + 1):
                with pytest.raises(JanusError) as refused:
                    await stranger.subscribe(feeds["host"], private_id=private_id)
                assert refused.value.code == 433, refused.value.reason
        finally:
            await stranger.close()
            await host.close()

    asyncio.run(run())


def test_a_removed_participant_stops_sending_and_receiving_within_a_second(
    sfu_app, janus_nodes, users
):
    _, client, headers, meeting_id, credentials, feeds = _meeting_with(
        sfu_app, janus_nodes, users, ["host", "ann"]
    )

    async def run() -> None:
        host = SfuPeer(credentials["host"], COLOURS["host"], SIZE)
        ann = SfuPeer(credentials["ann"], COLOURS["ann"], SIZE)
        try:
            await host.publish()
            await ann.publish()
            watching = await ann.subscribe(feeds["host"])
            watched = await host.subscribe(feeds["ann"])
            await _until(
                lambda: watching.received["video"] >= 10 and watched.received["video"] >= 10
            )
            started = time.monotonic()
            response = await asyncio.to_thread(
                act, client, headers["host"], meeting_id, "remove", username="ann"
            )
            assert response.status_code == 200
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
            got, sent = watching.received["video"], watched.received["video"]
            await asyncio.sleep(1.0)
            assert watching.received["video"] - got <= 1, "ann still receives after 1 s"
            assert watched.received["video"] - sent <= 1, "ann still sends after 1 s"
        finally:
            await ann.close()
            await host.close()

    asyncio.run(run())


def test_a_removed_participant_under_a_feed_id_of_their_own_choosing_is_still_evicted(
    sfu_app, janus_nodes, users
):
    """Janus lets a publisher pick any free feed id; kicking the assigned one would miss.
    Every Janus session opened with the removed seat's token is destroyed instead."""
    app, client, headers, meeting_id, credentials, feeds = _meeting_with(
        sfu_app, janus_nodes, users, ["host", "ann"]
    )
    node_admin = app.extensions["chimecast_janus"].nodes[0].admin
    room = credentials["host"]["room"]

    async def run() -> None:
        host = SfuPeer(credentials["host"], COLOURS["host"], SIZE)
        ann = SfuPeer({**credentials["ann"], "feed": 4242}, COLOURS["ann"], SIZE)
        try:
            await host.publish()
            await ann.publish()
            watching = await ann.subscribe(feeds["host"])
            await _until(lambda: watching.received["video"] >= 10)
            assert 4242 in [p["id"] for p in node_admin.participants(room)]
            started = time.monotonic()
            await asyncio.to_thread(
                act, client, headers["host"], meeting_id, "remove", username="ann"
            )
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
            assert 4242 not in [p["id"] for p in node_admin.participants(room)]
            got = watching.received["video"]
            await asyncio.sleep(1.0)
            assert watching.received["video"] - got <= 1, "ann still receives after 1 s"
        finally:
            await ann.close()
            await host.close()

    asyncio.run(run())
