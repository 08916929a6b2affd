"""An active call whose people vanished with their daemons is ended by the web app.

With no live daemon left to run the grace period, `POST /call/start` to one of them asks
the database (app/calls/liveness.py) who is gone and since when. When both are gone, the
call is recorded as left by the one gone longer, whichever of them is being called and
whichever placed the call, so the record does not depend on who asks or in what order.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from app.extensions import db
from app.models import AuthSession, Call, Connection, Node, User


@pytest.fixture
def people(login, call, app):
    headers = {name: login(name) for name in ("alice", "bob", "carol")}
    call_id = call(headers["alice"], "bob")["id"]
    with app.app_context():
        ids = {
            name: db.session.scalar(db.select(User.id).filter_by(username=name)) for name in headers
        }
        db.session.execute(update(Call).where(Call.id == call_id).values(state="active"))
        db.session.commit()
    return headers, ids, call_id


def _vanish(app, clock, user_id: int, node_id: str, seconds_ago: float) -> None:
    """The user's device on `node_id`, a daemon whose last beat was `seconds_ago`."""
    with app.app_context():
        seen = clock() - timedelta(seconds=seconds_ago)
        session_id = db.session.scalar(
            db.select(AuthSession.id).filter_by(user_id=user_id).limit(1)
        )
        db.session.add(Node(id=node_id, started_at=seen, seen_at=seen))
        db.session.add(
            Connection(
                id=f"conn-{node_id}", user_id=user_id, session_id=session_id,
                node_id=node_id, connected_at=seen, node_seen_at=seen,
            )
        )  # fmt: skip
        db.session.commit()


def _ended_by(app, call_id: int) -> tuple[str, str, str | None]:
    with app.app_context():
        row = db.session.get(Call, call_id)
        user = db.session.get(User, row.ended_by_id) if row.ended_by_id else None
        return row.end_reason, row.ended_by_node, user.username if user else None


@pytest.mark.parametrize("callee_called", ["alice", "bob"])
def test_the_one_gone_longer_is_recorded_whoever_is_called(
    app, clock, people, client, callee_called
):
    headers, ids, call_id = people
    window = app.config["RECONNECT_GRACE"] + app.config["NODE_STALE_AFTER"]
    _vanish(app, clock, ids["alice"], "node-a", seconds_ago=window + 60)  # the caller, lost first
    _vanish(app, clock, ids["bob"], "node-b", seconds_ago=window + 30)
    if callee_called == "bob":  # the callee gone longer: the record follows the loss, not the role
        with app.app_context():
            db.session.execute(
                update(Node)
                .where(Node.id == "node-b")
                .values(seen_at=clock() - timedelta(seconds=window + 90))
            )
            db.session.commit()
    lost_first = "alice" if callee_called == "alice" else "bob"
    response = client.post("/call/start", json={"callee": callee_called}, headers=headers["carol"])
    assert response.status_code == 201, response.json
    assert _ended_by(app, call_id) == ("connection_lost", "web", lost_first)


def test_a_participant_within_the_window_keeps_the_call(app, clock, people, client):
    headers, ids, call_id = people
    _vanish(app, clock, ids["alice"], "node-a", seconds_ago=1)
    _vanish(app, clock, ids["bob"], "node-b", seconds_ago=1)
    response = client.post("/call/start", json={"callee": "bob"}, headers=headers["carol"])
    assert response.status_code == 409, response.json
    with app.app_context():
        assert db.session.get(Call, call_id).state == "active"
