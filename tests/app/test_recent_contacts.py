"""Display names in call and meeting records, and the recent contacts of the home page."""

from __future__ import annotations

import pytest

from app.users.contacts import contact_ids_of
from tests.app.helpers import statements_run, user_id


@pytest.fixture
def named(login, client):
    """named("alice", "Alice Smith") -> headers of a user with that display name ("" none)."""

    def make(username: str, display_name: str = "") -> dict[str, str]:
        headers = login(username)
        if display_name:
            response = client.patch("/me", json={"display_name": display_name}, headers=headers)
            assert response.status_code == 200, response.json
        return headers

    return make


def talk(client, caller: dict[str, str], callee: str) -> int:
    """A call from `caller` to `callee`, started and at once cancelled; its id."""
    started = client.post("/call/start", json={"callee": callee}, headers=caller)
    assert started.status_code == 201, started.json
    call_id = started.json["call"]["id"]
    assert client.post("/call/end", json={"call_id": call_id}, headers=caller).status_code == 200
    return call_id


def test_call_records_name_both_sides_by_display_name_or_username(client, named):
    alice = named("alice", "Alice Smith")
    named("bob")
    call_id = talk(client, alice, "bob")
    (record,) = client.get("/calls", headers=alice).json["items"]
    assert record["id"] == call_id
    assert (record["caller"], record["caller_name"]) == ("alice", "Alice Smith")
    assert (record["callee"], record["callee_name"]) == ("bob", "bob")  # no display name
    assert client.get(f"/calls/{call_id}", headers=alice).json["caller_name"] == "Alice Smith"


def test_recent_contacts_are_who_i_called_or_who_called_me_newest_first(client, named, clock):
    alice = named("alice", "Alice Smith")
    bob = named("bob", "Bob Jones")
    carol = named("carol", "Carol King")
    named("dave", "Dave Never")  # never talked to alice
    talk(client, alice, "bob")
    clock.advance(seconds=60)
    talk(client, carol, "alice")
    clock.advance(seconds=60)
    talk(client, bob, "carol")  # not alice's
    clock.advance(seconds=60)
    talk(client, alice, "bob")  # bob again, most recent
    response = client.get("/me/contacts", headers=alice)
    assert response.status_code == 200, response.json
    items = response.json["items"]
    assert [(c["username"], c["display_name"]) for c in items] == [
        ("bob", "Bob Jones"),
        ("carol", "Carol King"),
    ]
    assert {c["presence"] for c in items} == {"offline"}  # no daemon: nobody connected
    assert items[0]["last_call_at"] > items[1]["last_call_at"]
    limited = client.get("/me/contacts?limit=1", headers=alice).json["items"]
    assert [c["username"] for c in limited] == ["bob"]


def test_recent_contacts_need_login(client):
    assert client.get("/me/contacts").status_code == 401


def test_meeting_records_name_the_host_by_display_name(client, named):
    alice = named("alice", "Alice Smith")
    created = client.post("/meetings", json={"name": "Standup"}, headers=alice)
    assert created.status_code == 201, created.json
    assert created.json["meeting"]["host_name"] == "Alice Smith"
    (listed,) = client.get("/meetings", headers=alice).json["items"]
    assert (listed["host"], listed["host_name"]) == ("alice", "Alice Smith")


def test_the_daemon_s_contact_lookup_answers_many_users_with_one_query(app, client, named, clock):
    """`contact_ids_of` (what the daemon asks for the hellos of one loop turn) gives each
    user the people of their recent contacts, newest first, capped, in one statement."""
    headers = {name: named(name) for name in ("alice", "bob", "carol", "dave", "erin")}
    talk(client, headers["alice"], "bob")
    clock.advance(seconds=60)
    talk(client, headers["carol"], "alice")
    clock.advance(seconds=60)
    talk(client, headers["bob"], "carol")
    clock.advance(seconds=60)
    talk(client, headers["alice"], "bob")
    with app.app_context():
        ids = {n: user_id(app, n) for n in headers}
        with statements_run(app) as seen:
            found = contact_ids_of([ids[n] for n in ("alice", "bob", "carol", "dave")], 50)
        capped = contact_ids_of([ids["alice"]], 1)
    assert seen == ["SELECT"]
    name_of = {uid: name for name, uid in ids.items()}
    assert {name_of[u]: [name_of[o] for o in others] for u, others in found.items()} == {
        "alice": ["bob", "carol"],
        "bob": ["alice", "carol"],
        "carol": ["bob", "alice"],
    }  # dave called nobody: no entry
    assert capped == {ids["alice"]: [ids["bob"]]}
