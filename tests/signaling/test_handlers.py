"""Every handler, called with fake connections and a fake store (no network, no database)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.exc import OperationalError

from signaling.errors import CloseCode
from signaling.handlers import HANDLERS, dispatch
from signaling.protocol import CLIENT_SCHEMAS, ClientMessage
from signaling.state.call_cache import ACTIVE, ENDED
from signaling.state.services import Services
from signaling.state.store import Identity
from tests.signaling.fakes import FakeConn, FakeStore, make_services, message


@dataclass
class World:
    services: Services
    store: FakeStore
    alice: Identity
    bob: Identity
    bob_laptop: Identity
    carol: Identity

    def join(self, who: Identity) -> FakeConn:
        """A connection that has said hello and got its welcome."""
        conn = FakeConn()
        token = f"token-{who.username}-{who.session_id}"
        dispatch(self.services, conn, message({"type": "hello", "token": token, "id": 1}))
        assert conn.types()[-1] == "welcome", conn.sent
        return conn

    def send(self, conn: FakeConn, payload: dict) -> None:
        dispatch(self.services, conn, message(payload))


@pytest.fixture
def world() -> World:
    services, store, _timers = make_services(max_connections_per_user=3)
    return World(
        services,
        store,
        alice=store.user("alice", 1, 11),
        bob=store.user("bob", 2, 21),
        bob_laptop=store.user("bob", 2, 22),
        carol=store.user("carol", 3, 31),
    )


def offer(call_id: int, to: str, **extra) -> dict:
    return {
        "type": "offer",
        "call_id": call_id,
        "to": to,
        "payload": {"type": "offer", "sdp": "v=0\r\n"},
        **extra,
    }


def test_every_client_message_type_has_a_handler():
    assert set(HANDLERS) == set(CLIENT_SCHEMAS)


def test_a_type_without_a_handler_is_an_error_reply_and_the_connection_stays(world):
    conn = world.join(world.alice)
    dispatch(world.services, conn, ClientMessage(type="no_such_type", id=7))
    assert conn.closed is None
    reply = conn.sent[-1]
    assert (reply["type"], reply["code"], reply["ref"]) == ("error", "internal_error", 7)


def test_hello_with_valid_token_gets_welcome_and_registers_the_connection(world):
    conn = world.join(world.alice)
    welcome = conn.sent[-1]
    assert welcome["ref"] == 1
    assert welcome["protocol"] == 1
    assert welcome["user"] == {"username": "alice", "display_name": "Alice"}
    assert welcome["connection_id"] == conn.conn_id
    assert welcome["ice_servers"] == [{"urls": ["stun:stun.test:3478"]}]
    assert welcome["heartbeat"] == {"ping_interval": 20.0, "timeout": 45.0}
    assert welcome["calls"] == []
    assert world.services.hub.connections_of_user(1) == [conn]
    assert conn.conn_id in world.store.connections


def test_hello_with_unknown_token_closes_4002_and_registers_nothing(world):
    conn = FakeConn()
    world.send(conn, {"type": "hello", "token": "ccs_nope"})
    assert conn.closed == (CloseCode.INVALID_TOKEN, "invalid, expired or revoked token")
    assert conn.sent == []
    assert len(world.services.hub) == 0


def test_hello_for_a_session_revoked_moments_ago_closes_4002(world):
    world.services.revoked.add(world.alice.session_id)
    conn = FakeConn()
    world.send(conn, {"type": "hello", "token": "token-alice-11"})
    assert conn.closed[0] == CloseCode.INVALID_TOKEN


def test_second_hello_on_one_connection_is_an_error_and_the_connection_stays(world):
    conn = world.join(world.alice)
    world.send(conn, {"type": "hello", "token": "token-alice-11", "id": "again"})
    error = conn.sent[-1]
    assert (error["type"], error["code"], error["ref"]) == (
        "error",
        "already_authenticated",
        "again",
    )
    assert conn.closed is None


def test_connection_over_the_per_user_cap_closes_4004(world):
    for _ in range(3):
        world.join(world.alice)
    extra = FakeConn()
    world.send(extra, {"type": "hello", "token": "token-alice-11"})
    assert extra.closed[0] == CloseCode.TOO_MANY_CONNECTIONS
    assert world.services.hub.count_user(1) == 3


def test_welcome_lists_ringing_call_with_role_peer_and_presence(world):
    call_id = world.store.add_call(world.alice, world.bob)
    world.store.online.add(world.alice.user_id)
    conn = world.join(world.bob)
    (summary,) = conn.sent[-1]["calls"]
    assert summary["call_id"] == call_id
    assert (summary["state"], summary["role"], summary["peer"]) == ("ringing", "callee", "alice")
    assert summary["peer_online"] is True
    assert summary["call"] == {"id": call_id, "state": "ringing"}


def test_ping_gets_pong_with_ref(world):
    conn = world.join(world.alice)
    world.send(conn, {"type": "ping", "id": "p1"})
    assert conn.sent[-1] == {"type": "pong", "ref": "p1"}


def test_accept_acks_and_makes_this_device_the_one_in_the_call(world):
    call_id = world.store.add_call(world.alice, world.bob)
    phone = world.join(world.bob)
    world.send(phone, {"type": "accept", "call_id": call_id, "id": "a1"})
    ack = phone.sent[-1]
    assert (ack["type"], ack["ref"], ack["call_id"]) == ("ack", "a1", call_id)
    assert ack["call"]["state"] == "active"
    cached = world.services.calls.peek(call_id)
    assert (cached.state, cached.callee_session_id) == (ACTIVE, world.bob.session_id)


def test_accept_by_the_caller_is_refused_with_the_services_code(world):
    call_id = world.store.add_call(world.alice, world.bob)
    conn = world.join(world.alice)
    world.send(conn, {"type": "accept", "call_id": call_id, "id": 9})
    error = conn.sent[-1]
    assert (error["type"], error["code"], error["ref"], error["call_id"]) == (
        "error",
        "not_callee",
        9,
        call_id,
    )
    assert world.store.calls[call_id].state == "ringing"


@pytest.mark.parametrize("action", ["decline", "hangup"])
def test_decline_and_hangup_end_the_call_and_ack(world, action):
    call_id = world.store.add_call(world.alice, world.bob)
    conn = world.join(world.bob)
    world.send(conn, {"type": action, "call_id": call_id, "id": "x"})
    assert conn.sent[-1]["type"] == "ack"
    assert world.store.calls[call_id].state == ENDED


def test_call_control_on_someone_elses_call_is_call_not_found(world):
    call_id = world.store.add_call(world.alice, world.bob)
    conn = world.join(world.carol)
    world.send(conn, {"type": "hangup", "call_id": call_id})
    assert conn.sent[-1]["code"] == "call_not_found"
    assert world.store.calls[call_id].state == "ringing"


def test_stats_are_stored_and_acked(world):
    call_id = world.store.add_call(world.alice, world.bob, state=ACTIVE)
    conn = world.join(world.alice)
    payload = {"path": "relayed", "rtt_ms": 12.5, "junk": "x" * 100}
    world.send(conn, {"type": "stats", "call_id": call_id, "id": "s", "payload": payload})
    assert conn.sent[-1]["type"] == "ack"
    assert world.store.stats[call_id] == {"path": "relayed", "rtt_ms": 12.5}


def active_call(world: World) -> tuple[int, FakeConn, FakeConn]:
    call_id = world.store.add_call(
        world.alice, world.bob, state=ACTIVE, callee_session_id=world.bob.session_id
    )
    return call_id, world.join(world.alice), world.join(world.bob)


def test_offer_is_relayed_with_server_stamped_from_and_spoofed_from_ignored(world):
    call_id, alice, bob = active_call(world)
    world.send(alice, offer(call_id, "bob", **{"from": "mallory"}))
    relayed = bob.sent[-1]
    assert relayed == {
        "type": "offer",
        "call_id": call_id,
        "from": "alice",
        "seq": 1,
        "payload": {"type": "offer", "sdp": "v=0\r\n"},
    }
    assert not alice.of_type("error") and not alice.of_type("offer")  # no error, no echo


def test_candidates_keep_their_order_and_sequence_and_null_ends_them(world):
    call_id, alice, bob = active_call(world)
    world.send(alice, offer(call_id, "bob"))
    for index in range(3):
        candidate = {"candidate": f"candidate:{index} 1 UDP 1 192.0.2.1 {5000 + index} typ host"}
        world.send(
            alice, {"type": "candidate", "call_id": call_id, "to": "bob", "payload": candidate}
        )
    world.send(alice, {"type": "candidate", "call_id": call_id, "to": "bob", "payload": None})
    world.send(
        bob,
        {
            "type": "answer",
            "call_id": call_id,
            "to": "alice",
            "payload": {"type": "answer", "sdp": "v=0"},
        },
    )
    assert [m["seq"] for m in bob.sent[1:]] == [1, 2, 3, 4, 5]
    assert [m["payload"]["candidate"].split()[0] for m in bob.of_type("candidate")[:3]] == [
        "candidate:0",
        "candidate:1",
        "candidate:2",
    ]
    assert bob.of_type("candidate")[-1]["payload"] is None
    assert alice.of_type("answer")[0]["seq"] == 1  # each sender counts on its own


def test_offer_from_non_member_is_rejected_and_nothing_is_delivered(world):
    call_id, alice, bob = active_call(world)
    carol = world.join(world.carol)
    world.send(carol, offer(call_id, "bob", id=7))
    error = carol.sent[-1]
    assert (error["code"], error["ref"], error["call_id"]) == ("not_a_participant", 7, call_id)
    assert bob.types() == ["welcome"]


def test_offer_to_someone_outside_the_call_is_rejected(world):
    call_id, alice, _bob = active_call(world)
    carol = world.join(world.carol)
    world.send(alice, offer(call_id, "carol"))
    assert alice.sent[-1]["code"] == "not_a_participant"
    assert carol.types() == ["welcome"]


def test_offer_for_unknown_call_is_not_a_participant(world):
    alice = world.join(world.alice)
    world.send(alice, offer(999, "bob"))
    assert alice.sent[-1]["code"] == "not_a_participant"


@pytest.mark.parametrize("state", ["ringing", "ended"])
def test_offer_outside_an_active_call_is_call_not_active(world, state):
    call_id = world.store.add_call(world.alice, world.bob, state=state)
    alice, bob = world.join(world.alice), world.join(world.bob)
    world.send(alice, offer(call_id, "bob"))
    assert alice.sent[-1]["code"] == "call_not_active"
    assert bob.types() == ["welcome"]


def test_offer_from_the_users_other_device_is_wrong_device(world):
    call_id, _alice, bob = active_call(world)
    laptop = world.join(world.bob_laptop)
    world.send(
        laptop, {"type": "answer", "call_id": call_id, "to": "alice", "payload": {"sdp": "x"}}
    )
    assert laptop.sent[-1]["code"] == "wrong_device"


def test_relay_reaches_only_the_recipients_device_in_the_call(world):
    call_id, alice, bob = active_call(world)
    laptop = world.join(world.bob_laptop)
    world.send(alice, offer(call_id, "bob"))
    assert bob.types()[-1] == "offer"
    assert laptop.types() == ["welcome"]


def test_relaying_many_messages_reads_the_call_from_the_store_at_most_once(world):
    call_id = world.store.add_call(
        world.alice, world.bob, state=ACTIVE, callee_session_id=world.bob.session_id
    )
    world.services.calls = type(world.services.calls)(world.store.membership)
    alice, bob = world.join(world.alice), world.join(world.bob)
    world.services.calls = type(world.services.calls)(world.store.membership)  # cold cache
    loads_before = world.store.loads
    for _ in range(50):
        world.send(alice, offer(call_id, "bob"))
    assert world.store.loads - loads_before == 1
    assert len(bob.of_type("offer")) == 50


def test_a_failing_handler_answers_internal_error_and_keeps_the_connection(world):
    alice = world.join(world.alice)

    def broken(*_args):
        raise RuntimeError("boom")

    world.store.record_stats = broken  # type: ignore[method-assign]
    world.send(alice, {"type": "stats", "call_id": 5, "id": "s", "payload": {"path": "direct"}})
    assert alice.sent[-1]["code"] == "internal_error"
    assert alice.closed is None


def test_a_database_that_cannot_be_reached_is_database_unavailable_not_a_fault(world, caplog):
    """Call control during a database outage: a clear error, the connection stays, and the
    outage log has one line however many messages fail (no traceback per message)."""
    alice = world.join(world.alice)

    def down(*_args, **_kwargs):
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("database is down"))

    world.store.start_call = world.store.call_action = down
    for payload in (
        {"type": "call", "to": "bob", "id": "c"},
        {"type": "accept", "call_id": 7, "id": "a"},
        {"type": "hangup", "call_id": 7, "id": "h"},
    ):
        world.send(alice, payload)
        reply = alice.sent[-1]
        assert (reply["type"], reply["code"], reply["ref"]) == (
            "error",
            "database_unavailable",
            payload["id"],
        )
    assert alice.closed is None
    assert world.services.database.down
    assert "Traceback" not in caplog.text and "handler.failed" not in caplog.text
    assert caplog.text.count("outage.start") == 1
