"""A daemon that dies or stops leaves no call behind (node liveness, README "Liveness").

Two daemons share one database (SQLite, or PostgreSQL with CHIMECAST_TEST_DATABASE_URL)
and a private Redis. Intervals are shortened through CHIMECAST_ settings, so a dead
daemon is noticed within ~2-3 s and a grace period lasts 8 s.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.request

import pytest
from sqlalchemy import create_engine, text

from app.config import normalize_database_url
from app.devstack import Stack
from signaling.client.api import ApiError
from tests.calling import Person, close_all, make_person, ring_and_answer
from tests.conftest import database_url_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

GRACE = 8  # CHIMECAST_RECONNECT_GRACE (a restarted daemon must be up within it)
STALE = 2.0  # CHIMECAST_NODE_STALE_AFTER
FAST = {
    "CHIMECAST_ARGON2_TIME_COST": "1",
    "CHIMECAST_ARGON2_MEMORY_KIB": "1024",
    "CHIMECAST_RECONNECT_GRACE": str(GRACE),
    "CHIMECAST_NODE_REFRESH_INTERVAL": "0.5",
    "CHIMECAST_NODE_STALE_AFTER": str(STALE),
    "CHIMECAST_CALL_START_LIMIT": "1000",  # one test polls /call/start
}


class Pair:
    """Two daemons over one database and one Redis, with helpers to stop and read them."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.engine = create_engine(normalize_database_url(stack.database_url))

    def process(self, index: int):
        return self.stack.processes["signaling" if index == 0 else f"signaling{index}"]

    def node_id(self, index: int) -> str:
        port = self.stack.signaling_ports[index]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return json.loads(response.read())["node_id"]

    def stop(self, index: int, signum: int) -> float:
        """Signal daemon `index`, wait until it has exited; returns when the signal was sent."""
        process = self.process(index)
        sent = time.monotonic()
        process.send_signal(signum)
        process.wait(10)
        return sent

    def call_row(self, call_id: int) -> dict:
        with self.engine.connect() as connection:
            row = connection.execute(
                text(
                    "SELECT c.state, c.end_reason, c.ended_by_node, u.username AS ended_by"
                    " FROM calls c LEFT JOIN users u ON u.id = c.ended_by_id WHERE c.id = :id"
                ),
                {"id": call_id},
            )
            return dict(row.mappings().one())


@pytest.fixture
def pair(tmp_path, private_redis):
    env = {**FAST, "CHIMECAST_REDIS_URL": private_redis.url}
    stack = Stack(
        database_url_for(tmp_path), signaling_ports=[0, 0], extra_env=env, log_dir=tmp_path / "logs"
    )
    with stack:
        pair = Pair(stack)
        yield pair
        pair.engine.dispose()


async def _call_across(pair: Pair) -> tuple[Person, Person, int]:
    """alice on daemon 0, bob on daemon 1, in an active call."""
    alice, bob = make_person(pair.stack, "alice"), make_person(pair.stack, "bob")
    await alice.connect(pair.stack.signaling_urls[0])
    await bob.connect(pair.stack.signaling_urls[1])
    return alice, bob, await ring_and_answer(alice, bob)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["kill", "term"])
def test_a_dead_daemon_s_user_who_never_returns_is_ended_by_the_survivor(pair, signum):
    survivor = pair.node_id(1)

    async def scenario():
        alice, bob, call_id = await _call_across(pair)
        try:
            stopped = pair.stop(0, signum)
            gone = await bob.sig.wait_for("peer_disconnected", call_id=call_id, timeout=15)
            heard = time.monotonic() - stopped
            assert gone["user"] == alice.name and gone["grace_seconds"] == GRACE
            ended = await bob.sig.wait_for("ended", call_id=call_id, timeout=GRACE + 15)
            took = time.monotonic() - stopped
            assert ended["call"]["end_reason"] == "connection_lost"
            return heard, took, call_id
        finally:
            await close_all(alice, bob)

    heard, took, call_id = asyncio.run(scenario())
    print(f"peer_disconnected after {heard:.2f}s, connection_lost after {took:.2f}s")
    assert heard < STALE + 5, "the survivor must notice a dead daemon within a few seconds"
    assert took < GRACE + 10
    assert took > GRACE, "the grace period is never skipped"
    row = pair.call_row(call_id)
    assert row["state"] == "ended" and row["end_reason"] == "connection_lost"
    assert row["ended_by_node"] == survivor and row["ended_by"] is not None


