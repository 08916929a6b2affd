"""Session tokens: 256 bits from `secrets`, only a SHA-256 hash stored."""

from __future__ import annotations

import base64
import hashlib

from sqlalchemy import select

from app.auth.tokens import (
    TOKEN_PREFIX,
    find_live_session,
    find_live_sessions,
    hash_token,
    issue_session,
    revoke_sessions,
)
from app.extensions import db
from app.models import AuthSession
from app.users.service import create_user
from tests.app.helpers import statements_run


def _new_session(app, username="alice"):
    with app.app_context():
        user = create_user(username, "correct horse battery staple")
        token, session = issue_session(user, "192.0.2.1", "pytest")
        db.session.commit()
        return token, session.id


def test_token_has_prefix_and_256_random_bits(app):
    token, _ = _new_session(app)
    assert token.startswith(TOKEN_PREFIX)
    body = token[len(TOKEN_PREFIX) :]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    assert len(raw) * 8 >= 256


def test_tokens_are_unique(app):
    with app.app_context():
        user = create_user("alice", "correct horse battery staple")
        tokens = {issue_session(user, "", "")[0] for _ in range(50)}
    assert len(tokens) == 50


def test_only_the_sha256_of_the_token_is_stored(app):
    token, session_id = _new_session(app)
    with app.app_context():
        session = db.session.get(AuthSession, session_id)
        assert session.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert hash_token(token) == session.token_hash
        stored_values = [
            str(v)
            for v in db.session.execute(select(AuthSession.__table__)).one()._mapping.values()
        ]
    assert all(
        token not in value and token[len(TOKEN_PREFIX) :] not in value for value in stored_values
    )


def test_lookup_finds_session_only_for_the_exact_token(app):
    token, session_id = _new_session(app)
    with app.app_context():
        assert find_live_session(token).session_id == session_id
        assert find_live_session(token[:-1]) is None
        assert find_live_session(token + "x") is None
        assert find_live_session(token[len(TOKEN_PREFIX) :]) is None  # prefix required
        assert find_live_session(TOKEN_PREFIX + "a" * 200) is None  # absurd length
        assert find_live_session(hash_token(token)) is None  # the hash is not a token


def test_many_tokens_are_looked_up_with_one_query_and_touched_with_one_update(app, clock):
    tokens = [_new_session(app, f"user{i}")[0] for i in range(5)]
    revoked, _ = _new_session(app, "revoked")
    with app.app_context():
        revoke_sessions(
            [db.session.scalar(select(AuthSession).order_by(AuthSession.id.desc()))], "test"
        )
        db.session.commit()
    clock.advance(minutes=5)  # every session is due a touch of last_seen_at
    unknown = TOKEN_PREFIX + "x" * 43
    with app.app_context(), statements_run(app) as statements:
        found = find_live_sessions([*tokens, revoked, unknown, "not-a-token"])
    assert statements == ["SELECT", "UPDATE"], statements
    assert sorted(found) == sorted(tokens)
    with app.app_context():
        one_by_one = {token: find_live_session(token, touch=False) for token in tokens}
        assert found == one_by_one
        seen = db.session.scalars(
            select(AuthSession.last_seen_at).where(
                AuthSession.id.in_([s.session_id for s in found.values()])
            )
        )
        assert all(at.replace(tzinfo=None) == clock.now.replace(tzinfo=None) for at in seen)
