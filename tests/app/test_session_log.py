"""The session log (auth_events): who did what, from where, and never a secret."""

from __future__ import annotations

from app.models import AuthEvent
from tests.app.helpers import database_text, rows, user_id
from tests.conftest import PASSWORD

UA = {"User-Agent": "ChimeTest/1.0 (log test)"}
ENV = {"REMOTE_ADDR": "192.0.2.44"}
NEW_PASSWORD = "an entirely new passphrase"
WRONG_PASSWORD = "my wrong guess 1234"


def log(app) -> list[tuple[str, str, int | None, str, str]]:
    return [
        (r["kind"], r["username"], r["user_id"], r["ip"], r["user_agent"])
        for r in rows(app, AuthEvent)
    ]


def test_every_account_event_is_logged_with_ip_and_user_agent(client, app):
    kw = {"headers": UA, "environ_base": ENV}
    client.post("/register", json={"username": "alice", "password": PASSWORD}, **kw)
    client.post("/login", json={"username": "alice", "password": WRONG_PASSWORD}, **kw)
    client.post("/login", json={"username": "ghost", "password": WRONG_PASSWORD}, **kw)
    token = client.post("/login", json={"username": "alice", "password": PASSWORD}, **kw).json[
        "token"
    ]
    other = client.post("/login", json={"username": "alice", "password": PASSWORD}, **kw).json[
        "token"
    ]
    auth = {"Authorization": f"Bearer {token}", **UA}
    sessions = client.get("/me/sessions", headers=auth).json["items"]
    other_id = next(s["id"] for s in sessions if not s["current"])
    client.delete(f"/me/sessions/{other_id}", headers=auth, environ_base=ENV)
    client.post(
        "/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=auth,
        environ_base=ENV,
    )
    client.post("/logout", headers=auth, environ_base=ENV)

    alice = user_id(app, "alice")
    where = ("192.0.2.44", UA["User-Agent"])
    assert log(app) == [
        ("register", "alice", alice, *where),
        ("login_failure", "alice", alice, *where),
        ("login_failure", "ghost", None, *where),
        ("login_success", "alice", alice, *where),
        ("login_success", "alice", alice, *where),
        ("session_revoked", "alice", alice, *where),
        ("password_changed", "alice", alice, *where),
        ("logout", "alice", alice, *where),
    ]
    entries = rows(app, AuthEvent)
    assert entries[3]["session_id"] is not None
    assert entries[5]["session_id"] == other_id

    stored = database_text(app)
    assert "ghost" in stored and "ChimeTest/1.0" in stored  # the dump really covers the log
    for secret in (PASSWORD, NEW_PASSWORD, WRONG_PASSWORD, token, other):
        assert secret not in stored
    assert token[4:] not in stored  # not even without the ccs_ prefix


def test_account_deletion_is_logged_and_outlives_the_account(client, login, app):
    headers = login("alice")
    client.delete("/me", json={"password": PASSWORD}, headers=headers)
    deleted = rows(app, AuthEvent, kind="account_deleted")
    assert len(deleted) == 1
    assert deleted[0]["username"] == "alice" and deleted[0]["user_id"] is None


def test_throttled_login_is_logged(auth, app):
    for _ in range(app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"] + 1):
        auth.login("alice", WRONG_PASSWORD)
    assert [e["kind"] for e in rows(app, AuthEvent)][-1] == "login_throttled"


def test_long_user_agent_and_username_are_truncated_not_rejected(client, app):
    client.post(
        "/login",
        json={"username": "u" * 64, "password": WRONG_PASSWORD},
        headers={"User-Agent": "A" * 1000},
    )
    [entry] = rows(app, AuthEvent)
    assert len(entry["user_agent"]) == 256 and entry["username"] == "u" * 64