@pytest.mark.parametrize("back_to", ["survivor", "restarted"])
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["kill", "term"])
def test_a_user_back_within_grace_on_either_daemon_keeps_the_call(pair, signum, back_to):
    async def scenario():
        alice, bob, call_id = await _call_across(pair)
        try:
            pair.stop(0, signum)
            await bob.sig.wait_for("peer_disconnected", call_id=call_id, timeout=15)
            if back_to == "restarted":
                pair.stack.start_signaling(0)
            await alice.connect(pair.stack.signaling_urls[0 if back_to == "restarted" else 1])
            assert [c["call_id"] for c in alice.sig.welcome["calls"]] == [call_id]
            await bob.sig.wait_for("peer_reconnected", call_id=call_id, timeout=5)
            await asyncio.sleep(GRACE + STALE + 2)
            assert not [m for m in bob.sig.drain() if m["type"] == "ended"]
            await alice.sig.relay("candidate", call_id, bob.name, None)
            await bob.sig.wait_for("candidate", call_id=call_id, timeout=5)
            return call_id
        finally:
            await close_all(alice, bob)

    call_id = asyncio.run(scenario())
    assert pair.call_row(call_id)["state"] == "active"


def test_with_no_daemon_left_a_vanished_user_is_neither_busy_nor_online_for_long(pair):
    carol = make_person(pair.stack, "carol")

    async def scenario():
        alice, bob, call_id = await _call_across(pair)
        try:
            stopped = min(pair.stop(0, signal.SIGKILL), pair.stop(1, signal.SIGKILL))
            return alice, bob, call_id, stopped
        finally:
            await close_all(alice, bob)

    alice, bob, call_id, stopped = asyncio.run(scenario())
    with pytest.raises(ApiError) as busy:  # within the grace period the call still stands
        carol.api.start_call(alice.name)
    assert busy.value.status == 409
    while True:
        presence = carol.api.call("GET", f"/users/{alice.name}")["presence"]
        try:
            started = carol.api.start_call(alice.name)
        except ApiError as refused:
            assert refused.status == 409, refused
            assert time.monotonic() - stopped < GRACE + 10, "still busy after grace + 10 s"
            time.sleep(0.5)
            continue
        free_after = time.monotonic() - stopped
        break
    print(f"alice free after {free_after:.2f}s, presence {presence}")
    assert started["state"] == "ringing" and presence == "offline"
    assert free_after < GRACE + 10
    row = pair.call_row(call_id)
    assert row["state"] == "ended" and row["end_reason"] == "connection_lost"
    # Both devices vanished with their daemons; the one lost first (by its daemon's last
    # beat, which can be either: beats are 0.5 s apart) is recorded as having left.
    assert row["ended_by_node"] == "web" and row["ended_by"] in (alice.name, bob.name)


async def _reconnect_dropped(people: list[Person], url: str) -> int:
    """Reconnect (to `url`) everyone whose socket closed; returns how many."""
    dropped = [p for p in people if p.sig.closed is not None]
    for person in dropped:
        await person.connect(url)
    return len(dropped)


def test_a_rolling_restart_behind_nginx_loses_none_of_ten_calls(pair, nginx_for):
    """Everyone connects, and reconnects, through the shipped deploy/nginx.conf: stop
    daemon 0, start it, stop daemon 1 (the `max_fails=0` upstream never puts the restarted
    daemon on probation, see tests/scale/test_rolling_restart.py), start it again."""
    stack = pair.stack
    through_nginx = nginx_for(stack).replace("http://", "ws://") + "/ws"
    callers = [make_person(stack, "caller") for _ in range(10)]
    callees = [make_person(stack, "callee") for _ in range(10)]
    people = callers + callees

    async def scenario():
        for person in people:
            await person.connect(through_nginx)
        try:
            calls = [await ring_and_answer(a, b) for a, b in zip(callers, callees, strict=True)]
            moved = []
            for index in (0, 1):
                pair.stop(index, signal.SIGTERM)
                await asyncio.sleep(0.3)  # let every close arrive
                moved.append(await _reconnect_dropped(people, through_nginx))
                stack.start_signaling(index)
                await asyncio.sleep(STALE + 1)
            await asyncio.sleep(GRACE + STALE + 2)
            for a, b, call_id in zip(callers, callees, calls, strict=True):
                assert not [m for m in a.sig.drain() + b.sig.drain() if m["type"] == "ended"]
                await a.sig.relay("candidate", call_id, b.name, None)
                await b.sig.wait_for("candidate", call_id=call_id, timeout=5)
            return calls, moved
        finally:
            await close_all(*people)

    calls, moved = asyncio.run(scenario())
    # least_conn spreads the first connections over both daemons; then all sit on daemon 1.
    assert 5 <= moved[0] <= 15 and moved[1] == 20, moved
    assert [pair.call_row(call_id)["state"] for call_id in calls] == ["active"] * 10


def _meeting_across(pair: Pair, max_participants: int = 2):
    """A meeting of `max_participants` seats: host on daemon 1, ann on daemon 0, both in."""
    host, ann = make_person(pair.stack, "host"), make_person(pair.stack, "ann")
    created = host.api.call(
        "POST", "/meetings", {"name": "Standup", "max_participants": max_participants}
    )
    return host, ann, created["meeting"]["id"], created["invite"]


