"""POST /register, /login, /logout: accounts, tokens, enumeration resistance, rehash."""

from __future__ import annotations

import statistics
import time
from datetime import datetime, timedelta

import pytest

from app.extensions import db
from app.models import AuthSession, User
from tests.app.helpers import rows
from tests.conftest import PASSWORD


def test_register_creates_account_and_returns_it_without_secrets(client, auth, app):
    response = auth.register("Alice", display_name="Alice Liddell")
    assert response.status_code == 201
    assert set(response.json) == {"username", "display_name", "created_at"}
    assert response.json["username"] == "alice"
    assert response.json["display_name"] == "Alice Liddell"
    assert datetime.fromisoformat(response.json["created_at"]).tzinfo is not None
    [user] = rows(app, User)
    assert user["username"] == "alice" and user["password_hash"].startswith("$argon2id$")


def test_register_display_name_defaults_to_username(auth):
    assert auth.register("bob").json["display_name"] == "bob"


@pytest.mark.parametrize("second", ["alice", "ALICE", " Alice "])
def test_register_taken_username_is_409_case_insensitively(auth, app, second):
    auth.register("alice")
    response = auth.register(second)
    assert response.status_code == 409
    assert response.json == {"error": "username_taken", "message": "That username is taken."}
    assert len(rows(app, User)) == 1


@pytest.mark.parametrize(
    ("username", "password", "code"),
    [
        ("al", PASSWORD, "invalid_username"),
        ("bad name", PASSWORD, "invalid_username"),
        ("alice", "short", "weak_password"),
        ("alice", "password123", "weak_password"),
        ("alice", "alice", "weak_password"),
        ("alice", "x" * 257, "weak_password"),
    ],
)
def test_register_rejects_bad_usernames_and_weak_passwords(auth, app, username, password, code):
    response = auth.register(username, password)
    assert response.status_code == 400
    assert response.json["error"] == code
    assert rows(app, User) == []


def test_register_accepts_64_character_passphrase_and_logs_in_with_it(auth):
    passphrase = "the quick brown fox jumps over the lazy dog and then some more!!"
    assert len(passphrase) == 64
    assert auth.register("alice", passphrase).status_code == 201
    assert auth.login("alice", passphrase).status_code == 200


def test_login_returns_token_expiry_and_user(auth, client, clock, app):
    auth.register("alice")
    response = auth.login("ALICE")
    assert response.status_code == 200
    body = response.json
    assert body["token"].startswith("ccs_")
    assert body["user"]["username"] == "alice"
    expires = datetime.fromisoformat(body["expires_at"])
    assert expires == clock.now + timedelta(seconds=app.config["TOKEN_LIFETIME"])
    me = client.get("/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.json["username"] == "alice"


def test_each_login_issues_a_fresh_token(auth, app):
    auth.register("alice")
    first, second = auth.login("alice").json["token"], auth.login("alice").json["token"]
    assert first != second
    assert len(rows(app, AuthSession)) == 2


INVALID = {"error": "invalid_credentials", "message": "Wrong username or password."}


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "wrong password here"), ("nobody", PASSWORD), ("nobody", "wrong password here")],
)
def test_wrong_username_and_wrong_password_give_the_same_401(auth, username, password):
    auth.register("alice")
    response = auth.login(username, password)
    assert response.status_code == 401
    assert response.json == INVALID


def test_disabled_account_cannot_log_in_and_gets_the_same_401(auth, app):
    auth.register("alice")
    with app.app_context():
        db.session.scalar(db.select(User)).is_disabled = True
        db.session.commit()
    response = auth.login("alice")
    assert response.status_code == 401 and response.json == INVALID


def _login_seconds(auth, username: str) -> float:
    started = time.perf_counter()
    response = auth.login(username, "not the right password")
    elapsed = time.perf_counter() - started
    assert response.status_code == 401
    return elapsed


def test_unknown_user_takes_about_as_long_as_wrong_password(app, auth):
    """With realistic hashing cost, the dummy-hash path keeps the timings comparable.

    Samples alternate between the two cases so that machine load hits both alike.
    """
    app.config.update(
        ARGON2_TIME_COST=2,
        ARGON2_MEMORY_KIB=19456,
        LOGIN_MAX_FAILURES_PER_ACCOUNT=100,
        LOGIN_MAX_FAILURES_PER_IP=100,
    )
    auth.register("alice")
    _login_seconds(auth, "nobody")  # warm up the dummy hash
    known, unknown = [], []
    for _ in range(7):
        known.append(_login_seconds(auth, "alice"))
        unknown.append(_login_seconds(auth, "nobody"))
    known_median, unknown_median = statistics.median(known), statistics.median(unknown)
    assert known_median > 0.005, "hashing must dominate the request for this to mean anything"
    assert 0.5 < unknown_median / known_median < 2, (known, unknown)


def test_login_upgrades_hash_when_argon2_parameters_change(auth, app):
    auth.register("alice")
    old = rows(app, User)[0]["password_hash"]
    assert "t=1" in old
    app.config["ARGON2_TIME_COST"] = 2
    assert auth.login("alice").status_code == 200
    new = rows(app, User)[0]["password_hash"]
    assert new != old and "t=2" in new
    assert auth.login("alice").status_code == 200  # the upgraded hash verifies
    assert rows(app, User)[0]["password_hash"] == new  # and is not rehashed again


def test_failed_login_does_not_rehash(auth, app):
    auth.register("alice")
    old = rows(app, User)[0]["password_hash"]
    app.config["ARGON2_TIME_COST"] = 2
    auth.login("alice", "wrong password here")
    assert rows(app, User)[0]["password_hash"] == old


def test_logout_kills_the_token_at_once_and_only_that_token(auth, client):
    auth.register("alice")
    phone = {"Authorization": f"Bearer {auth.login('alice').json['token']}"}
    laptop = {"Authorization": f"Bearer {auth.login('alice').json['token']}"}
    response = client.post("/logout", headers=phone)
    assert response.status_code == 204 and response.data == b""
    assert client.get("/me", headers=phone).status_code == 401
    assert client.post("/logout", headers=phone).status_code == 401
    assert client.get("/me", headers=laptop).status_code == 200


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic YWxpY2U6cGFzcw==", "Bearer ccs_not-a-real-token"],
)
def test_missing_or_bad_token_is_401_with_www_authenticate(client, header):
    headers = {} if header is None else {"Authorization": header}
    response = client.post("/logout", headers=headers)
    assert response.status_code == 401
    assert response.json["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_signed_flask_session_cookie_logs_nobody_in_and_no_answer_sets_a_cookie(
    app, auth, client
):
    """Identity is the bearer token alone: a session cookie signed with the app's own key
    and naming a real user (what Flask-Login would read) is ignored, and none is issued."""
    from flask.sessions import SecureCookieSessionInterface

    headers = auth.headers("alice")
    user_id = rows(app, User)[0]["id"]
    signer = SecureCookieSessionInterface().get_signing_serializer(app)
    client.set_cookie("session", signer.dumps({"_user_id": str(user_id), "_fresh": True}))
    assert client.get("/me").status_code == 401
    answered = client.get("/me", headers=headers)
    assert answered.status_code == 200 and "Set-Cookie" not in answered.headers
    assert "Set-Cookie" not in client.post("/logout", headers=headers).headers
    with app.test_request_context("/me"):
        from flask import session

        with pytest.raises(RuntimeError):  # nothing can put an identity in a cookie
            session["_user_id"] = str(user_id)
