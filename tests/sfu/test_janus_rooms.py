"""SFU meetings against a real Janus: ChimeCast creates the room, hands out credentials to
admitted participants only, takes them back, and destroys the room."""

from __future__ import annotations

import time

import pytest

from app.extensions import db
from app.janus import rooms, withdrawals
from app.janus.client import JanusError, JanusSession
from app.meetings import service as meeting_service
from app.models import JanusWithdrawal, Meeting, MeetingParticipant
from tests.app.helpers import act, create, documented_max_participants, join, rows

pytestmark = pytest.mark.timeout(60)


def _meeting(app, meeting_id: int) -> dict:
    return rows(app, Meeting, id=meeting_id)[0]


def _publish(sfu: dict, token: str | None = None, feed: int | None = None) -> JanusSession:
    """Join the room as a publisher the way a client does; returns the session."""
    session = JanusSession(sfu["server"], sfu["token"] if token is None else token)
    handle = session.attach()
    joined = session.request(
        handle,
        {
            "request": "join",
            "ptype": "publisher",
            "room": sfu["room"],
            "id": sfu["feed"] if feed is None else feed,
            "token": sfu["token"] if token is None else token,
        },
    )
    assert joined["videoroom"] == "joined", joined
    return session


def host_and_guest(sfu_app, janus_nodes, users, guest: str):
    """One Janus node, an app using it, and an SFU meeting with its host and `guest` seated:
    (node, app, client, host headers, guest headers, meeting id, invite, guest's credential)."""
    node = janus_nodes()
    app = sfu_app(node)
    client = app.test_client()
    host, visitor = users(app, "host", guest)
    meeting_id, invite = create(client, host, media="sfu")
    join(client, host, meeting_id)
    sfu = join(client, visitor, meeting_id, invite).json["meeting"]["sfu"]
    return node, app, client, host, visitor, meeting_id, invite, sfu


def test_an_sfu_meeting_gets_a_private_room_with_a_secret_only_chimecast_knows(
    sfu_app, janus_nodes, users
):
    node = janus_nodes()
    app = sfu_app(node)
    client = app.test_client()
    (host,) = users(app, "host")
    meeting_id, _ = create(client, host, media="sfu", max_participants=30)
    record = _meeting(app, meeting_id)
    assert record["media"] == "sfu" and record["janus_node"] == node.api
    rooms = {room["room"]: room for room in node.admin.rooms()}
    assert (
        rooms[record["janus_room"]]["is_private"] and rooms[record["janus_room"]]["require_pvtid"]
    )
    assert rooms[record["janus_room"]]["max_publishers"] == 30
    with pytest.raises(JanusError) as refused:
        node.admin.destroy_room(record["janus_room"], "guessed-secret")
    assert refused.value.code == 433  # unauthorized: wrong secret
    assert client.get(f"/meetings/{meeting_id}", headers=host).json["media"] == "sfu"


def test_auto_uses_the_sfu_only_for_meetings_larger_than_a_mesh(sfu_app, janus_nodes, users):
    app = sfu_app(janus_nodes())
    client = app.test_client()
    (host,) = users(app, "host")
    small, _ = create(client, host, max_participants=12)
    large, _ = create(client, host, max_participants=40)
    mesh, _ = create(client, host, media="mesh", max_participants=8)
    assert [_meeting(app, m)["media"] for m in (small, large, mesh)] == ["mesh", "sfu", "mesh"]
    response = client.post(
        "/meetings", json={"media": "mesh", "max_participants": 40}, headers=host
    )
    assert response.status_code == 400, "a mesh stays capped at MEETING_MAX_SIZE"
    assert documented_max_participants(client) == 50


def test_an_admitted_participant_joins_the_room_and_only_that_room(sfu_app, janus_nodes, users):
    app = sfu_app(janus_nodes())
    client = app.test_client()
    host, ann = users(app, "host", "ann")
    meeting_id, invite = create(client, host, media="sfu")
    other_id, _ = create(client, ann, media="sfu")
    assert join(client, host, meeting_id).status_code == 200
    joined = join(client, ann, meeting_id, invite).json
    sfu = joined["meeting"]["sfu"]
    assert sfu["room"] == _meeting(app, meeting_id)["janus_room"]
    assert sfu["feeds"] == {"host": sfu["feeds"]["host"], "ann": sfu["feed"]}
    session = _publish(sfu)
    participants = app.extensions["chimecast_janus"].nodes[0].admin.participants(sfu["room"])
    assert [p["id"] for p in participants] == [sfu["feed"]]
    # Ann's token is not on the other meeting's allowed list (she is not in it yet).
    other_room = _meeting(app, other_id)["janus_room"]
    with pytest.raises(JanusError) as refused:
        _publish({**sfu, "room": other_room})
    assert refused.value.code == 433
    session.destroy()


