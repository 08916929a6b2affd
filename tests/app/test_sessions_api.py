"""Token lifetime, /me/sessions, revocation, and what kills sessions."""

from __future__ import annotations

from datetime import timedelta

from app.extensions import db
from app.models import AuthSession, User
from app.users.service import set_disabled
from tests.app.helpers import rows
from tests.conftest import PASSWORD

NEW_PASSWORD = "a brand new passphrase"


def bearer(response) -> dict[str, str]:
    assert response.status_code == 200, response.json
    return {"Authorization": f"Bearer {response.json['token']}"}


def test_token_survives_until_just_before_idle_timeout(client, login, app, clock):
    headers = login("alice")
    clock.advance(seconds=app.config["TOKEN_IDLE_TIMEOUT"] - 1)
    assert client.get("/me", headers=headers).status_code == 200


def test_token_expires_after_idle_timeout(client, login, app, clock):
    headers = login("alice")
    clock.advance(seconds=app.config["TOKEN_IDLE_TIMEOUT"] + 1)
    response = client.get("/me", headers=headers)
    assert response.status_code == 401 and response.json["error"] == "unauthorized"


def test_use_keeps_a_token_alive_until_its_absolute_lifetime(client, login, app, clock):
    headers = login("alice")
    step = timedelta(seconds=app.config["TOKEN_IDLE_TIMEOUT"]) - timedelta(hours=1)
    lifetime = timedelta(seconds=app.config["TOKEN_LIFETIME"])
    used = timedelta(0)
    while used + step < lifetime:
        clock.advance(seconds=step.total_seconds())
        used += step
        assert client.get("/me", headers=headers).status_code == 200, used
    clock.advance(seconds=(lifetime - used).total_seconds() + 1)
    assert client.get("/me", headers=headers).status_code == 401


def test_last_seen_is_recorded_at_most_once_a_minute(client, login, app, clock):
    headers = login("alice")
    created = rows(app, AuthSession)[0]["last_seen_at"]
    clock.advance(seconds=30)
    client.get("/me", headers=headers)
    assert rows(app, AuthSession)[0]["last_seen_at"] == created
    clock.advance(seconds=31)
    client.get("/me", headers=headers)
    assert rows(app, AuthSession)[0]["last_seen_at"] == clock.now


def test_my_sessions_lists_live_sessions_newest_first_marking_current(auth, client, clock):
    auth.register("alice")
    phone = bearer(auth.login("alice", headers={"User-Agent": "Phone/1.0"}))
    clock.advance(seconds=5)
    laptop = bearer(auth.login("alice", headers={"User-Agent": "Laptop/2.0"}))
    clock.advance(seconds=5)
    dead = bearer(auth.login("alice"))
    client.post("/logout", headers=dead)
    response = client.get("/me/sessions", headers=phone)
    assert response.status_code == 200
    items = response.json["items"]
    assert [s["user_agent"] for s in items] == ["Laptop/2.0", "Phone/1.0"]
    assert [s["current"] for s in items] == [False, True]
    assert items[0]["ip"] == "127.0.0.1"
    assert set(items[0]) == {
        "id", "created_at", "last_seen_at", "expires_at", "ip", "user_agent", "current",
    }  # fmt: skip
    assert client.get("/me/sessions", headers=laptop).json["items"][0]["current"] is True


def test_revoking_my_other_session_kills_its_token(auth, client, app):
    auth.register("alice")
    phone = bearer(auth.login("alice"))
    lost = bearer(auth.login("alice"))
    lost_id = next(
        s["id"] for s in client.get("/me/sessions", headers=lost).json["items"] if s["current"]
    )
    response = client.delete(f"/me/sessions/{lost_id}", headers=phone)
    assert response.status_code == 204
    assert client.get("/me", headers=lost).status_code == 401
    assert client.get("/me", headers=phone).status_code == 200
    assert rows(app, AuthSession, id=lost_id)[0]["revoke_reason"] == "revoked_by_user"
    again = client.delete(f"/me/sessions/{lost_id}", headers=phone)
    assert again.status_code == 404 and again.json["error"] == "session_not_found"


