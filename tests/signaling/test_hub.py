"""The in-memory hub: indexes by user and session, and delivery that survives a bad socket."""

from __future__ import annotations

import pytest

from signaling.state.hub import InMemoryHub, Target
from signaling.state.store import Identity
from tests.signaling.fakes import FakeConn

ALICE_PHONE = Identity(1, "alice", "Alice", 11)
ALICE_LAPTOP = Identity(1, "alice", "Alice", 12)
BOB = Identity(2, "bob", "Bob", 21)
PING = {"type": "pong"}


@pytest.fixture
def hub() -> InMemoryHub:
    return InMemoryHub("node-a")


def test_add_and_remove_track_counts_per_user_and_session(hub):
    phone, phone2, laptop = FakeConn(ALICE_PHONE), FakeConn(ALICE_PHONE), FakeConn(ALICE_LAPTOP)
    assert [hub.add(phone), hub.add(phone2), hub.add(laptop)] == [1, 2, 3]
    assert hub.count_session(11) == 2 and hub.count_session(12) == 1
    assert hub.remove(phone) == 2
    assert hub.remove(phone) == 2  # idempotent
    assert hub.remove(phone2) == 1 and hub.count_session(11) == 0
    assert hub.remove(laptop) == 0
    assert len(hub) == 0 and hub.connections_of_user(1) == []


def test_send_to_user_reaches_every_device_of_that_user_only(hub):
    phone, laptop, bob = FakeConn(ALICE_PHONE), FakeConn(ALICE_LAPTOP), FakeConn(BOB)
    for conn in (phone, laptop, bob):
        hub.add(conn)
    assert hub.send_to_user(1, PING) == 2
    assert phone.sent == laptop.sent == [PING] and bob.sent == []


def test_send_to_one_session_or_all_but_one(hub):
    phone, laptop = FakeConn(ALICE_PHONE), FakeConn(ALICE_LAPTOP)
    hub.add(phone)
    hub.add(laptop)
    assert hub.send_to_user(1, {"type": "pong", "ref": "only"}, session_id=12) == 1
    assert hub.send_to_user(1, {"type": "pong", "ref": "others"}, except_session_id=12) == 1
    assert [m["ref"] for m in laptop.sent] == ["only"]
    assert [m["ref"] for m in phone.sent] == ["others"]


def test_session_filter_never_reaches_another_users_session(hub):
    bob = FakeConn(BOB)
    hub.add(bob)
    assert hub.send_to_user(1, PING, session_id=21) == 0
    assert bob.sent == []


def test_send_to_session_can_close_the_sockets_after_the_message(hub):
    phone, laptop = FakeConn(ALICE_PHONE), FakeConn(ALICE_LAPTOP)
    hub.add(phone)
    hub.add(laptop)
    message = {"type": "session_revoked", "reason": "logout"}
    assert hub.send_to_session(11, message, close_code=4003) == 1
    assert phone.sent == [message] and phone.closed == (4003, "logout")
    assert laptop.sent == [] and laptop.closed is None


def test_a_failing_connection_does_not_stop_delivery_to_the_others(hub):
    broken, fine = FakeConn(ALICE_PHONE), FakeConn(ALICE_LAPTOP)

    def explode(message):
        raise OSError("socket gone")

    broken.send = explode  # type: ignore[method-assign]
    hub.add(broken)
    hub.add(fine)
    assert hub.send_to_user(1, PING) == 1
    assert fine.sent == [PING]


def test_emit_is_the_single_delivery_entry_point_for_subclasses():
    published = []

    class RecordingHub(InMemoryHub):
        def emit(self, target, message):
            published.append((target, message))
            return super().emit(target, message)

    hub = RecordingHub("node-b")
    hub.add(FakeConn(BOB))
    hub.send_to_user(2, PING, session_id=21)
    hub.send_to_session(21, PING)
    assert published == [(Target(2, 21, None), PING), (Target(session_id=21), PING)]


def test_a_connection_that_leaves_during_delivery_does_not_break_it(hub):
    # The one-user fast path iterates the user's index: a send that makes another of the
    # user's connections leave (a close whose reader unregisters at once) must not change
    # what it iterates.
    phone, phone2, laptop = FakeConn(ALICE_PHONE), FakeConn(ALICE_PHONE), FakeConn(ALICE_LAPTOP)
    for conn in (phone, phone2, laptop):
        hub.add(conn)

    def send_and_drop_the_others(message):
        phone.sent.append(message)
        hub.remove(phone2)
        hub.remove(laptop)
        return True

    phone.send = send_and_drop_the_others  # type: ignore[method-assign]
    assert hub.send_to_user(1, PING) == 3  # each was live when the delivery began
    assert hub.send_to_user(1, PING, session_id=11) == 1
    assert len(phone.sent) == 2 and hub.count_user(1) == 1
