"""Ids of users, sessions, calls and meetings are never handed out twice, on any database,
including databases made before the migration that declared AUTOINCREMENT."""

from __future__ import annotations

from flask_migrate import upgrade
from sqlalchemy import delete, func, select, text

from app.extensions import db
from app.models import AuthSession, Call, Meeting, User
from tests.conftest import PASSWORD

BEFORE = "a4f09c3e8b21"  # the head before ids were made unique


def _me_id(app, username: str) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).filter_by(username=username))


def _newest_session_id(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.max(AuthSession.id)))


def test_a_new_account_never_gets_a_deleted_accounts_user_or_session_id(app, client, auth):
    auth.headers("alice")
    bob = auth.headers("bob")
    bob_id, bob_session = _me_id(app, "bob"), _newest_session_id(app)
    response = client.delete("/me", json={"password": PASSWORD}, headers=bob)
    assert response.status_code == 204
    auth.headers("carol")
    assert _me_id(app, "carol") > bob_id
    assert _newest_session_id(app) > bob_session


def test_deleted_call_and_meeting_ids_are_not_reused(app, login, client):
    alice = login("alice")
    login("bob")
    call_id = client.post("/call/start", json={"callee": "bob"}, headers=alice).json["call"]["id"]
    meeting = client.post("/meetings", json={}, headers=alice).json["meeting"]["id"]
    with app.app_context():  # no API deletes these; an operator might
        db.session.execute(delete(Call).where(Call.id == call_id))
        db.session.execute(delete(Meeting).where(Meeting.id == meeting))
        db.session.commit()
    client.post("/call/end", json={"call_id": call_id}, headers=alice)
    again = client.post("/call/start", json={"callee": "bob"}, headers=alice).json["call"]["id"]
    assert again > call_id
    assert client.post("/meetings", json={}, headers=alice).json["meeting"]["id"] > meeting


def _sql(app, *statements: str) -> list:
    with app.app_context():
        results = [db.session.execute(text(s)).all() if s.startswith("SELECT") else
                   db.session.execute(text(s)) for s in statements]  # fmt: skip
        db.session.commit()
        return results


def test_migration_keeps_rows_and_stops_reuse_on_an_existing_sqlite_database(make_app):
    app = make_app(create=False)
    with app.app_context():
        upgrade(revision=BEFORE)
    now = "'2026-12-01 00:00:00'"
    user = "INSERT INTO users (id, username, display_name, password_hash, is_disabled, "
    user += f"created_at, password_changed_at) VALUES ({{}}, '{{}}', '', 'x', 0, {now}, {now})"
    session = "INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, "
    session += (
        f"expires_at, ip, user_agent) VALUES ({{}}, {{}}, '{{}}', {now}, {now}, {now}, '', '')"
    )
    _sql(
        app,
        user.format(1, "alice"),
        user.format(2, "bob"),
        session.format(1, 1, "t1"),
        session.format(2, 2, "t2"),
        "INSERT INTO calls (id, caller_id, callee_id, caller_session_id, state, created_at, "
        f"stats) VALUES (1, 1, 2, 9, 'ringing', {now}, '{{}}')",
        "DELETE FROM sessions WHERE id = 2",
        "DELETE FROM users WHERE id = 2",
    )
    with app.app_context():
        upgrade()
    (calls,) = _sql(app, "SELECT caller_id, callee_id, caller_session_id FROM calls")
    assert calls == [(1, None, 9)]  # bob's deletion nulled his side before; nothing else moved
    (sessions,) = _sql(app, "SELECT id, user_id FROM sessions")
    assert sessions == [(1, 1)]  # alice's session survived the recreation of `users`
    _sql(app, user.format("NULL", "carol"), session.format("NULL", 1, "t3"))
    (sids,) = _sql(app, "SELECT id FROM sessions WHERE token_hash = 't3'")
    assert sids[0][0] == 10  # above session 9, which a call still names
    (carol,) = _sql(app, "SELECT id FROM users WHERE username = 'carol'")
    _sql(app, "DELETE FROM users WHERE username = 'carol'", user.format("NULL", "dave"))
    (dave,) = _sql(app, "SELECT id FROM users WHERE username = 'dave'")
    assert dave[0][0] == carol[0][0] + 1  # the newest account's id is not handed on
    (fk,) = _sql(app, "SELECT * FROM pragma_foreign_keys")
    assert fk == [(1,)]  # foreign keys are back on for the app's connections
