"""Meetings over HTTP: creation, invites, waiting room, moderation, host handover, records."""

from __future__ import annotations

import json
import re

import pytest

from app.models import Event, User
from tests.app.helpers import act, create, join, rows


def test_invitees_join_at_once_and_everyone_sees_the_participants(client, people):
    host, ann, ben = people("host", "ann", "ben")
    meeting_id, invite = create(client, host)
    assert invite.startswith("cci_")
    assert join(client, host, meeting_id).json["state"] == "admitted"
    assert join(client, ann, meeting_id, invite).json["state"] == "admitted"
    assert join(client, ben, meeting_id, invite).json["state"] == "admitted"
    shown = client.get(f"/meetings/{meeting_id}", headers=ann).json
    assert shown["participants"] == ["host", "ann", "ben"] and shown["host"] == "host"
    assert shown["state"] == "open" and shown["waiting_count"] == 0
    assert client.get("/meetings", headers=ben).json["items"][0]["id"] == meeting_id


@pytest.mark.parametrize("invite", [None, "cci_wrong", "not-even-a-token"])
def test_without_the_invite_a_stranger_cannot_see_or_join(client, people, invite):
    host, eve = people("host", "eve")
    meeting_id, _ = create(client, host)
    assert join(client, eve, meeting_id, invite).status_code == 404
    assert client.get(f"/meetings/{meeting_id}", headers=eve).status_code == 404


def test_invite_expires_and_has_a_use_limit(client, people, clock):
    host, ann, ben, cat = people("host", "ann", "ben", "cat")
    meeting_id, invite = create(client, host, invite_max_uses=1, invite_ttl_seconds=600)
    assert join(client, ann, meeting_id, invite).status_code == 200
    assert join(client, ben, meeting_id, invite).json["error"] == "invite_used_up"
    assert join(client, ann, meeting_id, invite).status_code == 200, "rejoining costs no use"
    other_id, other_invite = create(client, host, invite_ttl_seconds=600)
    clock.advance(seconds=601)
    assert join(client, cat, other_id, other_invite).json["error"] == "invite_expired"


def test_room_full_when_the_cap_is_reached(client, people):
    host, ann, ben = people("host", "ann", "ben")
    meeting_id, invite = create(client, host, max_participants=2)
    join(client, host, meeting_id)
    join(client, ann, meeting_id, invite)
    full = join(client, ben, meeting_id, invite)
    assert full.status_code == 409 and full.json["error"] == "room_full"


@pytest.mark.parametrize("size", [1, 13, 1000])
def test_size_outside_the_hard_cap_is_refused(client, people, size):
    (host,) = people("host")
    response = client.post("/meetings", json={"max_participants": size}, headers=host)
    assert response.status_code == 400
    assert client.get("/meetings", headers=host).json["total"] == 0


def test_waiting_room_holds_early_arrivals_until_the_host_admits(client, people, app, clock):
    host, ann, ben = people("host", "ann", "ben")
    meeting_id, invite = create(client, host, waiting_room=True)
    assert join(client, ann, meeting_id, invite).json["state"] == "waiting", (
        "arriving first is no bypass"
    )
    assert join(client, host, meeting_id).json["state"] == "admitted"
    clock.advance(seconds=1)
    assert join(client, ben, meeting_id, invite).json["state"] == "waiting"
    host_view = client.get(f"/meetings/{meeting_id}", headers=host).json
    assert host_view["waiting"] == ["ann", "ben"] and host_view["waiting_count"] == 2
    assert client.get(f"/meetings/{meeting_id}", headers=ann).json.get("waiting") is None
    assert act(client, ann, meeting_id, "admit", username="ben").json["error"] == "not_host"
    assert act(client, host, meeting_id, "admit", username="ann").json["participants"] == [
        "host",
        "ann",
    ]
    assert act(client, host, meeting_id, "admit").json["participants"] == ["host", "ann", "ben"]
    kinds = [r["kind"] for r in rows(app, Event)]
    assert kinds.count("meeting.waiting") == 2 and kinds.count("meeting.joined") == 3


def test_denied_user_is_told_and_cannot_retry_endlessly(client, people, app):
    host, pest = people("host", "pest")
    meeting_id, invite = create(client, host, waiting_room=True)
    join(client, host, meeting_id)
    for _ in range(3):
        assert join(client, pest, meeting_id, invite).json["state"] == "waiting"
        assert act(client, host, meeting_id, "deny", username="pest").status_code == 200
    refused = join(client, pest, meeting_id, invite)
    assert refused.status_code == 403 and refused.json["error"] == "join_denied"
    denied = [r for r in rows(app, Event) if r["kind"] == "meeting.denied"]
    pest_id = rows(app, User, username="pest")[0]["id"]
    assert all(pest_id in r["user_ids"] for r in denied)