async def _seat_across(pair: Pair, host: Person, ann: Person, meeting_id: int, invite: str) -> None:
    """host joins through daemon 1, ann through daemon 0; returns once host has seen ann."""
    await host.connect(pair.stack.signaling_urls[1])
    await ann.connect(pair.stack.signaling_urls[0])
    assert (await host.sig.join_meeting(meeting_id))["state"] == "admitted"
    assert (await ann.sig.join_meeting(meeting_id, invite))["state"] == "admitted"
    await host.sig.wait_for("participant_joined", meeting_id=meeting_id, user=ann.name)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["kill", "term"])
def test_a_dead_daemon_s_meeting_participant_who_never_returns_frees_the_seat(pair, signum):
    """The meeting side of the same promise: ann's daemon dies and ann does not come back.
    The survivor tells the others, gives ann the grace period, then she leaves
    (`connection_lost`), and her seat is free for someone else."""
    host, ann, meeting_id, invite = _meeting_across(pair)
    carol = make_person(pair.stack, "carol")

    async def scenario():
        await carol.connect(pair.stack.signaling_urls[1])
        try:
            await _seat_across(pair, host, ann, meeting_id, invite)
            full = await carol.sig.join_meeting(meeting_id, invite)
            assert full["type"] == "error" and full["code"] == "room_full", full
            stopped = pair.stop(0, signum)
            gone = await host.sig.wait_for(
                "participant_disconnected", meeting_id=meeting_id, user=ann.name, timeout=15
            )
            heard = time.monotonic() - stopped
            assert gone["grace_seconds"] == GRACE
            left = await host.sig.wait_for(
                "participant_left", meeting_id=meeting_id, user=ann.name, timeout=GRACE + 15
            )
            took = time.monotonic() - stopped
            assert left["reason"] == "connection_lost", left
            joined = await carol.sig.join_meeting(meeting_id, invite)
            assert joined.get("state") == "admitted", joined
            return heard, took
        finally:
            await close_all(host, ann, carol)

    heard, took = asyncio.run(scenario())
    print(f"participant_disconnected after {heard:.2f}s, left after {took:.2f}s")
    assert heard < STALE + 5
    assert GRACE < took < GRACE + 10


def test_a_meeting_participant_back_within_grace_keeps_the_seat(pair):
    host, ann, meeting_id, invite = _meeting_across(pair)

    async def scenario():
        try:
            await _seat_across(pair, host, ann, meeting_id, invite)
            pair.stop(0, signal.SIGKILL)
            await host.sig.wait_for(
                "participant_disconnected", meeting_id=meeting_id, user=ann.name, timeout=15
            )
            await ann.connect(pair.stack.signaling_urls[1])
            assert (await ann.sig.join_meeting(meeting_id, invite))["state"] == "admitted"
            await asyncio.sleep(GRACE + STALE + 2)
            left = [m for m in host.sig.drain() if m["type"] == "participant_left"]
            assert not left, left
        finally:
            await close_all(host, ann)

    asyncio.run(scenario())


def test_a_grace_period_running_on_a_daemon_that_dies_is_not_lost(pair):
    """alice drops; her daemon starts her grace, then dies before it ends. The survivor
    that sweeps the dead daemon runs a grace of its own: the call still ends
    connection_lost instead of staying active (and bob busy) for ever."""

    async def scenario():
        alice, bob, call_id = await _call_across(pair)
        try:
            await alice.sig.close()
            await bob.sig.wait_for("peer_disconnected", call_id=call_id, timeout=10)
            stopped = pair.stop(0, signal.SIGKILL)
            ended = await bob.sig.wait_for("ended", call_id=call_id, timeout=GRACE + STALE + 15)
            return call_id, time.monotonic() - stopped, ended
        finally:
            await close_all(alice, bob)

    call_id, took, ended = asyncio.run(scenario())
    print(f"ended after {took:.2f}s")
    assert ended["call"]["end_reason"] == "connection_lost"
    assert took < GRACE + STALE + 10
    row = pair.call_row(call_id)
    assert row["state"] == "ended" and row["ended_by_node"] == pair.node_id(1)


def test_a_meeting_grace_running_on_a_daemon_that_dies_is_not_lost(pair):
    host, ann, meeting_id, invite = _meeting_across(pair)

    async def scenario():
        try:
            await _seat_across(pair, host, ann, meeting_id, invite)
            await ann.sig.close()
            await host.sig.wait_for(
                "participant_disconnected", meeting_id=meeting_id, user=ann.name, timeout=10
            )
            stopped = pair.stop(0, signal.SIGKILL)
            left = await host.sig.wait_for(
                "participant_left", meeting_id=meeting_id, user=ann.name,
                timeout=GRACE + STALE + 15,
            )  # fmt: skip
            return time.monotonic() - stopped, left
        finally:
            await close_all(host, ann)

    took, left = asyncio.run(scenario())
    assert left["reason"] == "connection_lost"
    assert took < GRACE + STALE + 10
