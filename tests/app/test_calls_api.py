"""The call lifecycle over HTTP: start, accept, decline, end, busy, glare, missed, history."""

from __future__ import annotations

from datetime import datetime

import pytest

from app.models import Call
from tests.app.helpers import events, rows, user_id


@pytest.fixture
def people(login):
    """Headers of alice, bob and carol."""
    return login("alice"), login("bob"), login("carol")


def post(client, action: str, call_id: int, headers):
    return client.post(f"/call/{action}", json={"call_id": call_id}, headers=headers)


def test_start_rings_the_callee_and_announces_it(client, people, app):
    alice, _bob, _carol = people
    response = client.post("/call/start", json={"callee": "BOB"}, headers=alice)
    assert response.status_code == 201
    assert response.json["outcome"] == "ringing"
    call = response.json["call"]
    assert (call["state"], call["caller"], call["callee"]) == ("ringing", "alice", "bob")
    assert call["end_reason"] is None and call["answered_at"] is None
    assert call["duration_seconds"] is None
    ids = sorted([user_id(app, "alice"), user_id(app, "bob")])
    assert events(app, call["id"]) == [("call.ringing", ids)]


@pytest.mark.parametrize(
    ("callee", "status", "code"),
    [("nobody", 404, "user_not_found"), ("alice", 400, "cannot_call_self")],
)
def test_start_rejects_unknown_callee_and_self(client, people, app, callee, status, code):
    response = client.post("/call/start", json={"callee": callee}, headers=people[0])
    assert response.status_code == status and response.json["error"] == code
    assert rows(app, Call) == [] and events(app) == []


def test_start_again_while_ringing_returns_the_existing_call(client, people, app, call):
    alice = people[0]
    first = call(alice, "bob")
    again = client.post("/call/start", json={"callee": "bob"}, headers=alice)
    assert again.status_code == 200 and again.json["outcome"] == "existing"
    assert again.json["call"]["id"] == first["id"]
    assert len(rows(app, Call)) == 1


def test_ringing_active_ended_with_duration(client, people, app, clock, call):
    alice, bob, _ = people
    call_id = call(alice, "bob")["id"]
    clock.advance(seconds=3)
    accepted = post(client, "accept", call_id, bob)
    assert accepted.status_code == 200
    assert accepted.json["state"] == "active"
    answered_at = datetime.fromisoformat(accepted.json["answered_at"])
    assert answered_at == clock.now
    clock.advance(seconds=61.5)
    ended = post(client, "end", call_id, alice)
    assert ended.status_code == 200
    body = ended.json
    assert (body["state"], body["end_reason"], body["ended_by"]) == ("ended", "hangup", "alice")
    assert body["duration_seconds"] == 61.5
    ids = sorted([user_id(app, "alice"), user_id(app, "bob")])
    assert events(app, call_id) == [
        ("call.ringing", ids),
        ("call.accepted", ids),
        ("call.ended", ids),
    ]


def test_ending_an_ended_call_returns_it_unchanged(client, people, app, clock, call):
    alice, bob, _ = people
    call_id = call(alice, "bob")["id"]
    post(client, "accept", call_id, bob)
    first = post(client, "end", call_id, bob).json
    clock.advance(seconds=10)
    outbox = events(app)
    for headers in (alice, bob):
        again = post(client, "end", call_id, headers)
        assert again.status_code == 200 and again.json == first
    assert events(app) == outbox  # nothing announced twice


def test_caller_ending_a_ringing_call_cancels_it(client, people, app, call):
    alice = people[0]
    call_id = call(alice, "bob")["id"]
    body = post(client, "end", call_id, alice).json
    assert (body["state"], body["end_reason"], body["ended_by"]) == ("ended", "cancelled", "alice")
    assert [kind for kind, _ in events(app, call_id)] == ["call.ringing", "call.cancelled"]


@pytest.mark.parametrize("action", ["decline", "end"])
def test_callee_refusing_a_ringing_call_declines_it(client, people, app, call, action):
    alice, bob, _ = people
    call_id = call(alice, "bob")["id"]
    body = post(client, action, call_id, bob).json
    assert (body["state"], body["end_reason"], body["ended_by"]) == ("ended", "declined", "bob")
    assert body["duration_seconds"] is None
    assert [kind for kind, _ in events(app, call_id)] == ["call.ringing", "call.declined"]


