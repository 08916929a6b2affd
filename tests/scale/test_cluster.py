"""Two signaling daemons sharing Redis, PostgreSQL for data, behind a real nginx.

The clients only know nginx's address; least_conn puts two users on different daemons,
so every ring, relay and hang-up below crosses the Redis bus.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.request

import pytest

from app.devstack import Stack
from signaling.client.api import ApiClient
from signaling.client.media import use_loopback_only
from tests.calling import Person, close_all, make_person, media_pair, online, ring_and_answer
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

CHEAP = {"CHIMECAST_ARGON2_TIME_COST": "1", "CHIMECAST_ARGON2_MEMORY_KIB": "1024"}


class Cluster:
    def __init__(self, stack: Stack, base_url: str, redis) -> None:
        self.stack, self.base_url, self.redis = stack, base_url, redis
        self.ws_url = base_url.replace("http://", "ws://") + "/ws"

    def person(self, prefix: str) -> Person:
        person = make_person(self.stack, prefix)
        person.api = ApiClient(self.base_url, person.api.token)  # everything through nginx
        return person

    def connections(self) -> list[int]:
        """Open WebSockets per daemon, from each daemon's /healthz."""
        counts = []
        for port in self.stack.signaling_ports:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                counts.append(json.loads(r.read())["connections"])
        return counts


@pytest.fixture
def cluster(tmp_path, postgres_url, private_redis, nginx_for):
    use_loopback_only()
    env = {**CHEAP, "CHIMECAST_REDIS_URL": private_redis.url, "CHIMECAST_TRUSTED_PROXIES": "1"}
    stack = Stack(postgres_url, signaling_ports=[0, 0], extra_env=env, log_dir=tmp_path / "logs")
    with stack:
        yield Cluster(stack, nginx_for(stack), private_redis)


async def connect_on_different_daemons(cluster: Cluster, *people: Person) -> None:
    for person in people:
        await person.connect(cluster.ws_url)
    assert sorted(cluster.connections()) == [1, 1], "least_conn should spread two clients"


def test_call_through_nginx_with_peers_on_different_daemons(cluster):
    alice, bob = cluster.person("alice"), cluster.person("bob")

    async def scenario():
        await connect_on_different_daemons(cluster, alice, bob)
        try:
            call_id = await ring_and_answer(alice, bob)
            async with media_pair(alice, bob, call_id) as (a, b):
                await a.wait_connected()
                await asyncio.gather(a.wait_media(20, 20), b.wait_media(20, 20))
            await asyncio.to_thread(alice.api.end_call, call_id)
            event = await bob.sig.wait_for("ended", call_id=call_id, timeout=5)
            assert event["call"]["end_reason"] == "hangup"
        finally:
            await close_all(alice, bob)

    asyncio.run(scenario())
    me = cluster.person("carol").api.call("GET", "/me")
    assert me["username"].startswith("carol")


def test_sigkill_one_daemon_mid_call_clients_move_media_flows_hangup_works(cluster):
    alice, bob = cluster.person("alice"), cluster.person("bob")

    async def scenario():
        await connect_on_different_daemons(cluster, alice, bob)
        try:
            call_id = await ring_and_answer(alice, bob)
            async with media_pair(alice, bob, call_id) as (a, b):
                await a.wait_connected()
                await asyncio.gather(a.wait_media(10, 10), b.wait_media(10, 10))
                victim = cluster.stack.processes["signaling"]
                victim.send_signal(signal.SIGKILL)
                victim.wait(5)
                killed_at = time.monotonic()
                dropped = await _first_dropped(alice, bob)
                assert len(dropped) == 1, "exactly the killed daemon's client loses its socket"
                before = dict(a.received), dict(b.received)
                for person in dropped:  # reconnect through nginx: lands on the survivor
                    await person.connect(cluster.ws_url)
                    calls = person.sig.welcome["calls"]
                    assert [c["call_id"] for c in calls] == [call_id]
                assert time.monotonic() - killed_at < 10
                await asyncio.sleep(1)
                assert a.received["video"] > before[0]["video"] + 10, "P2P media must not stop"
                assert b.received["audio"] > before[1]["audio"] + 10
                ack = await alice.sig.hangup(call_id)
                assert ack["type"] == "ack" and ack["call"]["state"] == "ended"
                event = await bob.sig.wait_for("ended", call_id=call_id, timeout=5)
                assert event["call"]["end_reason"] == "hangup"
            history = await asyncio.to_thread(alice.api.call, "GET", "/calls")
            assert [c["state"] for c in history["items"]] == ["ended"], "no call left active"
        finally:
            await close_all(alice, bob)

    asyncio.run(scenario())


