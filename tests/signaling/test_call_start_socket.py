"""Starting a call over the signaling socket (`{"type": "call", "to": ...}`), on a real stack.

What this file proves, through gunicorn and the daemon as subprocesses (SQLite, or
PostgreSQL with CHIMECAST_TEST_DATABASE_URL):

- a socket `call` is POST /call/start from that connection's device: the same record, the
  same `incoming`/`ringing` events, the same outcomes (ringing, existing, merged on glare)
  and the same refusal codes, with the recorded call's id when a refusal records one;
- the call's caller device is the starting connection: only it may negotiate;
- a malformed `to` is `invalid_message` and records nothing; a `call` before `hello`
  closes 4001 like any other first message; every refusal leaves the connection open;
- socket and HTTP starts share ONE CALL_START_LIMIT, exact under a race between both;
- 200 pipelined `call` frames each get exactly one reply, in order, never ring twice,
  and the per-connection message rate limit applies to `call` as to everything else;
- a deleted account's name, registered again, rings the new account only.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from app.config import normalize_database_url
from tests.conftest import PASSWORD
from tests.signaling.conftest import Live, Person, live_system
from tests.signaling.test_live_calls import SDP, assert_nothing_more, ring_and_answer
from tests.signaling.wsclient import RawClient

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

CALL_START_LIMIT = 5
MESSAGE_BURST = 300  # over LIVE_ENV's 40: room for 200 pipelined frames (see the flood test)
ENV = {  # over LIVE_ENV (RING_TIMEOUT 4 s, MESSAGE_RATE 20/s)
    "CHIMECAST_CALL_START_LIMIT": str(CALL_START_LIMIT),
    "CHIMECAST_MESSAGE_BURST": str(MESSAGE_BURST),
}
_refs = itertools.count(1)


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory) -> Iterator[Live]:
    """This module's stack (conftest's `live` fixture runs on it). One stack only: on
    PostgreSQL every stack empties the same database when it starts."""
    with live_system(tmp_path_factory, "callstart", **ENV) as running:
        yield running


# -- helpers ------------------------------------------------------------------------------
def reply_to(client: RawClient, ref: Any, timeout: float = 10) -> dict[str, Any]:
    """The `ack` or `error` answering the message `ref`; anything else goes to `skipped`."""
    deadline = time.monotonic() + timeout
    while True:
        message = client.recv(max(0.01, deadline - time.monotonic()))
        if message["type"] in ("ack", "error") and message.get("ref") == ref:
            return message
        client.skipped.append(message)


def pushed(client: RawClient, kind: str, **match: Any) -> dict[str, Any]:
    """The event `kind` (matching `match`), also if it came before a reply that `reply_to`
    read past: an event is pushed once the start commits, maybe before its ack or error."""
    for message in client.skipped:
        if message["type"] == kind and all(message.get(k) == v for k, v in match.items()):
            client.skipped.remove(message)
            return message
    return client.expect(kind, **match)


def call(client: RawClient, callee: Person | str, ref: Any = None) -> dict[str, Any]:
    """Send a socket `call` and return its reply."""
    ref = ref if ref is not None else f"c{next(_refs)}"
    to = callee.name if isinstance(callee, Person) else callee
    client.send({"type": "call", "to": to, "id": ref})
    return reply_to(client, ref)


def refused(
    client: RawClient, callee: Person | str, code: str, recorded: bool = False
) -> dict[str, Any]:
    """A socket `call` refused with `code` (naming the call it recorded, if `recorded`, and
    none otherwise); the connection still answers a ping."""
    reply = call(client, callee)
    assert reply["type"] == "error", reply
    assert reply["code"] == code, reply
    assert reply["message"], reply
    assert ("call_id" in reply) is recorded, reply
    assert_still_open(client)
    return reply


def assert_still_open(client: RawClient) -> None:
    ref = f"alive{next(_refs)}"
    client.send({"type": "ping", "id": ref})
    client.expect("pong", ref=ref)


def calls_of(person: Person) -> list[dict[str, Any]]:
    """The person's call history (GET /calls), newest first."""
    headers = {"Authorization": f"Bearer {person.token}"}
    response = requests.get(f"{person.web_url}/calls?per_page=100", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def started_by(person: Person) -> list[dict[str, Any]]:
    return [c for c in calls_of(person) if c["caller"] == person.name]


def http_start_error(person: Person, callee: str) -> str:
    """The error code POST /call/start answers for `callee` (for parity checks)."""
    response = person.post("/call/start", {"callee": callee})
    assert response.status_code >= 400, response.text
    return response.json()["error"]


def set_disabled(live: Live, username: str) -> None:
    """Disable an account in the database only: no session is revoked, no socket closed
    (what the admin CLI does next; a socket call can arrive in between)."""
    engine = create_engine(normalize_database_url(live.stack.database_url))
    try:
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE users SET is_disabled = :yes WHERE username = :name"),
                {"yes": True, "name": username},
            )
    finally:
        engine.dispose()