@pytest.mark.parametrize(
    ("setup", "action", "who", "code"),
    [
        ("ringing", "accept", "caller", "not_callee"),
        ("ringing", "decline", "caller", "not_callee"),
        ("active", "accept", "callee", "call_not_ringing"),
        ("active", "decline", "callee", "call_not_ringing"),
        ("ended", "accept", "callee", "call_not_ringing"),
        ("ended", "decline", "callee", "call_not_ringing"),
    ],
)
def test_illegal_transitions_are_409_and_change_nothing(
    client, people, app, call, setup, action, who, code
):
    alice, bob, _ = people
    call_id = call(alice, "bob")["id"]
    if setup in ("active", "ended"):
        post(client, "accept", call_id, bob)
    if setup == "ended":
        post(client, "end", call_id, bob)
    before, outbox = rows(app, Call), events(app)
    response = post(client, action, call_id, alice if who == "caller" else bob)
    assert response.status_code == 409 and response.json["error"] == code
    assert rows(app, Call) == before and events(app) == outbox


@pytest.mark.parametrize("busy_side", ["caller", "callee"])
def test_calling_someone_in_a_call_is_409_busy_and_recorded(client, people, app, call, busy_side):
    alice, bob, carol = people
    call_id = call(alice, "bob")["id"]
    post(client, "accept", call_id, bob)
    target = "alice" if busy_side == "caller" else "bob"
    response = client.post("/call/start", json={"callee": target}, headers=carol)
    assert response.status_code == 409
    assert response.json["error"] == "callee_busy"
    busy = response.json["call"]
    assert (busy["state"], busy["end_reason"], busy["caller"], busy["callee"]) == (
        "ended",
        "busy",
        "carol",
        target,
    )
    assert rows(app, Call, id=busy["id"])[0]["end_reason"] == "busy"
    ids = sorted([user_id(app, "carol"), user_id(app, target)])
    assert events(app, busy["id"]) == [("call.busy", ids)]
    history = client.get("/calls", headers=carol).json["items"]
    assert [(c["id"], c["end_reason"]) for c in history] == [(busy["id"], "busy")]


def test_glare_merges_the_crossing_calls_into_one_active_call(client, people, app, call):
    alice, bob, _ = people
    call_id = call(alice, "bob")["id"]
    response = client.post("/call/start", json={"callee": "alice"}, headers=bob)
    assert response.status_code == 200
    assert response.json["outcome"] == "merged"
    merged = response.json["call"]
    assert merged["id"] == call_id and merged["state"] == "active"
    assert [(c["id"], c["state"]) for c in rows(app, Call)] == [(call_id, "active")]
    assert [kind for kind, _ in events(app, call_id)] == ["call.ringing", "call.accepted"]
    assert client.get(f"/calls/{call_id}", headers=alice).json["state"] == "active"


def test_unanswered_call_is_missed_after_ring_timeout(client, people, app, clock, call):
    alice, bob, _ = people
    call_id = call(alice, "bob")["id"]
    clock.advance(seconds=app.config["RING_TIMEOUT"] - 1)
    assert client.get(f"/calls/{call_id}", headers=alice).json["state"] == "ringing"
    clock.advance(seconds=2)
    body = client.get(f"/calls/{call_id}", headers=bob).json
    assert (body["state"], body["end_reason"], body["ended_by"]) == ("ended", "missed", None)
    ids = sorted([user_id(app, "alice"), user_id(app, "bob")])
    assert events(app, call_id)[-1] == ("call.missed", ids)
    late = post(client, "accept", call_id, bob)
    assert late.status_code == 409 and late.json["error"] == "call_not_ringing"


def test_starting_calls_too_quickly_is_429_with_retry_after(client, people, app, clock, call):
    alice = people[0]
    for _ in range(app.config["CALL_START_LIMIT"]):
        post(client, "end", call(alice, "bob")["id"], alice)
    calls_before = len(rows(app, Call))
    response = client.post("/call/start", json={"callee": "bob"}, headers=alice)
    assert response.status_code == 429
    assert response.json["error"] == "too_many_calls"
    assert response.headers["Retry-After"] == str(app.config["CALL_START_WINDOW"])
    assert len(rows(app, Call)) == calls_before
    # Other users are not affected, and the limit lifts with time.
    assert client.post("/call/start", json={"callee": "bob"}, headers=people[2]).status_code == 201
    clock.advance(seconds=app.config["CALL_START_WINDOW"] + 1)
    post(client, "end", call(people[2], "alice")["id"], people[2])
    assert client.post("/call/start", json={"callee": "carol"}, headers=alice).status_code == 201


