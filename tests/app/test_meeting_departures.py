"""Meetings keep their rules when people leave oddly: accounts deleted or disabled, waiting
guests who give up; and only the host reads who waited, the shut-out read nothing."""

from __future__ import annotations

import pytest

from tests.app.helpers import act, create, join
from tests.conftest import PASSWORD


def show(client, who, meeting_id):
    return client.get(f"/meetings/{meeting_id}", headers=who)


def test_a_waiting_guest_who_leaves_before_the_host_comes_ends_nothing(client, people):
    host, ann = people("host", "ann")
    meeting_id, invite = create(client, host, waiting_room=True)
    assert join(client, ann, meeting_id, invite).json["state"] == "waiting"
    left = act(client, ann, meeting_id, "leave")
    assert left.status_code == 200 and left.json["state"] == "open"
    assert join(client, host, meeting_id).json["state"] == "admitted"
    assert show(client, host, meeting_id).json["state"] == "open"


def test_a_deleted_accounts_seat_is_freed_and_recorded(client, people):
    host, ann, ben, cat = people("host", "ann", "ben", "cat")
    meeting_id, invite = create(client, host, max_participants=3)
    for who in (host, ann, ben):
        assert join(client, who, meeting_id, invite).json["state"] == "admitted"
    assert client.delete("/me", json={"password": PASSWORD}, headers=ben).status_code == 204
    meeting = show(client, host, meeting_id).json
    assert meeting["participants"] == ["host", "ann"]
    seats = {s["username"]: s for s in meeting["history"]}
    assert seats["ben"]["state"] == "left" and seats["ben"]["left_reason"] == "account_deleted"
    assert join(client, cat, meeting_id, invite).json["state"] == "admitted"  # not room_full


def test_a_deleted_host_passes_the_role_on_and_the_meeting_can_be_moderated(client, people):
    host, ann, ben = people("host", "ann", "ben")
    meeting_id, invite = create(client, host)
    for who in (host, ann, ben):
        join(client, who, meeting_id, invite)
    assert client.delete("/me", json={"password": PASSWORD}, headers=host).status_code == 204
    meeting = show(client, ann, meeting_id).json
    assert meeting["host"] == "ann" and meeting["participants"] == ["ann", "ben"]
    assert act(client, ann, meeting_id, "lock", locked=True).json["locked"] is True
    assert act(client, ann, meeting_id, "end").json["end_reason"] == "ended_by_host"


def test_disabling_the_last_participant_ends_the_meeting(client, people, runner):
    host, ann = people("host", "ann")
    meeting_id, invite = create(client, host)
    join(client, host, meeting_id)
    join(client, ann, meeting_id, invite)
    assert runner.invoke(args=["users", "disable", "ann"]).exit_code == 0
    assert show(client, host, meeting_id).json["participants"] == ["host"]
    assert runner.invoke(args=["users", "disable", "host"]).exit_code == 0
    runner.invoke(args=["users", "enable", "host"])
    again = client.post("/login", json={"username": "host", "password": PASSWORD}).json["token"]
    meeting = show(client, {"Authorization": f"Bearer {again}"}, meeting_id).json
    assert meeting["state"] == "ended" and meeting["end_reason"] == "empty"
    seats = {s["username"]: s["left_reason"] for s in meeting["history"]}
    assert seats == {"host": "account_disabled", "ann": "account_disabled"}


def test_a_host_who_never_joined_and_is_deleted_ends_the_meeting_for_those_waiting(client, people):
    host, ann = people("host", "ann")
    meeting_id, invite = create(client, host, waiting_room=True)
    join(client, ann, meeting_id, invite)
    client.delete("/me", json={"password": PASSWORD}, headers=host)
    meeting = show(client, ann, meeting_id).json
    assert meeting["state"] == "ended" and meeting["host"] is None


def test_only_the_host_sees_the_seat_history(client, people):
    host, ann, ben = people("host", "ann", "ben")
    meeting_id, invite = create(client, host, waiting_room=True)
    join(client, host, meeting_id)
    join(client, ann, meeting_id, invite)
    join(client, ben, meeting_id, invite)
    act(client, host, meeting_id, "admit", username="ann")
    assert [s["username"] for s in show(client, host, meeting_id).json["history"]] == [
        "host",
        "ann",
        "ben",
    ]
    as_ann = show(client, ann, meeting_id).json
    assert as_ann["history"] is None and as_ann["waiting"] is None
    assert as_ann["waiting_count"] == 1
    listed = client.get("/meetings", headers=ann).json["items"][0]
    assert listed["history"] is None


@pytest.mark.parametrize("action", ["deny", "remove"])
def test_denied_and_removed_users_cannot_read_the_participants(client, people, action):
    host, ann, ben = people("host", "ann", "ben")
    meeting_id, invite = create(client, host, waiting_room=True)
    join(client, host, meeting_id)
    join(client, ann, meeting_id, invite)
    join(client, ben, meeting_id, invite)
    act(client, host, meeting_id, "admit", username="ann")
    if action == "remove":
        act(client, host, meeting_id, "admit", username="ben")
    assert act(client, host, meeting_id, action, username="ben").status_code == 200
    response = show(client, ben, meeting_id)
    assert response.status_code == 404 and response.json["error"] == "meeting_not_found"
    listed = client.get("/meetings", headers=ben).json["items"]
    assert [m["participants"] for m in listed] == [[]]
