"""Chat, media state, hands and reactions, with fake connections: who may send, who gets
them, what the server stamps, and what is refused."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from signaling.errors import MessageError
from signaling.handlers import dispatch
from signaling.protocol import MAX_CHAT_LENGTH, check_server_message, error_message
from signaling.state.call_cache import ACTIVE, ENDED, RINGING
from signaling.state.services import Services
from signaling.state.store import Identity
from tests.signaling.fakes import FakeConn, FakeStore, make_services, message

MEETING = 5


@dataclass
class World:
    services: Services
    store: FakeStore
    people: dict[str, Identity]

    def join(self, name: str, session_id: int | None = None) -> FakeConn:
        who = self.people[name]
        conn = FakeConn()
        token = f"token-{who.username}-{session_id or who.session_id}"
        dispatch(self.services, conn, message({"type": "hello", "token": token}))
        assert conn.types()[-1] == "welcome", conn.sent
        conn.sent.clear()
        return conn

    def send(self, conn: FakeConn, payload: dict) -> dict | None:
        """Parse and dispatch as the daemon does; the sender's reply (ack or error), if any."""
        before = len(conn.sent)
        try:
            parsed = message(payload)
        except MessageError as exc:  # the daemon answers a bad message with this error
            return error_message(exc.code, exc.message, ref=exc.ref, call_id=exc.call_id)
        dispatch(self.services, conn, parsed)
        return conn.sent[-1] if len(conn.sent) > before else None

    def meeting(self, *names: str, host: str, waiting: tuple[str, ...] = ()) -> None:
        seats = [
            {
                "user_id": self.people[n].user_id,
                "username": n,
                "session_id": self.people[n].session_id,
                "state": "waiting" if n in waiting else "admitted",
            }
            for n in (*names, *waiting)
        ]
        host_id = self.people[host].user_id
        data = {"meeting_id": MEETING, "state": "open", "host_id": host_id, "seats": seats}
        self.services.rooms.apply(data)


@pytest.fixture
def world() -> World:
    services, store, _timers = make_services(max_connections_per_user=3)
    people = {
        name: store.user(name, i, 10 * i + 1)
        for i, name in enumerate(("alice", "bob", "carol", "dave"), start=1)
    }
    store.user("bob", 2, 22)  # bob's laptop
    return World(services, store, people)


def active_call(world: World, caller: str = "alice", callee: str = "bob") -> int:
    p = world.people
    return world.store.add_call(
        p[caller], p[callee], state=ACTIVE, callee_session_id=p[callee].session_id
    )


def test_chat_in_a_call_reaches_the_peers_device_with_server_stamped_sender(world):
    call_id = active_call(world)
    alice, bob, bob_laptop = world.join("alice"), world.join("bob"), world.join("bob", 22)
    reply = world.send(
        alice,
        {"type": "chat", "call_id": call_id, "text": "hi <b>", "from": "carol", "id": "m1"},
    )
    assert (reply["type"], reply["ref"], reply["call_id"]) == ("ack", "m1", call_id)
    [got] = bob.of_type("chat")
    assert got["from"] == "alice" and got["name"] == "Alice"
    assert got["text"] == "hi <b>"
    assert got["call_id"] == call_id and got["at"] == reply["at"]
    assert bob_laptop.of_type("chat") == []  # not the device in the call
    assert alice.of_type("chat") == []


def test_chat_from_a_non_participant_is_refused_and_nothing_is_delivered(world):
    call_id = active_call(world)
    bob, carol = world.join("bob"), world.join("carol")
    reply = world.send(carol, {"type": "chat", "call_id": call_id, "text": "psst"})
    assert (reply["type"], reply["code"]) == ("error", "not_a_participant")
    assert bob.of_type("chat") == []


@pytest.mark.parametrize("state", [RINGING, ENDED])
def test_chat_outside_an_active_call_is_call_not_active(world, state):
    call_id = world.store.add_call(world.people["alice"], world.people["bob"], state=state)
    alice = world.join("alice")
    reply = world.send(alice, {"type": "chat", "call_id": call_id, "text": "hello?"})
    assert reply["code"] in ("call_not_active", "not_a_participant")


def test_chat_from_the_users_other_device_is_wrong_device(world):
    call_id = active_call(world, caller="alice", callee="bob")
    alice, bob_laptop = world.join("alice"), world.join("bob", 22)
    reply = world.send(bob_laptop, {"type": "chat", "call_id": call_id, "text": "me too"})
    assert reply["code"] == "wrong_device"
    assert alice.of_type("chat") == []


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("x" * (MAX_CHAT_LENGTH + 1), "text_too_long"),
        ("nul\x00byte", "invalid_message"),
        ("bell\x07", "invalid_message"),
        ("c1\x9b31m", "invalid_message"),
        ("", "invalid_message"),
        ("   ", "invalid_message"),
        (42, "invalid_message"),
    ],
    ids=["too-long", "nul", "bell", "c1-csi", "empty", "blank", "number"],
)
def test_bad_chat_text_is_refused_with_a_clear_code_and_not_delivered(world, text, code):
    call_id = active_call(world)
    alice, bob = world.join("alice"), world.join("bob")
    reply = world.send(alice, {"type": "chat", "call_id": call_id, "text": text, "id": 3})
    assert (reply["type"], reply["code"], reply["ref"]) == ("error", code, 3)
    assert bob.of_type("chat") == []


