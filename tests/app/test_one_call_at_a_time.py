"""A user is in at most one active call; someone in a meeting is busy to callers."""

from __future__ import annotations

from tests.app.helpers import counts


def test_starting_a_call_while_in_an_active_call_is_409_and_records_nothing(
    app, client, login, call
):
    ann, bob = login("ann"), login("bob")
    login("cat")
    first = call(ann, "bob")
    assert (
        client.post("/call/accept", json={"call_id": first["id"]}, headers=bob).status_code == 200
    )
    before = counts(app)
    response = client.post("/call/start", json={"callee": "cat"}, headers=ann)
    assert response.status_code == 409 and response.json["error"] == "already_in_call"
    assert counts(app) == before


def test_accepting_a_second_call_is_409_and_it_keeps_ringing(client, login, call):
    ann, bob, cat = login("ann"), login("bob"), login("cat")
    from_ann, from_cat = call(ann, "bob"), call(cat, "bob")
    assert (
        client.post("/call/accept", json={"call_id": from_ann["id"]}, headers=bob).status_code
        == 200
    )
    response = client.post("/call/accept", json={"call_id": from_cat["id"]}, headers=bob)
    assert response.status_code == 409 and response.json["error"] == "already_in_call"
    assert client.get(f"/calls/{from_cat['id']}", headers=cat).json["state"] == "ringing"


def test_a_call_whose_caller_went_into_another_call_cannot_be_accepted(client, login, call):
    ann, bob, cat = login("ann"), login("bob"), login("cat")
    to_bob = call(ann, "bob")
    to_ann = call(cat, "ann")
    assert (
        client.post("/call/accept", json={"call_id": to_ann["id"]}, headers=ann).status_code == 200
    )
    response = client.post("/call/accept", json={"call_id": to_bob["id"]}, headers=bob)
    assert response.status_code == 409 and response.json["error"] == "already_in_call"


def test_a_call_to_someone_in_a_meeting_ends_busy(client, login):
    ann, bob = login("ann"), login("bob")
    meeting = client.post("/meetings", json={}, headers=bob).json["meeting"]["id"]
    assert client.post(f"/meetings/{meeting}/join", json={}, headers=bob).status_code == 200
    response = client.post("/call/start", json={"callee": "bob"}, headers=ann)
    assert response.status_code == 409 and response.json["error"] == "callee_busy"
    assert response.json["call"]["state"] == "ended"
    assert response.json["call"]["end_reason"] == "busy"
    client.post(f"/meetings/{meeting}/leave", headers=bob)
    assert client.post("/call/start", json={"callee": "bob"}, headers=ann).status_code == 201