def test_a_user_never_admitted_or_forging_a_credential_is_refused(sfu_app, janus_nodes, users):
    app = sfu_app(janus_nodes())
    client = app.test_client()
    host, eve = users(app, "host", "eve")
    meeting_id, invite = create(client, host, media="sfu", waiting_room=True)
    sfu = join(client, host, meeting_id).json["meeting"]["sfu"]
    waiting = join(client, eve, meeting_id, invite).json
    assert waiting["state"] == "waiting" and waiting["meeting"]["sfu"] is None
    for forged in (None, "", "ccj_" + "A" * 32):
        with pytest.raises(JanusError) as refused:
            JanusSession(sfu["server"], forged)
        assert refused.value.code == 403, forged  # Janus: unauthorized request
    # A real token of another meeting is not on this room's allowed list either.
    other_id, other_invite = create(client, eve, media="sfu")
    theirs = join(client, eve, other_id).json["meeting"]["sfu"]
    with pytest.raises(JanusError) as refused:
        _publish({**sfu, "token": theirs["token"], "feed": theirs["feed"]})
    assert refused.value.code == 433


def test_a_removed_participant_is_out_of_the_room_within_a_second(sfu_app, janus_nodes, users):
    node, app, client, host, bob, meeting_id, invite, sfu = host_and_guest(
        sfu_app, janus_nodes, users, "bob"
    )
    session = _publish(sfu)
    started = time.monotonic()
    assert act(client, host, meeting_id, "remove", username="bob").status_code == 200
    while sfu["feed"] in [p["id"] for p in node.admin.participants(sfu["room"])]:
        assert time.monotonic() - started < 1.0, "bob still in the room after 1 s"
        time.sleep(0.02)
    assert time.monotonic() - started < 1.0
    with pytest.raises(JanusError):
        session.attach()  # his session is gone, and his token with it
    with pytest.raises(JanusError) as refused:
        _publish(sfu)
    assert refused.value.code == 403
    tokens = node.admin._call({"janus": "list_tokens"})["data"]["tokens"]
    assert sfu["token"] not in [t["token"] for t in tokens]
    history = {
        s["username"]: s
        for s in client.get(f"/meetings/{meeting_id}", headers=host).json["history"]
    }
    assert history["bob"]["state"] == "removed" and history["bob"]["left_reason"] == "removed"


def test_ending_the_meeting_destroys_the_room_and_its_tokens(sfu_app, janus_nodes, users):
    node, app, client, host, ann, meeting_id, invite, sfu = host_and_guest(
        sfu_app, janus_nodes, users, "ann"
    )
    session = _publish(sfu)
    assert act(client, host, meeting_id, "end").status_code == 200
    assert sfu["room"] not in [room["room"] for room in node.admin.rooms()]
    tokens = node.admin._call({"janus": "list_tokens"})["data"]["tokens"]
    assert tokens == []
    with pytest.raises(JanusError):
        session.attach()
    assert client.get(f"/meetings/{meeting_id}", headers=ann).json["sfu"] is None


def test_leaving_takes_the_token_back_and_coming_back_gets_a_new_one(sfu_app, janus_nodes, users):
    node, app, client, host, ann, meeting_id, invite, first = host_and_guest(
        sfu_app, janus_nodes, users, "ann"
    )
    act(client, ann, meeting_id, "leave")
    with pytest.raises(JanusError) as refused:
        _publish(first)
    assert refused.value.code == 403
    again = join(client, ann, meeting_id).json["meeting"]["sfu"]
    assert again["token"] != first["token"] and again["feed"] == first["feed"]
    _publish(again).destroy()
    seats = client.get(f"/meetings/{meeting_id}", headers=host).json["history"]
    assert [(s["username"], s["state"]) for s in seats] == [
        ("host", "admitted"),
        ("ann", "admitted"),
    ]