async def _first_dropped(*people: Person, timeout: float = 5) -> list[Person]:
    """The people whose socket closes within `timeout` (waiting for at least one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dropped = [p for p in people if p.sig.closed is not None]
        if dropped:
            await asyncio.sleep(0.3)  # let a second close show up, if any
            return [p for p in people if p.sig.closed is not None]
        await asyncio.sleep(0.05)
    return []


def test_redis_restart_mid_call_daemons_resubscribe_and_new_calls_work(cluster):
    alice, bob = cluster.person("alice"), cluster.person("bob")

    async def scenario():
        await connect_on_different_daemons(cluster, alice, bob)
        try:
            first = await ring_and_answer(alice, bob)
            cluster.redis.stop()
            await asyncio.sleep(0.5)
            cluster.redis.start()
            restarted = time.monotonic()
            await asyncio.to_thread(alice.api.end_call, first)  # events come from the database
            await bob.sig.wait_for("ended", call_id=first, timeout=5)
            # a relay needs the bus: retry until both daemons are subscribed again
            call_id = await ring_and_answer(alice, bob)
            while True:
                await alice.sig.relay("candidate", call_id, bob.name, None)
                try:
                    await bob.sig.wait_for("candidate", call_id=call_id, timeout=0.5)
                    break
                except TimeoutError:
                    assert time.monotonic() - restarted < 5, "daemons did not resubscribe in 5 s"
            async with media_pair(alice, bob, call_id) as (a, b):
                await a.wait_connected()
                await asyncio.gather(a.wait_media(10, 10), b.wait_media(10, 10))
        finally:
            await close_all(alice, bob)

    asyncio.run(scenario())


def test_every_device_rings_across_daemons_and_the_others_hear_answered_elsewhere(cluster):
    alice = cluster.person("alice")
    bob_phone = cluster.person("bob")
    bob_laptop = Person(bob_phone.name, ApiClient(cluster.base_url))
    bob_laptop.api.login(bob_phone.name, PASSWORD)  # a second session: another device

    async def scenario():
        async with online(cluster.ws_url, alice, bob_phone, bob_laptop):
            assert sorted(cluster.connections()) == [1, 2], "three clients over two daemons"
            call = await asyncio.to_thread(alice.api.start_call, bob_phone.name)
            for device in (bob_phone, bob_laptop):
                await device.sig.wait_for("incoming", call_id=call["id"], timeout=5)
            await bob_laptop.sig.accept(call["id"])
            await bob_phone.sig.wait_for("answered_elsewhere", call_id=call["id"], timeout=5)
            await alice.sig.wait_for("accepted", call_id=call["id"], timeout=5)
            # the relay reaches only the answering device, wherever it is connected
            await alice.sig.relay("candidate", call["id"], bob_phone.name, None)
            got = await bob_laptop.sig.wait_for("candidate", call_id=call["id"], timeout=5)
            assert got["from"] == alice.name and got["seq"] == 1
            await asyncio.sleep(0.3)
            assert not [m for m in bob_phone.sig.drain() if m["type"] == "candidate"]

    asyncio.run(scenario())


def test_a_daemon_ignores_its_own_echo_on_the_bus(cluster):
    """With both users on one daemon, each relayed message arrives exactly once."""
    alice, bob = cluster.person("alice"), cluster.person("bob")

    async def scenario():
        async with online(cluster.ws_url, alice):
            index = cluster.connections().index(1)  # alice's daemon
            same_daemon = cluster.stack.signaling_urls[index]
            async with online(same_daemon, bob):
                assert cluster.connections()[index] == 2
                call_id = await ring_and_answer(alice, bob)
                for _ in range(5):
                    await alice.sig.relay("candidate", call_id, bob.name, None)
                await asyncio.sleep(0.5)
                relayed = [m for m in bob.sig.drain() if m["type"] == "candidate"]
                assert [m["seq"] for m in relayed] == [1, 2, 3, 4, 5]

    asyncio.run(scenario())