def test_revoking_my_current_session_logs_me_out(client, login):
    headers = login("alice")
    [current] = client.get("/me/sessions", headers=headers).json["items"]
    assert client.delete(f"/me/sessions/{current['id']}", headers=headers).status_code == 204
    assert client.get("/me", headers=headers).status_code == 401


def test_cannot_revoke_another_users_session(client, login, app):
    alice = login("alice")
    mallory = login("mallory")
    [alice_session] = client.get("/me/sessions", headers=alice).json["items"]
    response = client.delete(f"/me/sessions/{alice_session['id']}", headers=mallory)
    assert response.status_code == 404
    assert response.json == {"error": "session_not_found", "message": "No such session."}
    assert client.get("/me", headers=alice).status_code == 200
    assert client.delete("/me/sessions/999999", headers=mallory).status_code == 404


def test_password_change_revokes_other_sessions_and_keeps_this_one(auth, client, app):
    auth.register("alice")
    here = bearer(auth.login("alice"))
    elsewhere = bearer(auth.login("alice"))
    response = client.post(
        "/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=here,
    )
    assert response.status_code == 204
    assert client.get("/me", headers=here).status_code == 200
    assert client.get("/me", headers=elsewhere).status_code == 401
    assert auth.login("alice", PASSWORD).status_code == 401
    assert auth.login("alice", NEW_PASSWORD).status_code == 200
    reasons = {row["revoke_reason"] for row in rows(app, AuthSession) if row["revoked_at"]}
    assert reasons == {"password_changed"}


def test_password_change_needs_the_current_password(auth, client, app):
    auth.register("alice")
    here = bearer(auth.login("alice"))
    elsewhere = bearer(auth.login("alice"))
    before = rows(app, User)[0]["password_hash"]
    response = client.post(
        "/me/password",
        json={"current_password": "wrong guess here", "new_password": NEW_PASSWORD},
        headers=here,
    )
    assert response.status_code == 403 and response.json["error"] == "wrong_password"
    assert rows(app, User)[0]["password_hash"] == before
    assert client.get("/me", headers=elsewhere).status_code == 200


def test_password_change_to_a_weak_password_is_refused_and_changes_nothing(auth, client, app):
    auth.register("alice")
    here = bearer(auth.login("alice"))
    elsewhere = bearer(auth.login("alice"))
    response = client.post(
        "/me/password",
        json={"current_password": PASSWORD, "new_password": "123456789"},
        headers=here,
    )
    assert response.status_code == 400 and response.json["error"] == "weak_password"
    assert client.get("/me", headers=elsewhere).status_code == 200
    assert auth.login("alice", PASSWORD).status_code == 200


def test_disabling_a_user_kills_their_sessions(client, login, app):
    headers = login("alice")
    other = login("bob")
    with app.app_context():
        set_disabled(db.session.scalar(db.select(User).filter_by(username="alice")), True)
        db.session.commit()
    assert client.get("/me", headers=headers).status_code == 401
    assert client.get("/me", headers=other).status_code == 200
    [session] = rows(app, AuthSession, user_id=rows(app, User, username="alice")[0]["id"])
    assert session["revoked_at"] is not None and session["revoke_reason"] == "account_disabled"


def test_disabled_user_token_is_dead_even_before_revocation(client, login, app):
    """is_live() checks the account too, so a flag flipped by other means is enough."""
    headers = login("alice")
    with app.app_context():
        db.session.scalar(db.select(User)).is_disabled = True
        db.session.commit()
    assert client.get("/me", headers=headers).status_code == 401


def test_revoking_a_session_id_beyond_the_database_range_is_404(client, login):
    response = client.delete(f"/me/sessions/{10**30}", headers=login("alice"))
    assert response.status_code == 404