def register(live: Live, name: str) -> Person:
    """An account with exactly this username, logged in."""
    web = live.stack.web_url
    body = {"username": name, "password": PASSWORD}
    response = requests.post(f"{web}/register", json=body, timeout=10)
    assert response.status_code in (200, 201), response.text
    response = requests.post(f"{web}/login", json=body, timeout=10)
    assert response.status_code == 200, response.text
    return Person(name, response.json()["token"], web)


# -- a socket start is an HTTP start ------------------------------------------------------
def test_a_socket_call_rings_every_callee_device_and_the_callers_devices(live):
    alice, bob = live.person("alice"), live.person("bob")
    phone = live.connect(alice)
    laptop = live.connect(live.login_again(alice))  # the starting device: another session
    bob_phone, bob_laptop = live.connect(bob), live.connect(live.login_again(bob))

    ack = call(laptop, bob, "c1")
    assert (ack["type"], ack["ref"], ack["outcome"]) == ("ack", "c1", "ringing"), ack
    call_id = ack["call_id"]
    record = ack["call"]
    assert record["id"] == call_id
    assert (record["state"], record["caller"], record["callee"]) == (
        "ringing",
        alice.name,
        bob.name,
    )
    for device in (bob_phone, bob_laptop):
        incoming = device.expect("incoming", call_id=call_id)
        assert incoming["from"] == alice.name
        assert incoming["call"] == record
    for device in (phone, laptop):
        assert pushed(device, "ringing", call_id=call_id)["call"] == record
    assert alice.get_call(call_id) == record  # the record GET /calls/<id> shows
    assert bob.get_call(call_id) == record


def test_the_starting_connection_is_the_callers_device_in_the_call(live):
    """The recorded caller device is the connection's session: after the answer, an offer
    from the caller's other device is `wrong_device`, from the starting one it is relayed."""
    alice, bob = live.person("alice"), live.person("bob")
    other = live.connect(alice)  # the session POST /call/start would have used
    starter = live.connect(live.login_again(alice))
    b = live.connect(bob)
    call_id = call(starter, bob)["call_id"]
    b.expect("incoming", call_id=call_id)
    b.send({"type": "accept", "call_id": call_id, "id": "acc"})
    assert b.expect("ack", ref="acc")["call"]["state"] == "active"
    pushed(starter, "accepted", call_id=call_id)

    other.send({"type": "offer", "call_id": call_id, "to": bob.name, "payload": SDP, "id": "o1"})
    assert other.expect("error", ref="o1")["code"] == "wrong_device"
    starter.send({"type": "offer", "call_id": call_id, "to": bob.name, "payload": SDP})
    offer = b.expect("offer", call_id=call_id)
    assert (offer["from"], offer["seq"], offer["payload"]) == (alice.name, 1, SDP)
    assert_nothing_more(b, "offer")


def test_calling_again_while_it_rings_is_the_existing_call_and_rings_once(live):
    alice, bob = live.person("alice"), live.person("bob")
    a, b = live.connect(alice), live.connect(bob)
    first = call(a, bob, "first")
    assert first["outcome"] == "ringing"
    b.expect("incoming", call_id=first["call_id"])
    again = call(a, bob, "again")
    assert (again["type"], again["outcome"]) == ("ack", "existing"), again
    assert again["call_id"] == first["call_id"]
    assert again["call"]["state"] == "ringing"
    time.sleep(0.3)  # an extra ring would come through the outbox, after the ack
    assert_nothing_more(b, "incoming")
    assert [c["id"] for c in started_by(alice)] == [first["call_id"]]