def test_a_participant_cannot_squat_the_feed_of_someone_admitted_later(sfu_app, janus_nodes, users):
    """Janus lets a publisher pick its id: a predictable one (the seat id) could be taken
    first, and its owner could not publish. Feed ids are random, known once admitted."""
    app = sfu_app(janus_nodes())
    client = app.test_client()
    host, ann, ben = users(app, "host", "ann", "ben")
    meeting_id, invite = create(client, host, media="sfu", waiting_room=True)
    join(client, host, meeting_id)
    join(client, ann, meeting_id, invite)
    act(client, host, meeting_id, "admit", username="ann")
    anns = client.get(f"/meetings/{meeting_id}", headers=ann).json["sfu"]
    join(client, ben, meeting_id, invite)  # waiting: he has a seat, not a feed
    seat_ids = [s["id"] for s in rows(app, MeetingParticipant, meeting_id=meeting_id)]
    squatters = [_publish(anns, feed=seat_id) for seat_id in seat_ids[1:]]  # ann's too: ok
    act(client, host, meeting_id, "admit", username="ben")
    bens = client.get(f"/meetings/{meeting_id}", headers=ben).json["sfu"]
    assert bens["feed"] not in seat_ids and anns["feed"] != bens["feed"]
    _publish(bens).destroy()
    for session in squatters:
        session.destroy()


def _remove_then_die(app, meeting_id: int, feed: int) -> None:
    """Remove the seat publishing `feed` and commit, then die before telling Janus."""
    with app.app_context():
        meeting = db.session.get(Meeting, meeting_id)
        seat = next(s for s in meeting.seats if s.janus_feed == feed)
        rooms.revoke(meeting, seat)
        db.session.commit()
        rooms.discard_pending()  # the process is gone: its queued Janus calls with it


def _retry(app) -> int:
    with app.app_context():
        return withdrawals.retry_due()


def test_a_withdrawal_its_process_died_before_making_is_made_by_the_retry(
    sfu_app, janus_nodes, users, clock
):
    node, app, client, host, bob, meeting_id, invite, sfu = host_and_guest(
        sfu_app, janus_nodes, users, "bob"
    )
    session = _publish(sfu)
    _remove_then_die(app, meeting_id, sfu["feed"])
    JanusSession(sfu["server"], sfu["token"]).attach()  # Janus was never told
    [row] = rows(app, JanusWithdrawal)
    assert (row["attempts"], row["feed"]) == (0, sfu["feed"])
    assert _retry(app) == 0, "not due yet: the request's own attempt goes first"
    clock.advance(seconds=3)
    assert _retry(app) == 1
    assert rows(app, JanusWithdrawal) == []
    with pytest.raises(JanusError) as refused:
        _publish(sfu)
    assert refused.value.code == 403
    with pytest.raises(JanusError):
        session.attach()  # his session was destroyed
    assert sfu["feed"] not in [p["id"] for p in node.admin.participants(sfu["room"])]
    assert _retry(app) == 0


def test_an_ended_meeting_s_room_its_process_died_before_destroying_is_destroyed_by_the_retry(
    sfu_app, janus_nodes, users, clock
):
    """The end is committed, then the process dies before Janus hears of it: the retry
    takes the tokens back *and* destroys the room, so nothing of the meeting is left on
    the node (a room left behind would count against the node and keep its secret alive)."""
    node, app, client, host, bob, meeting_id, invite, sfu = host_and_guest(
        sfu_app, janus_nodes, users, "bob"
    )
    _publish(sfu)
    with app.app_context():
        meeting = db.session.get(Meeting, meeting_id)
        meeting_service._end(meeting, "host_ended")
        db.session.commit()
        rooms.discard_pending()  # the process is gone: its queued Janus calls with it
    assert sfu["room"] in [room["room"] for room in node.admin.rooms()]
    clock.advance(seconds=3)
    assert _retry(app) == 2  # host's and bob's seats
    assert rows(app, JanusWithdrawal) == []
    assert sfu["room"] not in [room["room"] for room in node.admin.rooms()]
    assert node.admin._call({"janus": "list_tokens"})["data"]["tokens"] == []


def test_a_node_that_stays_down_is_retried_with_backoff_not_in_a_spin(
    sfu_app, janus_nodes, users, clock
):
    node, app, client, host, bob, meeting_id, invite, sfu = host_and_guest(
        sfu_app, janus_nodes, users, "bob"
    )
    node.kill()
    _remove_then_die(app, meeting_id, sfu["feed"])
    gaps = []
    for attempt in range(1, 9):
        clock.advance(seconds=60)
        started = time.monotonic()
        assert _retry(app) == 0
        assert _retry(app) == 0  # at once again: nothing is due, nothing is tried
        assert time.monotonic() - started < 2.0
        [row] = rows(app, JanusWithdrawal)
        assert row["attempts"] == attempt
        gaps.append((row["next_attempt_at"] - clock.now).total_seconds())
    expected = [1, 2, 4, 8, 16, 30, 30, 30]
    assert all(0.85 * e <= g <= 1.15 * e for g, e in zip(gaps, expected, strict=True)), gaps