def test_removed_participant_cannot_come_back(client, people):
    host, ann = people("host", "ann")
    meeting_id, invite = create(client, host)
    join(client, host, meeting_id)
    join(client, ann, meeting_id, invite)
    assert act(client, host, meeting_id, "remove", username="ann").json["participants"] == ["host"]
    assert join(client, ann, meeting_id, invite).json["error"] == "removed"
    assert (
        act(client, host, meeting_id, "remove", username="host").json["error"]
        == "cannot_remove_self"
    )


def test_locked_meeting_takes_nobody_new_but_keeps_its_people(client, people):
    host, ann, ben = people("host", "ann", "ben")
    meeting_id, invite = create(client, host)
    join(client, host, meeting_id)
    join(client, ann, meeting_id, invite)
    assert act(client, host, meeting_id, "lock", locked=True).json["locked"] is True
    assert join(client, ben, meeting_id, invite).json["error"] == "meeting_locked"
    assert join(client, ann, meeting_id, invite).json["state"] == "admitted"
    act(client, host, meeting_id, "lock", locked=False)
    assert join(client, ben, meeting_id, invite).json["state"] == "admitted"


def test_host_hands_over_and_a_leaving_host_passes_the_role_on(client, people):
    host, ann, ben = people("host", "ann", "ben")
    meeting_id, invite = create(client, host)
    for who in (host, ann, ben):
        join(client, who, meeting_id, invite)
    assert act(client, host, meeting_id, "host", username="ann").json["host"] == "ann"
    assert act(client, host, meeting_id, "lock", locked=True).json["error"] == "not_host"
    after = act(client, ann, meeting_id, "leave").json
    assert after["host"] == "host", "the longest-present participant takes over"
    assert after["participants"] == ["host", "ben"]


def test_end_for_everyone_records_times_and_reasons(client, people):
    host, ann = people("host", "ann")
    meeting_id, invite = create(client, host)
    join(client, host, meeting_id)
    join(client, ann, meeting_id, invite)
    assert act(client, ann, meeting_id, "end").json["error"] == "not_host"
    ended = act(client, host, meeting_id, "end").json
    assert ended["state"] == "ended" and ended["end_reason"] == "ended_by_host"
    assert ended["participants"] == [] and ended["ended_at"]
    assert {s["left_reason"] for s in ended["history"]} == {"meeting_ended"}
    assert all(s["joined_at"] and s["left_at"] for s in ended["history"])
    assert join(client, ann, meeting_id, invite).json["error"] == "meeting_ended"


def test_last_one_out_ends_the_meeting(client, people):
    host, ann = people("host", "ann")
    meeting_id, invite = create(client, host)
    join(client, host, meeting_id)
    join(client, ann, meeting_id, invite)
    act(client, host, meeting_id, "leave")
    last = act(client, ann, meeting_id, "leave").json
    assert last["state"] == "ended" and last["end_reason"] == "empty"


@pytest.mark.parametrize(
    "body", [{"name": 5}, {"waiting_room": "yes"}, {"max_participants": "4"}, {"surprise": 1}]
)
def test_bad_create_bodies_get_400_and_create_nothing(client, people, body):
    (host,) = people("host")
    assert client.post("/meetings", json=body, headers=host).status_code == 400
    assert client.get("/meetings", headers=host).json["total"] == 0


def test_meetings_appear_in_calls_stats(client, people, runner, clock):
    host, ann, ben = people("host", "ann", "ben")
    first, invite = create(client, host)
    for who in (host, ann, ben):
        join(client, who, first, invite)
    clock.advance(minutes=10)
    act(client, host, first, "end")
    second, invite = create(client, host)
    join(client, host, second)
    stats = json.loads(runner.invoke(args=["calls", "stats", "--json"]).stdout)["meetings"]
    assert stats == {
        "total": 2,
        "open": 1,
        "participants": 4,
        "average_participants": 2.0,
        "average_duration_seconds": 600.0,
    }
    ann_only = json.loads(runner.invoke(args=["calls", "stats", "--user", "ann", "--json"]).stdout)
    assert ann_only["meetings"]["total"] == 1
    table = runner.invoke(args=["calls", "stats"]).stdout
    assert re.search(r"^Meetings:\s+2$", table, re.M)
    assert re.search(r"^Average meeting duration:\s+10:00$", table, re.M)


def test_admit_all_lets_in_whoever_fits_and_the_rest_keep_waiting(client, people, clock):
    host, ann, ben, cat = people("host", "ann", "ben", "cat")
    meeting_id, invite = create(client, host, waiting_room=True, max_participants=3)
    join(client, host, meeting_id)
    for guest in (ann, ben, cat):
        clock.advance(seconds=1)
        join(client, guest, meeting_id, invite)
    shown = act(client, host, meeting_id, "admit").json
    assert shown["participants"] == ["host", "ann", "ben"], "first come, first in"
    assert shown["waiting"] == ["cat"]
    full = act(client, host, meeting_id, "admit", username="cat")
    assert full.status_code == 409 and full.json["error"] == "room_full"