def test_calling_back_someone_who_is_ringing_you_merges_into_their_call(live):
    alice, bob = live.person("alice"), live.person("bob")
    a, b = live.connect(alice), live.connect(bob)
    bobs_call = bob.start_call(alice)  # over HTTP
    a.expect("incoming", call_id=bobs_call)
    ack = call(a, bob, "back")
    assert (ack["type"], ack["outcome"], ack["call_id"]) == ("ack", "merged", bobs_call), ack
    assert ack["call"]["state"] == "active"
    for client in (a, b):
        assert pushed(client, "accepted", call_id=bobs_call)["merged"] is True
    # The merged call is live between these two devices: bob (its caller) offers, alice answers.
    b.send({"type": "offer", "call_id": bobs_call, "to": alice.name, "payload": SDP})
    assert a.expect("offer", call_id=bobs_call)["from"] == bob.name
    answer = {"type": "answer", "sdp": "v=0\r\n"}
    a.send({"type": "answer", "call_id": bobs_call, "to": bob.name, "payload": answer})
    assert b.expect("answer", call_id=bobs_call)["from"] == alice.name
    assert [c["id"] for c in calls_of(alice)] == [bobs_call]  # nothing else recorded


# -- refusals: HTTP's codes, the connection stays ----------------------------------------
def test_calling_an_unknown_user_is_user_not_found_and_records_nothing(live):
    alice = live.person("alice")
    a = live.connect(alice)
    refused(a, "nobody-here", "user_not_found")
    assert http_start_error(alice, "nobody-here") == "user_not_found"
    assert calls_of(alice) == []


def test_calling_a_disabled_user_is_user_not_found_and_rings_nothing(live):
    alice, bob = live.person("alice"), live.person("bob")
    a, b = live.connect(alice), live.connect(bob)  # bob's socket stays open: DB-only disable
    set_disabled(live, bob.name)
    refused(a, bob, "user_not_found")
    assert http_start_error(alice, bob.name) == "user_not_found"
    assert_nothing_more(b, "incoming")
    assert calls_of(alice) == []


def test_calling_yourself_in_any_case_is_cannot_call_self(live):
    alice = live.person("alice")
    a = live.connect(alice)
    live.connect(live.login_again(alice))  # another device of hers is online
    refused(a, alice, "cannot_call_self")
    refused(a, alice.name.upper(), "cannot_call_self")  # names are case-insensitive
    assert http_start_error(alice, alice.name) == "cannot_call_self"
    assert calls_of(alice) == []


def test_calling_someone_in_a_call_is_callee_busy_with_the_call_recorded_busy(live):
    alice, bob, carol = live.person("alice"), live.person("bob"), live.person("carol")
    _call_id, _a, b = ring_and_answer(live, alice, bob)
    c = live.connect(carol)
    reply = refused(c, bob, "callee_busy", recorded=True)
    busy_id = reply["call_id"]
    record = carol.get_call(busy_id)
    assert (record["state"], record["end_reason"]) == ("ended", "busy")
    assert (record["caller"], record["callee"]) == (carol.name, bob.name)
    assert pushed(c, "busy", call_id=busy_id)["call"]["end_reason"] == "busy"
    assert b.expect("busy", call_id=busy_id)
    assert [m for m in b.skipped if m["type"] == "incoming"] == []


def test_calling_someone_with_no_device_online_is_callee_offline_and_missed_for_them(live):
    alice, dave = live.person("alice"), live.person("dave")  # dave never connects
    a = live.connect(alice)
    reply = refused(a, dave, "callee_offline", recorded=True)
    offline_id = reply["call_id"]
    assert pushed(a, "missed", call_id=offline_id)["call"]["end_reason"] == "offline"
    seen_by_dave = dave.get_call(offline_id)
    assert (seen_by_dave["state"], seen_by_dave["end_reason"]) == ("ended", "offline")
    assert [c["id"] for c in calls_of(dave)] == [offline_id]


def test_calling_while_in_a_call_is_already_in_call_and_records_nothing(live):
    alice, bob, carol = live.person("alice"), live.person("bob"), live.person("carol")
    call_id, a, _b = ring_and_answer(live, alice, bob)
    c = live.connect(carol)
    refused(a, carol, "already_in_call")
    assert_nothing_more(c, "incoming")
    assert calls_of(carol) == []
    assert [x["id"] for x in calls_of(alice)] == [call_id]
    assert alice.get_call(call_id)["state"] == "active"  # the call in progress is untouched