def test_chat_of_exactly_the_limit_with_line_breaks_is_delivered(world):
    call_id = active_call(world)
    alice, bob = world.join("alice"), world.join("bob")
    text = "line\n\tindented " + "y" * (MAX_CHAT_LENGTH - 15)
    assert len(text) == MAX_CHAT_LENGTH
    world.send(alice, {"type": "chat", "call_id": call_id, "text": text})
    assert bob.of_type("chat")[0]["text"] == text


def test_meeting_chat_reaches_every_admitted_participant_but_not_the_waiting(world):
    world.meeting("alice", "bob", "carol", host="alice", waiting=("dave",))
    conns = {name: world.join(name) for name in ("alice", "bob", "carol", "dave")}
    world.send(conns["bob"], {"type": "chat", "meeting_id": MEETING, "text": "agenda?"})
    for name in ("alice", "carol"):
        [got] = conns[name].of_type("chat")
        assert (got["from"], got["meeting_id"], got["text"]) == ("bob", MEETING, "agenda?")
    assert conns["dave"].sent == []
    assert conns["bob"].types() == ["ack"]


def test_meeting_chat_from_someone_waiting_is_refused(world):
    world.meeting("alice", host="alice", waiting=("dave",))
    alice, dave = world.join("alice"), world.join("dave")
    reply = world.send(dave, {"type": "chat", "meeting_id": MEETING, "text": "let me in"})
    assert reply["code"] == "not_a_participant"
    assert alice.sent == []


def test_media_state_is_relayed_with_the_senders_name(world):
    world.meeting("alice", "bob", host="alice")
    alice, bob = world.join("alice"), world.join("bob")
    payload = {"type": "media_state", "meeting_id": MEETING, "audio": False, "video": True}
    assert world.send(bob, {**payload, "from": "alice"}) is None
    [got] = alice.of_type("media_state")
    assert (got["from"], got["audio"], got["video"]) == ("bob", False, True)


def test_media_state_in_a_call_reaches_the_peer(world):
    call_id = active_call(world)
    alice, bob = world.join("alice"), world.join("bob")
    world.send(bob, {"type": "media_state", "call_id": call_id, "audio": True, "video": False})
    [got] = alice.of_type("media_state")
    assert (got["call_id"], got["from"], got["video"]) == (call_id, "bob", False)


def test_media_state_screen_is_relayed_only_when_the_sender_says_it(world):
    call_id = active_call(world)
    alice, bob = world.join("alice"), world.join("bob")
    state = {"type": "media_state", "call_id": call_id, "audio": True, "video": True}
    world.send(bob, {**state, "screen": True})
    world.send(bob, state)
    sharing, silent = alice.of_type("media_state")
    assert sharing["screen"] is True
    assert "screen" not in silent
    assert check_server_message(sharing) == []


def test_raised_hand_is_shown_to_everyone_including_the_sender(world):
    world.meeting("alice", "bob", "carol", host="alice")
    conns = {name: world.join(name) for name in ("alice", "bob", "carol")}
    world.send(conns["bob"], {"type": "hand", "meeting_id": MEETING, "raised": True})
    for conn in conns.values():
        [got] = conn.of_type("hand")
        assert (got["user"], got["raised"], got["by"]) == ("bob", True, "bob")


def test_the_host_lowers_someone_elses_hand(world):
    world.meeting("alice", "bob", host="alice")
    alice, bob = world.join("alice"), world.join("bob")
    world.send(alice, {"type": "hand", "meeting_id": MEETING, "raised": False, "user": "bob"})
    [got] = bob.of_type("hand")
    assert (got["user"], got["raised"], got["by"]) == ("bob", False, "alice")


def test_only_the_host_lowers_someone_elses_hand(world):
    world.meeting("alice", "bob", "carol", host="alice")
    alice, bob, carol = world.join("alice"), world.join("bob"), world.join("carol")
    hand = {"type": "hand", "meeting_id": MEETING, "raised": False, "user": "bob"}
    assert world.send(carol, hand)["code"] == "not_host"
    raise_it = {**hand, "raised": True}
    assert world.send(alice, raise_it)["code"] == "invalid_message"
    assert world.send(alice, {**hand, "user": "nobody"})["code"] == "not_a_participant"
    assert alice.of_type("hand") == bob.of_type("hand") == carol.of_type("hand") == []


def test_reaction_from_the_fixed_set_reaches_the_others(world):
    world.meeting("alice", "bob", host="alice")
    alice, bob = world.join("alice"), world.join("bob")
    world.send(alice, {"type": "reaction", "meeting_id": MEETING, "emoji": "🎉"})
    assert [(m["from"], m["emoji"]) for m in bob.of_type("reaction")] == [("alice", "🎉")]
    reply = world.send(alice, {"type": "reaction", "meeting_id": MEETING, "emoji": "<img>"})
    assert reply["code"] == "invalid_message"
    assert len(bob.of_type("reaction")) == 1


def test_hand_and_reaction_are_meeting_only(world):
    call_id = active_call(world)
    alice = world.join("alice")
    reply = world.send(alice, {"type": "reaction", "call_id": call_id, "emoji": "👍"})
    assert (reply["type"], reply["code"]) == ("error", "invalid_message")


def test_a_flood_of_chat_is_bounded_per_connection_and_the_connection_stays(world):
    call_id = active_call(world)
    alice, bob = world.join("alice"), world.join("bob")
    codes = [
        (world.send(alice, {"type": "chat", "call_id": call_id, "text": f"{i}"}) or {}).get("code")
        for i in range(100)
    ]
    delivered = len(bob.of_type("chat"))
    # the burst of 30 (plus what refilled at 5 a second while the loop ran) gets through
    assert 30 <= delivered <= 40, delivered
    assert codes.count("rate_limited") == 100 - delivered
    assert alice.closed is None
