"""`flask sessions list|revoke|purge` through the CLI runner."""

from __future__ import annotations

import json

from app.models import AuthEvent, AuthSession
from tests.app.helpers import rows


def test_list_shows_live_sessions_newest_first(runner, auth, login, clock):
    login("alice")
    clock.advance(seconds=5)
    auth.login("alice", headers={"User-Agent": "Phone/1.0"})
    clock.advance(seconds=5)
    login("bob")
    result = runner.invoke(args=["sessions", "list"])
    assert result.exit_code == 0
    header, *lines = result.stdout.splitlines()
    assert header.split()[:3] == ["ID", "USER", "STATUS"]
    assert [(line.split()[0], line.split()[1], line.split()[2]) for line in lines] == [
        ("3", "bob", "live"),
        ("2", "alice", "live"),
        ("1", "alice", "live"),
    ]
    assert "Phone/1.0" in lines[1]


def test_list_hides_dead_sessions_unless_all(runner, auth, login, client, app, clock):
    headers = login("alice")
    auth.login("alice")
    client.post("/logout", headers=headers)
    live = json.loads(runner.invoke(args=["sessions", "list", "--json"]).stdout)
    assert [s["id"] for s in live] == [2]
    everything = json.loads(runner.invoke(args=["sessions", "list", "--all", "--json"]).stdout)
    assert [(s["id"], s["status"]) for s in everything] == [(2, "live"), (1, "revoked:logout")]
    clock.advance(seconds=app.config["TOKEN_IDLE_TIMEOUT"] + 1)
    everything = json.loads(runner.invoke(args=["sessions", "list", "--all", "--json"]).stdout)
    assert [s["status"] for s in everything] == ["expired", "revoked:logout"]
    assert runner.invoke(args=["sessions", "list"]).stdout == "No sessions.\n"


def test_list_json_has_the_facts_but_never_the_token_or_its_hash(runner, auth, app):
    auth.register("alice")
    token = auth.login("alice", headers={"User-Agent": "UA/9"}).json["token"]
    result = runner.invoke(args=["sessions", "list", "--json"])
    [session] = json.loads(result.stdout)
    assert session["username"] == "alice" and session["user_agent"] == "UA/9"
    assert session["ip"] == "127.0.0.1" and session["status"] == "live"
    assert set(session) >= {"created_at", "last_seen_at", "expires_at", "revoked_at"}
    stored_hash = rows(app, AuthSession)[0]["token_hash"]
    for secret in (token, token[4:], stored_hash):
        assert secret not in result.output
        assert secret not in runner.invoke(args=["sessions", "list", "--all"]).output


def test_list_for_one_user(runner, login):
    login("alice")
    login("bob")
    result = runner.invoke(args=["sessions", "list", "--user", "bob", "--json"])
    assert [s["username"] for s in json.loads(result.stdout)] == ["bob"]
    unknown = runner.invoke(args=["sessions", "list", "--user", "ghost"])
    assert unknown.exit_code == 1 and "No user named 'ghost'." in unknown.stderr


def test_revoke_by_id_kills_the_token_and_is_logged(runner, login, client, app):
    alice = login("alice")
    bob = login("bob")
    result = runner.invoke(args=["sessions", "revoke", "1"])
    assert result.exit_code == 0 and result.stdout == "Revoked 1 session(s).\n"
    assert client.get("/me", headers=alice).status_code == 401
    assert client.get("/me", headers=bob).status_code == 200
    assert rows(app, AuthSession, id=1)[0]["revoke_reason"] == "revoked_by_admin"
    [logged] = rows(app, AuthEvent, kind="session_revoked")
    assert (logged["username"], logged["session_id"]) == ("alice", 1)


def test_revoke_all_of_a_user(runner, login, auth, client):
    alice = login("alice")
    auth.login("alice")
    bob = login("bob")
    result = runner.invoke(args=["sessions", "revoke", "--user", "alice"])
    assert result.exit_code == 0 and result.stdout == "Revoked 2 session(s).\n"
    assert client.get("/me", headers=alice).status_code == 401
    assert client.get("/me", headers=bob).status_code == 200


def test_revoke_errors(runner, login, client):
    headers = login("alice")
    client.post("/logout", headers=headers)
    unknown = runner.invoke(args=["sessions", "revoke", "99"])
    assert unknown.exit_code == 1 and "No session with id 99." in unknown.stderr
    again = runner.invoke(args=["sessions", "revoke", "1"])
    assert again.exit_code == 1 and "already revoked" in again.stderr
    nothing = runner.invoke(args=["sessions", "revoke"])
    assert nothing.exit_code == 2 and "Give session ids or --user" in nothing.stderr
    not_a_number = runner.invoke(args=["sessions", "revoke", "abc"])
    assert not_a_number.exit_code == 2


def test_revoke_is_all_or_nothing(runner, login, client):
    headers = login("alice")
    result = runner.invoke(args=["sessions", "revoke", "1", "99"])
    assert result.exit_code == 1
    assert client.get("/me", headers=headers).status_code == 200


def test_purge_deletes_expired_idle_and_revoked_sessions_only(
    runner, auth, login, client, app, clock
):
    revoked = login("alice")
    client.post("/logout", headers=revoked)  # session 1: revoked
    auth.login("alice")  # session 2: will go idle
    clock.advance(seconds=app.config["TOKEN_IDLE_TIMEOUT"] - 10)
    fresh = auth.login("alice").json["token"]  # session 3: live
    clock.advance(seconds=20)
    result = runner.invoke(args=["sessions", "purge"])
    assert result.exit_code == 0 and result.stdout == "Purged 2 session(s).\n"
    assert [s["id"] for s in rows(app, AuthSession)] == [3]
    assert client.get("/me", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
    again = runner.invoke(args=["sessions", "purge", "--json"])
    assert json.loads(again.stdout) == {"purged": 0}


def test_purge_removes_sessions_past_their_absolute_lifetime(runner, login, client, app, clock):
    headers = login("alice")
    step = app.config["TOKEN_IDLE_TIMEOUT"] - 3600
    used = 0
    while used + step < app.config["TOKEN_LIFETIME"]:  # kept busy, never idle
        clock.advance(seconds=step)
        used += step
        assert client.get("/me", headers=headers).status_code == 200
    clock.advance(seconds=app.config["TOKEN_LIFETIME"] - used + 1)
    assert (
        runner.invoke(args=["sessions", "list", "--all", "--json"]).stdout.count('"expired"') == 1
    )
    result = runner.invoke(args=["sessions", "purge", "--json"])
    assert json.loads(result.stdout) == {"purged": 1}
    assert rows(app, AuthSession) == []
