"""TURN: aiortc peers forced through a real coturn with credentials from GET /ice-servers."""

from __future__ import annotations

import asyncio
import re

import pytest
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from signaling.client.media import use_loopback_only
from tests.calling import media_pair, online, ring_and_answer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


@pytest.fixture
def stack_env(request, coturn):
    """TURN settings for the app; the expiry test gets 2-second credentials."""
    url, secret, _log = coturn
    ttl = "2" if "expired" in request.node.name else "600"
    return {"CHIMECAST_TURN_URLS": url, "CHIMECAST_TURN_SECRET": secret, "CHIMECAST_TURN_TTL": ttl}


@pytest.fixture(autouse=True)
def _loopback_ice():
    use_loopback_only()


def turn_servers(servers: list[dict]) -> list[dict]:
    return [s for s in servers if any(u.startswith("turn:") for u in s["urls"])]


def relay_candidates(sdp: str) -> int:
    return len(re.findall(r"typ relay", sdp))


async def gathered_relay_candidates(servers: list[dict]) -> int:
    """Relay candidates one relay-only peer gets from coturn with these credentials."""
    config = RTCConfiguration(
        iceServers=[RTCIceServer(**s) for s in servers],
        iceTransportPolicy=RTCIceTransportPolicy.RELAY,
    )
    pc = RTCPeerConnection(config)
    try:
        pc.addTransceiver("audio")
        await asyncio.wait_for(pc.setLocalDescription(await pc.createOffer()), 20)
        return relay_candidates(pc.localDescription.sdp)
    finally:
        await asyncio.wait_for(pc.close(), 5)


def test_relay_only_peers_connect_through_coturn_with_api_credentials(stack, people, coturn):
    alice, bob = people("alice", "bob")
    servers = (turn_servers(alice.api.ice_servers()), turn_servers(bob.api.ice_servers()))
    assert servers[0][0]["username"].endswith(":" + alice.name)
    assert servers[1][0]["username"].endswith(":" + bob.name)

    async def scenario():
        async with online(stack.signaling_url, alice, bob):
            call_id = await ring_and_answer(alice, bob)
            async with media_pair(alice, bob, call_id, servers, relay_only=True) as (a, b):
                await a.wait_connected(20)
                await asyncio.gather(a.wait_media(20, 20), b.wait_media(20, 20))
                for peer in (a, b):
                    sdp = peer.pc.localDescription.sdp
                    assert relay_candidates(sdp) > 0 and "typ host" not in sdp

    asyncio.run(scenario())


def test_expired_turn_credentials_are_refused_by_coturn(stack, people, coturn):
    _url, _secret, log = coturn
    (alice,) = people("alice")
    fresh = turn_servers(alice.api.ice_servers())
    assert asyncio.run(gathered_relay_candidates(fresh)) > 0, "control: fresh credentials work"
    stale = turn_servers(alice.api.ice_servers())
    asyncio.run(asyncio.sleep(3.5))  # CHIMECAST_TURN_TTL=2 has passed
    assert asyncio.run(gathered_relay_candidates(stale)) == 0
    assert f"Cannot find credentials of user <{stale[0]['username']}>" in log.read_text()
