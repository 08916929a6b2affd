"""Relays between daemons go only where the recipient is: per-node channels and a registry.

Two daemons share a private Redis. A spy pattern-subscribes to every channel of the
deployment and records what is published, so the tests see what crosses Redis: nothing
when both peers sit on one daemon, one copy on the recipient's node channel when they do
not, and nothing for a daemon that has died.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time

import pytest
import redis

from tests.calling import Person, close_all, make_person, ring_and_answer
from tests.scale.conftest import two_daemons_on

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


class Spy:
    """Every message published on `chimecast:*` while it runs, as (channel, data)."""

    def __init__(self, url: str) -> None:
        self.pubsub = redis.Redis.from_url(url).pubsub(ignore_subscribe_messages=True)
        self.pubsub.psubscribe("chimecast:*")
        self.seen: list[tuple[bytes, bytes]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for item in self.pubsub.listen():
                self.seen.append((item["channel"], item["data"]))
        except redis.RedisError:  # the test's Redis stopped first
            pass

    def relays(self, needle: bytes = b'"candidate"') -> list[tuple[bytes, bytes]]:
        return [(channel, data) for channel, data in list(self.seen) if needle in data]


@pytest.fixture
def two_daemons(tmp_path, private_redis):
    with two_daemons_on(tmp_path, private_redis.url) as stack:
        yield stack


async def _candidates(sender: Person, receiver: Person, call_id: int, count: int) -> None:
    for _ in range(count):
        await sender.sig.relay("candidate", call_id, receiver.name, None)
    for seq in range(1, count + 1):
        got = await receiver.sig.wait_for("candidate", call_id=call_id, timeout=5)
        assert (got["from"], got["seq"]) == (sender.name, seq)


def test_relay_between_two_users_on_one_daemon_publishes_nothing_to_redis(
    two_daemons, private_redis
):
    spy = Spy(private_redis.url)
    alice, bob = make_person(two_daemons, "alice"), make_person(two_daemons, "bob")
    carol = make_person(two_daemons, "carol")

    async def scenario():
        await alice.connect(two_daemons.signaling_urls[0])
        await bob.connect(two_daemons.signaling_urls[0])
        await carol.connect(two_daemons.signaling_urls[1])  # the other daemon is in use
        try:
            call_id = await ring_and_answer(alice, bob)
            await _candidates(alice, bob, call_id, 20)
            await _candidates(bob, alice, call_id, 20)
        finally:
            await close_all(alice, bob, carol)

    asyncio.run(scenario())
    time.sleep(0.2)
    assert spy.relays() == [], "a relay inside one daemon went through Redis"


def test_cross_daemon_relays_and_rings_arrive_on_the_recipients_node_channel_only(
    two_daemons, private_redis
):
    spy = Spy(private_redis.url)
    alice, bob = make_person(two_daemons, "alice"), make_person(two_daemons, "bob")

    async def scenario():
        await alice.connect(two_daemons.signaling_urls[0])
        await bob.connect(two_daemons.signaling_urls[1])
        try:
            call_id = await ring_and_answer(alice, bob)  # rings come from the outbox
            await _candidates(alice, bob, call_id, 10)
            await _candidates(bob, alice, call_id, 10)
            return call_id
        finally:
            await close_all(alice, bob)

    asyncio.run(scenario())
    time.sleep(0.2)
    relays = spy.relays()
    assert len(relays) == 20, "each relay crosses Redis exactly once"
    channels = {channel for channel, _data in relays}
    assert len(channels) == 2 and all(b":node:" in channel for channel in channels), channels
    ports = {str(port).encode() for port in two_daemons.signaling_ports}
    assert {channel.rsplit(b":", 1)[-1] for channel in channels} == ports, channels


def test_a_dead_daemons_registry_entries_are_ignored_and_its_users_reach_a_live_one(
    two_daemons, private_redis
):
    alice, bob = make_person(two_daemons, "alice"), make_person(two_daemons, "bob")

    async def scenario():
        await alice.connect(two_daemons.signaling_urls[0])
        await bob.connect(two_daemons.signaling_urls[1])
        try:
            call_id = await ring_and_answer(alice, bob)
            await _candidates(alice, bob, call_id, 3)
            victim = two_daemons.processes["signaling1"]
            victim.send_signal(signal.SIGKILL)  # no goodbye: only its silence tells
            await asyncio.to_thread(victim.wait, 5)
            await asyncio.sleep(2 + 0.5 + 1.0)  # stale-after, a beat, and slack
            spy = Spy(private_redis.url)
            await asyncio.sleep(0.2)
            await alice.sig.relay("candidate", call_id, bob.name, None)
            await asyncio.sleep(0.5)
            assert spy.relays() == [], "a relay was published for a dead daemon"
            await bob.connect(two_daemons.signaling_urls[0])  # bob comes back, to daemon 0
            await alice.sig.relay("candidate", call_id, bob.name, None)
            got = await bob.sig.wait_for("candidate", call_id=call_id, timeout=5)
            assert got["from"] == alice.name
            await asyncio.sleep(0.2)
            assert spy.relays() == [], "bob is on alice's daemon now"
        finally:
            await close_all(alice, bob)

    asyncio.run(scenario())
