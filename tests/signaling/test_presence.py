"""Reconnect grace and presence pushes, with fake timers (no waiting)."""

from __future__ import annotations

import pytest

from signaling.handlers import dispatch
from signaling.state.call_cache import ACTIVE
from tests.signaling.fakes import FakeConn, make_services, message


@pytest.fixture
def call():
    services, store, timers = make_services(reconnect_grace=30)
    alice, bob, bob_laptop = (
        store.user("alice", 1, 11),
        store.user("bob", 2, 21),
        store.user("bob", 2, 22),
    )
    call_id = store.add_call(alice, bob, state=ACTIVE, callee_session_id=21)

    def join(who):
        conn = FakeConn()
        dispatch(
            services,
            conn,
            message({"type": "hello", "token": f"token-{who.username}-{who.session_id}"}),
        )
        return conn

    def leave(conn):
        remaining = services.hub.remove(conn)
        services.presence.disconnected(
            conn, store.disconnect(conn.conn_id, conn.user_id), remaining == 0
        )

    return services, store, timers, call_id, join, leave, (alice, bob, bob_laptop)


def test_callee_dropping_tells_caller_and_ends_the_call_after_the_grace(call):
    services, store, timers, call_id, join, leave, (alice, bob, _l) = call
    a, b = join(alice), join(bob)
    leave(b)
    disconnected = a.of_type("peer_disconnected")[-1]
    assert disconnected == {
        "type": "peer_disconnected",
        "call_id": call_id,
        "user": "bob",
        "grace_seconds": 30,
    }
    assert a.of_type("presence")[-1]["presence"] == "offline"
    (timer,) = timers.live()
    assert timer.delay == 30
    timers.fire_all()
    assert store.lost == [(call_id, bob.user_id)]


def test_coming_back_within_the_grace_keeps_the_call(call):
    services, store, timers, call_id, join, leave, (alice, bob, _l) = call
    a, b = join(alice), join(bob)
    leave(b)
    join(bob)
    assert a.of_type("peer_reconnected") == [
        {"type": "peer_reconnected", "call_id": call_id, "user": "bob"}
    ]
    assert a.of_type("presence")[-1]["presence"] == "in_call"
    assert timers.live() == []
    assert store.lost == []


def test_a_device_not_in_the_call_dropping_changes_nothing(call):
    services, store, timers, call_id, join, leave, (alice, bob, laptop) = call
    a, _b = join(alice), join(bob)
    leave(join(laptop))
    assert a.of_type("peer_disconnected") == []
    assert timers.live() == []


def test_another_device_coming_back_does_not_cancel_the_grace(call):
    services, store, timers, call_id, join, leave, (alice, bob, laptop) = call
    a, b = join(alice), join(bob)
    leave(b)
    join(laptop)
    assert a.of_type("peer_reconnected") == []
    timers.fire_all()
    assert store.lost == [(call_id, bob.user_id)]


def test_grace_expiry_does_nothing_if_the_device_is_on_another_daemon(call):
    services, store, timers, call_id, join, leave, (alice, bob, _l) = call
    join(alice)
    leave(join(bob))
    store.elsewhere.add((bob.user_id, bob.session_id))
    timers.fire_all()
    assert store.lost == []


def test_an_ended_call_cancels_its_grace_timers(call):
    services, store, timers, call_id, join, leave, (alice, bob, _l) = call
    join(alice)
    leave(join(bob))
    services.presence.call_ended(call_id)
    assert timers.live() == []


def test_after_a_restart_absent_participants_get_the_grace(call):
    services, store, timers, call_id, join, leave, (alice, bob, _l) = call
    services.presence.watch_after_restart([store.membership(call_id)])
    assert len(timers.live()) == 2
    join(alice)
    assert len(timers.live()) == 1
    timers.fire_all()
    assert store.lost == [(call_id, bob.user_id)]