def test_a_caller_disabled_while_connected_is_unauthorized(live):
    alice, bob = live.person("alice"), live.person("bob")
    a, b = live.connect(alice), live.connect(bob)
    set_disabled(live, alice.name)  # her socket is not closed by this
    refused(a, bob, "unauthorized")
    assert_nothing_more(b, "incoming")
    assert calls_of(bob) == []


MALFORMED = {  # the fields of a `call` to bob (his name given), each one malformed
    "missing": lambda bob: {},
    "number": lambda bob: {"to": 123},
    "empty": lambda bob: {"to": ""},
    "too_long": lambda bob: {"to": "x" * 200},
    "null": lambda bob: {"to": None},
    "list": lambda bob: {"to": [bob]},
    "object": lambda bob: {"to": {"username": bob}},
    "nul_byte": lambda bob: {"to": bob + "\x00"},
}


@pytest.mark.parametrize("fields_for", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_to_is_invalid_message_records_nothing_and_keeps_the_connection(
    live, fields_for
):
    alice, bob = live.person("alice"), live.person("bob")
    a, b = live.connect(alice), live.connect(bob)
    a.send({"type": "call", "id": "bad", **fields_for(bob.name)})
    reply = reply_to(a, "bad")
    assert (reply["type"], reply["code"]) == ("error", "invalid_message"), reply
    assert "call_id" not in reply
    assert_still_open(a)
    assert_nothing_more(b, "incoming")
    assert calls_of(alice) == []


@pytest.mark.parametrize("name", ["bad name!", "x" * 40, "Bob?"])
def test_a_name_no_account_can_have_is_user_not_found_as_over_http(live, name):
    """Well-formed as a field, impossible as a username: the service's answer, both ways."""
    alice = live.person("alice")
    a = live.connect(alice)
    a.send({"type": "call", "to": name, "id": "odd"})
    reply = reply_to(a, "odd")
    assert (reply["type"], reply["code"]) == ("error", "user_not_found"), reply
    assert http_start_error(alice, name) == "user_not_found"
    assert_still_open(a)
    assert calls_of(alice) == []


def test_a_call_before_hello_closes_4001_and_rings_nobody(live):
    bob = live.person("bob")
    b = live.connect(bob)
    client = RawClient.connect(live.url)
    client.send({"type": "call", "to": bob.name, "id": "early"})
    closed = client.wait_closed()
    assert closed.code == 4001, closed
    assert [m for m in client.skipped if m.get("type") == "ack"] == []
    time.sleep(0.3)
    assert_nothing_more(b, "incoming")
    assert calls_of(bob) == []


# -- one start limit, socket and HTTP --------------------------------------------------
def test_socket_and_http_starts_count_against_one_limit(live):
    alice = live.person("alice")
    a = live.connect(alice)
    callees = [live.person("callee") for _ in range(CALL_START_LIMIT + 2)]
    for callee in callees:
        live.connect(callee)
    for callee in callees[:3]:
        assert call(a, callee)["outcome"] == "ringing"
    for callee in callees[3:CALL_START_LIMIT]:
        assert alice.post("/call/start", {"callee": callee.name}).status_code == 201
    over = alice.post("/call/start", {"callee": callees[CALL_START_LIMIT].name})
    assert (over.status_code, over.json()["error"]) == (429, "too_many_calls")
    assert int(over.headers["Retry-After"]) > 0
    refused(a, callees[CALL_START_LIMIT + 1], "too_many_calls")
    assert len(started_by(alice)) == CALL_START_LIMIT


def test_racing_socket_and_http_starts_from_three_devices_record_exactly_the_limit(live):
    """Three devices each pipeline two socket `call`s while six POST /call/start run, all
    at once, each to a different (online) callee: exactly CALL_START_LIMIT ring, every
    other attempt is refused too_many_calls, nothing fails."""
    caller = live.person("racer")
    sessions = [caller, live.login_again(caller), live.login_again(caller)]
    devices = [live.connect(session) for session in sessions]
    callees = [live.person("callee") for _ in range(12)]
    callee_clients = {callee.name: live.connect(callee) for callee in callees}
    names = [callee.name for callee in callees]
    outcomes: dict[str, tuple[str, str, int | None]] = {}  # callee -> (path, outcome, id)
    failures: list[BaseException] = []
    barrier = threading.Barrier(len(devices) + 6)

    def over_socket(device: RawClient, targets: list[str]) -> None:
        try:
            barrier.wait(10)
            for name in targets:
                device.send({"type": "call", "to": name, "id": name})
            for name in targets:
                reply = reply_to(device, name, timeout=30)
                result = reply.get("outcome") if reply["type"] == "ack" else reply["code"]
                outcomes[name] = ("socket", result, reply.get("call_id"))
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    def over_http(session: Person, name: str) -> None:
        try:
            barrier.wait(10)
            response = session.post("/call/start", {"callee": name})
            body = response.json()
            if response.status_code == 201:
                outcomes[name] = ("http", body["outcome"], body["call"]["id"])
            else:
                assert response.status_code == 429, (response.status_code, body)
                assert int(response.headers["Retry-After"]) > 0
                outcomes[name] = ("http", body["error"], body.get("call", {}).get("id"))
        except BaseException as exc:
            failures.append(exc)

    threads = [
        threading.Thread(target=over_socket, args=(device, names[2 * i : 2 * i + 2]))
        for i, device in enumerate(devices)
    ] + [
        threading.Thread(target=over_http, args=(sessions[i % 3], name))
        for i, name in enumerate(names[6:])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert sorted(outcomes) == sorted(names)
    print("race:", sorted(Counter((p, r) for p, r, _id in outcomes.values()).items()))
    tally = Counter(result for _path, result, _id in outcomes.values())
    assert tally == {"ringing": CALL_START_LIMIT, "too_many_calls": 12 - CALL_START_LIMIT}, outcomes
    assert all(call_id is None for _p, result, call_id in outcomes.values() if result != "ringing")
    rang = {
        name: call_id for name, (_p, result, call_id) in outcomes.items() if result == "ringing"
    }
    recorded = started_by(caller)
    assert {c["callee"]: c["id"] for c in recorded} == rang, recorded
    assert {c["state"] for c in recorded} == {"ringing"}
    for name, call_id in rang.items():
        assert callee_clients[name].expect("incoming", call_id=call_id)["from"] == caller.name
    for name in set(names) - set(rang):
        assert_nothing_more(callee_clients[name], "incoming")
    for device in devices:
        assert_still_open(device)


# -- many frames on one connection ---------------------------------------------------------
def test_two_hundred_pipelined_calls_get_one_reply_each_in_order_and_ring_once(live):
    """200 `call` frames sent back to back (within this stack's MESSAGE_BURST), alternating
    between two online callees: one reply per frame, in the order sent; a callee never has
    two calls ringing at once (RING_TIMEOUT is 4 s: a long run may see a call missed and a
    new one ring, and past CALL_START_LIMIT those re-rings are refused too_many_calls)."""
    alice, bob, carol = live.person("alice"), live.person("bob"), live.person("carol")
    a = live.connect(alice)
    callee_clients = {bob.name: live.connect(bob), carol.name: live.connect(carol)}
    targets = [(bob.name, carol.name)[index % 2] for index in range(200)]
    started = time.monotonic()
    for index, name in enumerate(targets):
        a.send({"type": "call", "to": name, "id": index})
    replies = []
    while len(replies) < 200:
        message = a.recv(timeout=30)
        if message["type"] in ("ack", "error"):
            replies.append(message)
        else:
            a.skipped.append(message)
    print(f"200 pipelined calls answered in {time.monotonic() - started:.2f}s")
    assert [reply.get("ref") for reply in replies] == list(range(200))
    errors = Counter(reply["code"] for reply in replies if reply["type"] == "error")
    assert set(errors) <= {"too_many_calls"}, errors

    ringing_now: dict[str, int] = {}  # callee -> the call its acks name
    rang: dict[str, list[int]] = {name: [] for name in callee_clients}
    for name, reply in zip(targets, replies, strict=True):
        if reply["type"] == "error":
            continue
        assert reply["call"]["callee"] == name, reply
        if reply["outcome"] == "ringing":
            assert reply["call_id"] not in rang[name], reply
            rang[name].append(reply["call_id"])
        else:
            assert reply["outcome"] == "existing", reply
            assert reply["call_id"] == ringing_now.get(name), reply
        ringing_now[name] = reply["call_id"]
    recorded = started_by(alice)
    assert sorted(c["id"] for c in recorded) == sorted(sum(rang.values(), []))
    live_per_callee = Counter(c["callee"] for c in recorded if c["state"] == "ringing")
    assert max(live_per_callee.values(), default=0) <= 1, recorded
    for name, client in callee_clients.items():
        assert rang[name], f"nothing rang at {name}"
        for call_id in rang[name]:
            client.expect("incoming", call_id=call_id, timeout=10)
        assert_nothing_more(client, "incoming")
    assert_still_open(a)
    newcomer = live.connect(live.person("newcomer"))  # the daemon serves new connections
    assert newcomer.welcome["type"] == "welcome"


def test_call_frames_past_the_message_burst_are_dropped_rate_limited(live):
    """The per-connection rate limit applies to `call` too: after a burst of pings, the
    `call` frames that find the bucket empty get `rate_limited` (no ref: the message was
    not read) and ring nothing; the connection stays open (drops far under 4008's count)."""
    alice, bob = live.person("alice"), live.person("bob")
    a, b = live.connect(alice), live.connect(bob)
    pings, calls = MESSAGE_BURST + 40, 20  # more pings than the bucket holds
    for index in range(pings):
        a.send({"type": "ping", "id": f"p{index}"})
    for index in range(calls):
        a.send({"type": "call", "to": bob.name, "id": f"c{index}"})
    replies = []
    while len(replies) < pings + calls:  # one reply per frame, in order
        message = a.recv(timeout=30)
        if message["type"] in ("pong", "ack", "error"):
            replies.append(message)
        else:
            a.skipped.append(message)
    dropped = {"type": "error", "code": "rate_limited"}
    call_replies = replies[pings:]
    for index, reply in enumerate(call_replies):
        if reply.get("ref") is None:
            assert {k: reply[k] for k in dropped} == dropped, reply
        else:
            assert reply["ref"] == f"c{index}", reply
            assert reply["type"] == "ack" and reply["outcome"] in ("ringing", "existing"), reply
    limited = [reply for reply in call_replies if reply.get("ref") is None]
    assert limited, "no `call` frame was rate limited"
    acked = {reply["call_id"] for reply in call_replies if reply.get("ref") is not None}
    assert len(acked) <= 1
    assert [c["id"] for c in started_by(alice)] == sorted(acked)
    time.sleep(0.5)  # the bucket refills at MESSAGE_RATE
    assert_still_open(a)
    if not acked:
        assert_nothing_more(b, "incoming")


# -- a name used again after a deletion -----------------------------------------------------
def test_a_deleted_users_name_registered_again_rings_only_the_new_account(live):
    alice, old_bob = live.person("alice"), live.person("bob")
    a, old_device = live.connect(alice), live.connect(old_bob)
    old_call = call(a, old_bob)
    assert old_call["outcome"] == "ringing"
    old_device.expect("incoming", call_id=old_call["call_id"])
    headers = {"Authorization": f"Bearer {old_bob.token}"}
    deleted = requests.delete(
        f"{old_bob.web_url}/me", json={"password": PASSWORD}, headers=headers, timeout=10
    )
    assert deleted.status_code == 204, deleted.text
    assert old_device.wait_closed().code == 4003

    refused(a, old_bob.name, "user_not_found")
    new_bob = register(live, old_bob.name)
    # Not online through the old account's connection: nothing of the new account is.
    offline = refused(a, new_bob, "callee_offline", recorded=True)
    assert offline["call_id"] != old_call["call_id"]
    new_device = live.connect(new_bob)
    assert new_device.welcome["calls"] == []  # the old account's call is not inherited
    ack = call(a, new_bob)
    assert (ack["type"], ack["outcome"]) == ("ack", "ringing"), ack
    assert ack["call_id"] not in (old_call["call_id"], offline["call_id"])
    incoming = new_device.expect("incoming", call_id=ack["call_id"])
    assert incoming["from"] == alice.name
    assert [m["call_id"] for m in old_device.skipped if m["type"] == "incoming"] == []
    assert [c["id"] for c in calls_of(new_bob)] == [ack["call_id"], offline["call_id"]]


def test_no_traceback_or_failed_handler_in_the_daemon_log(live):
    """Last: nothing above made the daemon log a traceback or answer `internal_error`."""
    log = live.daemon_log.read_text(errors="replace")
    assert "Traceback" not in log
    assert "handler.failed" not in log
