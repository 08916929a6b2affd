"""Calls and meeting seats of people who vanished with their daemons are released by the web app.

With no live daemon left to run the grace period, `POST /call/start` to one of them asks
the database (app/liveness.py) who is gone and since when. When both are gone, the
call is recorded as left by the one gone longer, whichever of them is being called and
whichever placed the call, so the record does not depend on who asks or in what order.
Meeting seats are the same: a seat whose device vanished longer ago than that window is
freed when a newcomer needs it (`connection_lost`), so a dead daemon cannot fill a meeting.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from app.extensions import db
from app.models import AuthSession, Call, Connection, Meeting, MeetingParticipant, Node, User
from tests.app.helpers import create, join, rows


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


def test_a_full_meeting_frees_the_seat_of_a_device_that_vanished_with_its_daemon(
    app, clock, login, client
):
    """No daemon left to run ann's grace: her seat is freed when someone needs it."""
    headers = {name: login(name) for name in ("host", "ann", "carol")}
    meeting_id, invite = create(client, headers["host"], max_participants=2)
    assert join(client, headers["host"], meeting_id).status_code == 200
    assert join(client, headers["ann"], meeting_id, invite).status_code == 200
    with app.app_context():
        ids = {n: db.session.scalar(db.select(User.id).filter_by(username=n)) for n in headers}
    window = app.config["RECONNECT_GRACE"] + app.config["NODE_STALE_AFTER"]
    _vanish(app, clock, ids["ann"], "node-a", seconds_ago=5)
    full = join(client, headers["carol"], meeting_id, invite)
    assert full.status_code == 409 and full.json["error"] == "room_full", "still within grace"

    clock.advance(seconds=window + 30)
    _vanish(app, clock, ids["host"], "node-h", seconds_ago=0)  # the host's daemon is alive
    joined = join(client, headers["carol"], meeting_id, invite)
    assert joined.status_code == 200, joined.json
    seats = {s["user_id"]: s for s in rows(app, MeetingParticipant, meeting_id=meeting_id)}
    assert seats[ids["ann"]]["state"] == "left"
    assert seats[ids["ann"]]["left_reason"] == "connection_lost"
    assert seats[ids["carol"]]["state"] == "admitted"
    assert seats[ids["host"]]["state"] == "admitted", "a device on a live daemon keeps its seat"


def test_a_meeting_whose_every_participant_vanished_has_ended_for_the_next_comer(
    app, clock, login, client
):
    headers = {name: login(name) for name in ("host", "ann", "carol")}
    meeting_id, invite = create(client, headers["host"], max_participants=2)
    join(client, headers["host"], meeting_id)
    join(client, headers["ann"], meeting_id, invite)
    with app.app_context():
        ids = {n: db.session.scalar(db.select(User.id).filter_by(username=n)) for n in headers}
    window = app.config["RECONNECT_GRACE"] + app.config["NODE_STALE_AFTER"]
    _vanish(app, clock, ids["host"], "node-h", seconds_ago=window + 60)
    _vanish(app, clock, ids["ann"], "node-a", seconds_ago=window + 60)
    refused = join(client, headers["carol"], meeting_id, invite)
    assert refused.status_code == 409 and refused.json["error"] == "meeting_ended", refused.json
    assert rows(app, Meeting, id=meeting_id)[0]["end_reason"] == "empty"


def test_a_call_to_someone_whose_meeting_seat_vanished_with_every_daemon_rings(
    app, clock, login, client
):
    """Sitting in a meeting makes a callee busy, but not a seat whose device vanished with
    its daemon and no daemon left to end it: the seat is freed and the call goes through."""
    headers = {name: login(name) for name in ("host", "ann", "carol")}
    meeting_id, invite = create(client, headers["host"])
    join(client, headers["host"], meeting_id)
    join(client, headers["ann"], meeting_id, invite)
    with app.app_context():
        ids = {n: db.session.scalar(db.select(User.id).filter_by(username=n)) for n in headers}
    _vanish(app, clock, ids["ann"], "node-a", seconds_ago=5)
    busy = client.post("/call/start", json={"callee": "ann"}, headers=headers["carol"])
    assert busy.status_code == 409 and busy.json["error"] == "callee_busy", "within grace"

    window = app.config["RECONNECT_GRACE"] + app.config["NODE_STALE_AFTER"]
    clock.advance(seconds=window + 30)
    started = client.post("/call/start", json={"callee": "ann"}, headers=headers["carol"])
    assert started.status_code == 201, started.json
    seats = {s["user_id"]: s for s in rows(app, MeetingParticipant, meeting_id=meeting_id)}
    assert (seats[ids["ann"]]["state"], seats[ids["ann"]]["left_reason"]) == (
        "left",
        "connection_lost",
    )
