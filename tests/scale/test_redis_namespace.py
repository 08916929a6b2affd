"""Two independent installations on one Redis: their daemons never hear each other.

Each system has its own SQLite database and two daemons on the same Redis server. Their
users are created in the same order, so user ids and session ids coincide: a relayed
message addressed to "user 2, session 2" in system A would reach system B's user 2 if the
bus were shared.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest
import redis

from app.devstack import Stack
from signaling.settings import namespace_for
from tests.calling import Person, close_all, make_person, ring_and_answer

CHEAP = {"CHIMECAST_ARGON2_TIME_COST": "1", "CHIMECAST_ARGON2_MEMORY_KIB": "1024"}


def _system(tmp_path, name: str, redis_url: str) -> Stack:
    directory = tmp_path / name
    directory.mkdir()
    env = {**CHEAP, "CHIMECAST_REDIS_URL": redis_url}
    return Stack(
        f"sqlite:///{directory / 'chimecast.db'}",
        signaling_ports=[0, 0],
        extra_env=env,
        log_dir=directory / "logs",
    )


def test_the_default_namespace_is_a_hash_of_the_database_without_its_password():
    url = "postgresql://chime:s3cret@db.internal:5432/chimecast"
    namespace = namespace_for(url)
    assert len(namespace) == 16 and int(namespace, 16) >= 0
    assert "s3cret" not in namespace and "chimecast" not in namespace
    assert namespace_for(url.replace("s3cret", "rotated")) == namespace, "password rotation"
    assert namespace_for(url.replace("/chimecast", "/other")) != namespace
    assert namespace_for("sqlite:////srv/a/chimecast.db") != namespace_for(
        "sqlite:////srv/b/chimecast.db"
    )


@pytest.fixture
def two_systems(tmp_path, private_redis):
    first, second = (
        _system(tmp_path, "a", private_redis.url),
        _system(tmp_path, "b", private_redis.url),
    )
    with first, second:
        yield first, second


async def _pair_on_two_daemons(stack: Stack) -> tuple[Person, Person]:
    alice, bob = make_person(stack, "alice"), make_person(stack, "bob")
    await alice.connect(stack.signaling_urls[0])
    await bob.connect(stack.signaling_urls[1])
    return alice, bob


def _channels_once_subscribed(url: str, subscribers: int) -> list[bytes]:
    """The channels in use, once `subscribers` subscriptions exist (or after 10 s)."""
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        channels = client.pubsub_channels()
        counts = dict(client.pubsub_numsub(*channels)) if channels else {}
        if sum(counts.values()) >= subscribers or time.monotonic() > deadline:
            return channels
        time.sleep(0.1)


def _ids(stack: Stack, person: Person) -> tuple[int, int]:
    """(user id, newest session id) of `person`, read from the system's own database."""
    path = stack.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        (user_id,) = db.execute(
            "SELECT id FROM users WHERE username = ?", (person.name,)
        ).fetchone()
        (session_id,) = db.execute(
            "SELECT max(id) FROM sessions WHERE user_id = ?", (user_id,)
        ).fetchone()
    return user_id, session_id


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_relays_of_one_installation_never_reach_another_on_the_same_redis(
    two_systems, private_redis
):
    system_a, system_b = two_systems
    channels = _channels_once_subscribed(private_redis.url, subscribers=8)
    # each daemon: its node channel and its installation's registry channel
    namespaces = {c.split(b":")[1] for c in channels}
    assert len(channels) == 6 and len(namespaces) == 2, f"two installations: {channels}"
    assert all(c.startswith(b"chimecast:") and b"sqlite" not in c for c in channels)

    async def scenario():
        a_alice, a_bob = await _pair_on_two_daemons(system_a)
        b_alice, b_bob = await _pair_on_two_daemons(system_b)
        try:
            assert _ids(system_a, a_bob) == _ids(system_b, b_bob), "same ids in both systems"
            call_id = await ring_and_answer(a_alice, a_bob)
            for _ in range(5):
                await a_alice.sig.relay("candidate", call_id, a_bob.name, None)
            for seq in range(1, 6):  # the bus works inside system A
                got = await a_bob.sig.wait_for("candidate", call_id=call_id, timeout=5)
                assert (got["from"], got["seq"]) == (a_alice.name, seq)
            await asyncio.sleep(1.0)
            leaked = [m for m in b_bob.sig.drain() + b_alice.sig.drain() if m["type"] != "pong"]
            assert leaked == [], "system B heard system A's relays"
            # and the other way round: B's own call relays inside B only
            b_call = await ring_and_answer(b_alice, b_bob)
            await b_alice.sig.relay("candidate", b_call, b_bob.name, None)
            await b_bob.sig.wait_for("candidate", call_id=b_call, timeout=5)
            await asyncio.sleep(1.0)
            assert [m for m in a_bob.sig.drain() if m["type"] == "candidate"] == []
        finally:
            await close_all(a_alice, a_bob, b_alice, b_bob)

    asyncio.run(scenario())