@pytest.mark.parametrize("action", ["accept", "decline", "end"])
def test_outsider_cannot_act_on_someone_elses_call(client, people, app, call, action):
    alice, _bob, carol = people
    call_id = call(alice, "bob")["id"]
    before, outbox = rows(app, Call), events(app)
    response = post(client, action, call_id, carol)
    assert response.status_code == 404
    assert response.json == {"error": "call_not_found", "message": "No such call."}
    assert rows(app, Call) == before and events(app) == outbox


def test_outsider_cannot_see_someone_elses_call(client, people, call):
    alice, bob, carol = people
    call_id = call(alice, "bob")["id"]
    assert client.get(f"/calls/{call_id}", headers=bob).status_code == 200
    response = client.get(f"/calls/{call_id}", headers=carol)
    assert response.status_code == 404 and response.json["error"] == "call_not_found"
    assert client.get("/calls", headers=carol).json["total"] == 0


@pytest.mark.parametrize("path", ["/calls/999999", "/calls/abc", "/calls/-1"])
def test_unknown_call_is_404_in_the_error_shape(client, people, path):
    response = client.get(path, headers=people[0])
    assert response.status_code == 404
    assert set(response.json) == {"error", "message"}


def test_action_on_unknown_call_is_404(client, people):
    response = post(client, "end", 424242, people[0])
    assert response.status_code == 404 and response.json["error"] == "call_not_found"


def test_history_is_newest_first_and_paginated(client, people, app, clock, call):
    alice, bob, carol = people
    made = []
    for callee, headers in [("bob", alice), ("carol", alice), ("alice", bob), ("bob", alice)]:
        made.append(call(headers, callee)["id"])
        post(client, "end", made[-1], headers)
        clock.advance(seconds=10)
    call(carol, "bob")  # not alice's
    newest_first = list(reversed(made))
    page1 = client.get("/calls?per_page=3", headers=alice).json
    assert [c["id"] for c in page1["items"]] == newest_first[:3]
    assert (page1["page"], page1["per_page"], page1["total"]) == (1, 3, 4)
    page2 = client.get("/calls?per_page=3&page=2", headers=alice).json
    assert [c["id"] for c in page2["items"]] == newest_first[3:]
    assert client.get("/calls?per_page=3&page=3", headers=alice).json["items"] == []
    default = client.get("/calls", headers=alice).json
    assert default["per_page"] == 20 and [c["id"] for c in default["items"]] == newest_first


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("page=0", "invalid_field"),
        ("per_page=0", "invalid_field"),
        ("per_page=101", "invalid_field"),
        ("page=two", "invalid_field"),
        ("order=asc", "unknown_field"),
    ],
)
def test_history_rejects_bad_paging(client, people, query, code):
    response = client.get(f"/calls?{query}", headers=people[0])
    assert response.status_code == 400 and response.json["error"] == code


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "missing_field"),
        ({"call_id": "1"}, "invalid_field"),
        ({"call_id": 1.5}, "invalid_field"),
        ({"call_id": True}, "invalid_field"),
        ({"call_id": 0}, "invalid_field"),
        ({"call_id": 2**63}, "invalid_field"),
        ({"call_id": 1, "reason": "x"}, "unknown_field"),
    ],
)
@pytest.mark.parametrize("action", ["accept", "decline", "end"])
def test_call_actions_validate_the_body(client, people, app, call, action, body, code):
    call(people[0], "bob")
    before = rows(app, Call)
    response = client.post(f"/call/{action}", json=body, headers=people[1])
    assert response.status_code == 400 and response.json["error"] == code
    assert rows(app, Call) == before


@pytest.mark.parametrize("action", ["start", "accept", "decline", "end"])
def test_call_actions_need_login(client, action):
    body = {"callee": "bob"} if action == "start" else {"call_id": 1}
    response = client.post(f"/call/{action}", json=body)
    assert response.status_code == 401 and response.json["error"] == "unauthorized"


def test_stats_reported_by_participants_are_shown_in_the_call(client, people, app, call):
    from app.calls.service import record_stats
    from app.extensions import db
    from app.models import User

    alice, bob, _ = people
    call_id = call(alice, "bob")["id"]
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(username="bob"))
        record_stats(user.id, call_id, {"path": "relay", "rtt_ms": 42})
    body = client.get(f"/calls/{call_id}", headers=alice).json
    assert body["stats"] == {"bob": {"path": "relay", "rtt_ms": 42}}


@pytest.mark.parametrize("call_id", [2**63 - 1, 2**63, 10**30])
def test_call_ids_beyond_the_database_range_are_404_not_500(client, people, call_id):
    response = client.get(f"/calls/{call_id}", headers=people[0])
    assert response.status_code == 404 and set(response.json) == {"error", "message"}
