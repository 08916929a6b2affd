"""A client whose network goes silent is dropped by the heartbeat and its peer is told."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import pytest

from tests.calling import close_all, ring_and_answer
from tests.scale.tcpproxy import TcpProxy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

INTERVAL, TIMEOUT = 1, 3


@pytest.fixture
def stack_env():
    return {
        "CHIMECAST_HEARTBEAT_INTERVAL": str(INTERVAL),
        "CHIMECAST_HEARTBEAT_TIMEOUT": str(TIMEOUT),
    }


def test_blackholed_client_is_detected_and_peer_told_within_the_heartbeat_window(stack, people):
    alice, bob = people("alice", "bob")
    daemon = urlsplit(stack.signaling_url)
    proxy = TcpProxy((daemon.hostname, daemon.port))
    bob_url = f"ws://127.0.0.1:{proxy.port}/ws"

    async def scenario():
        await alice.connect(stack.signaling_url)
        await bob.connect(bob_url)
        try:
            call_id = await ring_and_answer(alice, bob)
            await asyncio.sleep(INTERVAL * 2)
            assert not [m for m in alice.sig.drain() if m["type"] == "peer_disconnected"], (
                "a healthy idle client must not be dropped"
            )
            proxy.blackhole()
            silent_at = time.monotonic()
            event = await alice.sig.wait_for("peer_disconnected", call_id=call_id, timeout=10)
            waited = time.monotonic() - silent_at
            assert event["user"] == bob.name
            assert waited <= TIMEOUT + INTERVAL + 1.5, f"took {waited:.1f}s"
            record = await asyncio.to_thread(alice.api.get_call, call_id)
            assert record["state"] == "active", "the grace period keeps the call for now"
        finally:
            proxy.close()
            await close_all(alice, bob)

    asyncio.run(scenario())
