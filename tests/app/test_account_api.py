"""GET/PATCH/DELETE /me and finding people: GET /users?q=, GET /users/<username>."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.extensions import db
from app.models import AuthSession, Call, Connection, User
from tests.app.helpers import rows, user_id
from tests.conftest import PASSWORD


def test_me_returns_my_account(client, login):
    headers = login("alice")
    response = client.get("/me", headers=headers)
    assert response.status_code == 200
    assert response.json["username"] == "alice"
    assert set(response.json) == {"username", "display_name", "created_at"}


def test_me_without_token_is_401(client):
    response = client.get("/me")
    assert response.status_code == 401 and response.json["error"] == "unauthorized"


def test_patch_me_changes_display_name(client, login, app):
    headers = login("alice")
    response = client.patch("/me", json={"display_name": "  Alice Liddell "}, headers=headers)
    assert response.status_code == 200
    assert response.json["display_name"] == "Alice Liddell"
    assert rows(app, User)[0]["display_name"] == "Alice Liddell"


def test_patch_me_strips_control_characters(client, login):
    headers = login("alice")
    response = client.patch("/me", json={"display_name": "Al\x01ice\u202e\n"}, headers=headers)
    assert response.status_code == 200 and response.json["display_name"] == "Alice"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"display_name": ""}, "invalid_field"),
        ({"display_name": "   "}, "invalid_field"),
        ({"display_name": "\x01\x02"}, "invalid_field"),
        ({"display_name": "\x00\x01"}, "invalid_request"),  # NUL: refused before any rule
        ({"display_name": "x" * 65}, "invalid_field"),
        ({"display_name": 5}, "invalid_field"),
        ({}, "missing_field"),
        ({"display_name": "ok", "username": "root"}, "unknown_field"),
    ],
)
def test_patch_me_rejects_bad_display_names(client, login, app, body, code):
    headers = login("alice")
    response = client.patch("/me", json=body, headers=headers)
    assert response.status_code == 400 and response.json["error"] == code
    assert rows(app, User)[0]["display_name"] == "alice"


def test_delete_me_needs_the_password(client, login, app):
    headers = login("alice")
    response = client.delete("/me", json={"password": "not my password"}, headers=headers)
    assert response.status_code == 403 and response.json["error"] == "wrong_password"
    assert len(rows(app, User)) == 1


def test_delete_me_removes_account_and_sessions_but_other_side_keeps_history(
    client, login, auth, app, call
):
    alice = login("alice")
    bob = login("bob")
    call_id = call(alice, "bob")["id"]
    client.post("/call/end", json={"call_id": call_id}, headers=alice)
    response = client.delete("/me", json={"password": PASSWORD}, headers=alice)
    assert response.status_code == 204
    assert client.get("/me", headers=alice).status_code == 401
    assert auth.login("alice").status_code == 401
    assert [u["username"] for u in rows(app, User)] == ["bob"]
    assert {s["user_id"] for s in rows(app, AuthSession)} == {user_id(app, "bob")}
    history = client.get("/calls", headers=bob).json["items"]
    assert [(c["id"], c["caller"], c["callee"]) for c in history] == [(call_id, None, "bob")]
    assert rows(app, Call)[0]["caller_id"] is None
    assert auth.register("alice").status_code == 201  # the name is free again


def test_search_users_matches_username_and_display_name(client, login, auth):
    headers = login("alice")
    auth.register("bobby", display_name="Robert Tables")
    auth.register("carol")
    auth.register("dave_underscore")
    found = client.get("/users?q=BOB", headers=headers).json["items"]
    assert [u["username"] for u in found] == ["bobby"]
    by_display = client.get("/users?q=tables", headers=headers).json["items"]
    assert [u["username"] for u in by_display] == ["bobby"]
    assert found[0]["presence"] == "offline"
    everyone = client.get("/users", headers=headers).json["items"]
    assert [u["username"] for u in everyone] == ["alice", "bobby", "carol", "dave_underscore"]
    # LIKE wildcards are matched literally
    assert [u["username"] for u in client.get("/users?q=_", headers=headers).json["items"]] == [
        "dave_underscore"
    ]
    assert client.get("/users?q=%25", headers=headers).json["items"] == []


def test_search_users_respects_limit_and_hides_disabled(client, login, auth, app):
    headers = login("alice")
    for name in ("bob1", "bob2", "bob3"):
        auth.register(name)
    with app.app_context():
        db.session.scalar(db.select(User).filter_by(username="bob2")).is_disabled = True
        db.session.commit()
    found = client.get("/users?q=bob&limit=5", headers=headers).json["items"]
    assert [u["username"] for u in found] == ["bob1", "bob3"]
    assert len(client.get("/users?q=bob&limit=1", headers=headers).json["items"]) == 1


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("limit=0", "invalid_field"),
        ("limit=101", "invalid_field"),
        ("limit=ten", "invalid_field"),
        ("q=" + "x" * 65, "invalid_field"),
        ("sort=name", "unknown_field"),
    ],
)
def test_search_users_rejects_bad_query_strings(client, login, query, code):
    headers = login("alice")
    response = client.get(f"/users?{query}", headers=headers)
    assert response.status_code == 400 and response.json["error"] == code


def test_search_users_needs_login(client):
    assert client.get("/users?q=a").status_code == 401


def test_show_user_with_presence(client, login, auth, app, clock, call):
    alice = login("alice")
    bob = login("bob")
    response = client.get("/users/BOB", headers=alice)
    assert response.status_code == 200
    assert response.json["username"] == "bob" and response.json["presence"] == "offline"
    bob_id = user_id(app, "bob")
    with app.app_context():
        session_id = db.session.scalar(db.select(AuthSession.id).filter_by(user_id=bob_id))
        db.session.add(Connection(id="conn-1", user_id=bob_id, session_id=session_id, node_id="n1"))
        db.session.commit()
    assert client.get("/users/bob", headers=alice).json["presence"] == "online"
    call_id = call(alice, "bob")["id"]
    client.post("/call/accept", json={"call_id": call_id}, headers=bob)
    assert client.get("/users/bob", headers=alice).json["presence"] == "in_call"
    clock.advance(seconds=(timedelta(minutes=2)).total_seconds())  # the daemon stopped refreshing
    assert client.get("/users/bob", headers=alice).json["presence"] == "offline"


@pytest.mark.parametrize("name", ["nobody", "disabled-one"])
def test_show_unknown_or_disabled_user_is_404(client, login, auth, app, name):
    headers = login("alice")
    auth.register("disabled-one")
    with app.app_context():
        db.session.scalar(db.select(User).filter_by(username="disabled-one")).is_disabled = True
        db.session.commit()
    response = client.get(f"/users/{name}", headers=headers)
    assert response.status_code == 404
    assert response.json == {"error": "user_not_found", "message": "No such user."}


def test_show_user_needs_login(client, auth):
    auth.register("bob")
    assert client.get("/users/bob").status_code == 401


@pytest.mark.parametrize("state", ["ringing", "active"])
def test_deleting_an_account_mid_call_ends_the_call_for_the_other_side(
    client, login, app, call, state
):
    alice, bob, carol = login("alice"), login("bob"), login("carol")
    call_id = call(alice, "bob")["id"]
    if state == "active":
        client.post("/call/accept", json={"call_id": call_id}, headers=bob)
    assert client.delete("/me", json={"password": PASSWORD}, headers=alice).status_code == 204
    seen_by_bob = client.get(f"/calls/{call_id}", headers=bob).json
    assert seen_by_bob["state"] == "ended"
    assert seen_by_bob["end_reason"] == ("hangup" if state == "active" else "cancelled")
    # bob is not left "busy" in a call with nobody
    assert client.post("/call/start", json={"callee": "bob"}, headers=carol).status_code == 201
    assert client.get("/users/bob", headers=carol).json["presence"] != "in_call"
