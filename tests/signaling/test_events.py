"""The outbox relay: each event kind becomes the documented messages for the right devices."""

from __future__ import annotations

import pytest

from signaling.errors import CloseCode
from signaling.handlers import dispatch
from signaling.outbox.tail import OutboxRelay
from signaling.state.call_cache import ACTIVE
from signaling.state.store import OutboxEvent
from tests.signaling.fakes import FakeConn, make_services, message


@pytest.fixture
def setup():
    services, store, timers = make_services()
    people = {
        "alice": store.user("alice", 1, 11),
        "bob_phone": store.user("bob", 2, 21),
        "bob_laptop": store.user("bob", 2, 22),
        "carol": store.user("carol", 3, 31),
    }
    conns = {}
    for name, who in people.items():
        conn = FakeConn()
        dispatch(
            services,
            conn,
            message({"type": "hello", "token": f"token-{who.username}-{who.session_id}"}),
        )
        conn.sent.clear()
        conns[name] = conn
    relay = OutboxRelay(services)
    relay.start()
    return services, store, timers, people, conns, relay


def publish(store, kind, call_id, data, user_ids=(1, 2)):
    event_id = max((e.id for e in store.events), default=0) + 1
    store.events.append(OutboxEvent(event_id, kind, call_id, list(user_ids), data))
    return event_id


def record(call_id, state, **extra):
    return {"id": call_id, "state": state, "caller": "alice", "callee": "bob", **extra}


def test_relay_starts_after_the_newest_event(setup):
    services, store, _t, people, conns, _relay = setup
    call_id = store.add_call(people["alice"], people["bob_phone"])
    publish(store, "call.ringing", call_id, {"call": record(call_id, "ringing")})
    late = OutboxRelay(services)
    late.start()
    assert late.poll_once() == 0
    assert conns["bob_phone"].sent == []


def test_ringing_goes_to_every_callee_device_and_the_caller(setup):
    _s, store, _t, people, conns, relay = setup
    call_id = store.add_call(people["alice"], people["bob_phone"])
    publish(
        store,
        "call.ringing",
        call_id,
        {"call": record(call_id, "ringing"), "caller_session_id": 11},
    )
    assert relay.poll_once() == 1
    for device in ("bob_phone", "bob_laptop"):
        (incoming,) = conns[device].sent
        assert (incoming["type"], incoming["call_id"], incoming["from"]) == (
            "incoming",
            call_id,
            "alice",
        )
    assert conns["alice"].types() == ["ringing"]
    assert conns["carol"].sent == []


def test_accepted_goes_to_caller_and_answering_device_and_answered_elsewhere_to_the_rest(setup):
    services, store, _t, people, conns, relay = setup
    call_id = store.add_call(people["alice"], people["bob_phone"])
    store.calls[call_id].state, store.calls[call_id].callee_session_id = ACTIVE, 22
    data = {"call": record(call_id, "active"), "caller_session_id": 11, "callee_session_id": 22}
    publish(store, "call.accepted", call_id, {**data, "merged": True})
    relay.poll_once()
    assert conns["alice"].sent[0]["type"] == "accepted" and conns["alice"].sent[0]["merged"] is True
    assert conns["bob_laptop"].types() == ["accepted"]
    assert conns["bob_phone"].types() == ["answered_elsewhere"]
    assert services.calls.peek(call_id).state == ACTIVE


@pytest.mark.parametrize(
    ("kind", "sent"),
    [
        ("call.declined", "declined"),
        ("call.cancelled", "cancelled"),
        ("call.missed", "missed"),
        ("call.busy", "busy"),
        ("call.ended", "ended"),
    ],
)
def test_end_events_reach_both_sides_and_close_the_relay(setup, kind, sent):
    services, store, _t, people, conns, relay = setup
    call_id = store.add_call(
        people["alice"], people["bob_phone"], state=ACTIVE, callee_session_id=21
    )
    services.calls.get(call_id)
    publish(store, kind, call_id, {"call": record(call_id, "ended", end_reason=sent)})
    relay.poll_once()
    for device in ("alice", "bob_phone", "bob_laptop"):
        assert conns[device].types() == [sent]
    # the cached membership now says ended: a relay is refused without asking the store
    loads = store.loads
    dispatch(
        services,
        conns["alice"],
        message({"type": "offer", "call_id": call_id, "to": "bob", "payload": {"sdp": ""}}),
    )
    assert conns["alice"].sent[-1]["code"] == "call_not_active"
    assert store.loads == loads


def test_session_revoked_tells_then_closes_only_those_sessions_with_4003(setup):
    services, store, _t, _people, conns, relay = setup
    publish(store, "session.revoked", None, {"session_ids": [21], "reason": "logout"}, user_ids=[2])
    relay.poll_once()
    assert conns["bob_phone"].sent == [{"type": "session_revoked", "reason": "logout"}]
    assert conns["bob_phone"].closed == (CloseCode.SESSION_REVOKED, "logout")
    assert conns["bob_laptop"].closed is None
    assert 21 in services.revoked


def test_a_failing_event_does_not_stop_the_next_one(setup):
    _s, store, _t, people, conns, relay = setup
    call_id = store.add_call(people["alice"], people["bob_phone"])
    publish(store, "call.ringing", call_id, {"no_call_record": True})
    publish(store, "session.revoked", None, {"session_ids": [31], "reason": "logout"}, user_ids=[3])
    assert relay.poll_once() == 2
    assert conns["carol"].closed is not None


def test_an_id_committed_late_is_still_delivered(setup):
    _s, store, _t, people, conns, relay = setup
    store.events.append(
        OutboxEvent(3, "session.revoked", None, [3], {"session_ids": [31], "reason": "x"})
    )
    relay.poll_once()  # ids 1 and 2 are not visible yet: remembered as gaps
    assert relay.last_id == 3
    store.events.append(
        OutboxEvent(2, "session.revoked", None, [1], {"session_ids": [11], "reason": "y"})
    )
    relay.poll_once()
    assert conns["alice"].closed is not None
    assert relay.poll_once() == 0  # delivered once only


def test_unknown_event_kinds_are_ignored(setup):
    _s, store, _t, _people, conns, relay = setup
    publish(store, "webhook.delivered", None, {})
    assert relay.poll_once() == 1
    assert all(conn.sent == [] for conn in conns.values())


def test_a_new_call_is_learned_from_its_event_without_a_database_read(setup):
    services, store, _t, people, conns, relay = setup
    call_id = store.add_call(people["alice"], people["bob_phone"])
    data = {"call": record(call_id, "ringing"), "caller_id": 1, "callee_id": 2,
            "caller_session_id": 11, "callee_session_id": None}  # fmt: skip
    publish(store, "call.ringing", call_id, data)
    relay.poll_once()
    assert store.loads == 0
    assert conns["bob_phone"].types() == ["incoming"] and conns["alice"].types() == ["ringing"]
    cached = services.calls.peek(call_id)
    assert (cached.caller_id, cached.callee_id, cached.caller, cached.callee) == (
        1, 2, "alice", "bob",
    )  # fmt: skip
    assert cached.caller_session_id == 11 and cached.state == "ringing"


def test_an_event_without_participant_ids_reads_the_call_once(setup):
    services, store, _t, people, conns, relay = setup
    call_id = store.add_call(people["alice"], people["bob_phone"])
    publish(store, "call.ringing", call_id, {"call": record(call_id, "ringing")})
    relay.poll_once()
    assert store.loads == 1
    assert conns["bob_phone"].types() == ["incoming"]
