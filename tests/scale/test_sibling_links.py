"""Workers of one `--workers N` daemon relay to each other over their own links, not Redis.

A relay between two devices whose sockets the kernel gave to different workers goes over
the sibling link (signaling.state.siblings): nothing crosses Redis, a flood arrives
exactly once and in order, and a sibling that stops reading (SIGSTOP) or dies (SIGKILL)
holds up neither the sender nor the sender's other calls.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from tests.calling import Person, close_all, ring_and_answer
from tests.scale.test_routing import Spy
from tests.scale.test_workers import _nodes, running_workers

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

FLOOD = {"CHIMECAST_MESSAGE_RATE": "1000000", "CHIMECAST_MESSAGE_BURST": "1000000"}


@pytest.fixture
def workers(tmp_path, private_redis):
    with running_workers(tmp_path, private_redis.url, **FLOOD) as running:
        yield running


def _candidate(n: int) -> dict[str, object]:
    return {"candidate": f"candidate:{n} 1 udp 2122260223 10.0.0.1 {50000 + n % 9999} typ host"}


async def _exactly(receiver: Person, sender: Person, call_id: int, count: int) -> None:
    """`count` relays from `sender`, seq 1..count in order, then nothing more."""
    for seq in range(1, count + 1):
        got = await receiver.sig.wait_for(("candidate", "offer"), call_id=call_id, timeout=10)
        assert (got["from"], got["seq"]) == (sender.name, seq), (got, seq)
    await asyncio.sleep(0.5)
    extra = [m for m in receiver.sig.drain() if m.get("type") in ("candidate", "offer")]
    assert extra == [], f"{len(extra)} relays arrived twice or unasked"


def test_relay_between_two_workers_does_not_cross_redis(workers, private_redis):
    first, second = _nodes(workers.port)
    spy = Spy(private_redis.url)

    async def scenario():
        alice = await workers.person_on(first)
        bob = await workers.person_on(second)
        try:
            call_id = await ring_and_answer(alice, bob)
            for sender, receiver in ((alice, bob), (bob, alice)):
                for index in range(20):
                    await sender.sig.relay("candidate", call_id, receiver.name, _candidate(index))
                await _exactly(receiver, sender, call_id, 20)
        finally:
            await close_all(alice, bob)

    asyncio.run(scenario())
    time.sleep(0.2)
    assert spy.relays() == [], "a relay between sibling workers went through Redis"


def test_a_flood_of_small_frames_between_workers_arrives_exactly_once_in_order(workers):
    first, second = _nodes(workers.port)
    count = 3000

    async def flood(sender: Person, receiver: Person, call_id: int) -> None:
        for index in range(count):
            await sender.sig.relay("candidate", call_id, receiver.name, _candidate(index))

    async def scenario():
        alice = await workers.person_on(first)
        bob = await workers.person_on(second)
        try:
            call_id = await ring_and_answer(alice, bob)
            await asyncio.gather(
                flood(alice, bob, call_id),
                flood(bob, alice, call_id),
                _exactly(bob, alice, call_id, count),
                _exactly(alice, bob, call_id, count),
            )
        finally:
            await close_all(alice, bob)

    asyncio.run(scenario())


async def _round_trip(sender: Person, receiver: Person, call_id: int, tag: int) -> float:
    started = time.monotonic()
    await sender.sig.relay("candidate", call_id, receiver.name, _candidate(tag))
    got = await receiver.sig.wait_for("candidate", call_id=call_id, timeout=5)
    assert got["payload"] == _candidate(tag)
    return time.monotonic() - started


def test_a_stopped_then_killed_worker_holds_up_neither_its_siblings_senders_nor_their_calls(
    workers,
):
    first, second = _nodes(workers.port)
    sdp = "v=0 " + "x" * 30_000  # big offers fill the stopped worker's inbox quickly

    async def scenario():
        alice = await workers.person_on(first)
        bob = await workers.person_on(second)
        carol = await workers.person_on(first)
        dave = await workers.person_on(first)
        people = (alice, bob, carol, dave)
        try:
            crossing = await ring_and_answer(alice, bob)
            local = await ring_and_answer(carol, dave)
            victim = workers.pid_of(1)
            os.kill(victim, signal.SIGSTOP)  # alive but never reading: its inbox fills
            try:
                for index in range(600):  # ~18 MB for bob: more than any inbox or backlog
                    await alice.sig.relay("offer", crossing, bob.name, {"sdp": sdp, "n": index})
                    if index % 100 == 0:
                        assert await _round_trip(carol, dave, local, index) < 1.0
                for tag in range(5):
                    assert await _round_trip(dave, carol, local, tag) < 1.0
            finally:
                os.kill(victim, signal.SIGKILL)  # never resumed: the test does not restart it
            for tag in range(5):
                assert await _round_trip(carol, dave, local, tag) < 1.0
            await asyncio.sleep(0.5)
            assert alice.sig.closed is None, "the sender was dropped for the stopped worker"
            reply = await alice.sig.request({"type": "ping"}, timeout=5)
            assert reply["type"] == "pong"
        finally:
            await close_all(*people)

    asyncio.run(scenario())
