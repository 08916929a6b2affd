"""The daemon's database layer against the real schema (inline, no threadpool, no network)."""

from __future__ import annotations

import gevent
import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Connection, User
from signaling.errors import CallServiceError
from signaling.state.store import Identity, Store
from tests.app.helpers import statements_run


@pytest.fixture
def people(app, client, auth):
    """Tokens of two logged-in users."""
    tokens = {}
    for name in ("alice", "bob"):
        auth.register(name)
        tokens[name] = auth.login(name).json["token"]
    return tokens


@pytest.fixture
def store(app) -> Store:
    return Store(app)


def start_call(client, token, callee):
    response = client.post(
        "/call/start", json={"callee": callee}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201, response.json
    return response.json["call"]["id"]


def test_authenticate_accepts_live_tokens_only(store, people, client):
    who = store.authenticate(people["alice"])
    assert (who.username, who.display_name) == ("alice", "alice")
    assert store.authenticate("ccs_" + "x" * 43) is None
    client.post("/logout", headers={"Authorization": f"Bearer {people['alice']}"})
    assert store.authenticate(people["alice"]) is None


def test_connect_records_presence_and_lists_ringing_calls(app, store, people, client):
    call_id = start_call(client, people["alice"], "bob")
    alice, bob = store.authenticate(people["alice"]), store.authenticate(people["bob"])
    store.connect(alice, "conn-a", "node-1")
    info = store.connect(bob, "conn-b", "node-1")
    (call,) = info.calls
    assert (call.call_id, call.state, call.caller, call.callee) == (
        call_id,
        "ringing",
        "alice",
        "bob",
    )
    assert call.caller_session_id == alice.session_id and call.callee_session_id is None
    assert info.online_user_ids == {alice.user_id}
    with app.app_context():
        assert set(db.session.scalars(select(Connection.id))) == {"conn-a", "conn-b"}
    assert store.disconnect("conn-a", alice.user_id)[0].call_id == call_id
    assert store.is_connected(bob.user_id, bob.session_id)
    assert not store.is_connected(alice.user_id, None)
    assert store.clear_node("node-1") == 1


def test_call_actions_go_through_the_call_service_and_emit_events(store, people, client):
    call_id = start_call(client, people["alice"], "bob")
    alice, bob = store.authenticate(people["alice"]), store.authenticate(people["bob"])
    last = store.last_event_id()
    with pytest.raises(CallServiceError) as refused:
        store.call_action("accept", alice, call_id)
    assert refused.value.code == "not_callee"
    accepted = store.call_action("accept", bob, call_id)
    assert (accepted.state, accepted.callee_session_id) == ("active", bob.session_id)
    stats = store.record_stats(alice, call_id, {"path": "direct", "rtt_ms": 2})
    assert stats.call["stats"] == {"alice": {"path": "direct", "rtt_ms": 2}}
    assert [m.call_id for m in store.active_calls()] == [call_id]
    assert store.end_lost_call(call_id, bob.user_id)
    kinds = [event.kind for event in store.events_after(last, [])]
    assert kinds == ["call.accepted", "call.ended"]
    assert store.membership(call_id).call["end_reason"] == "connection_lost"


def test_a_start_over_the_socket_is_the_services_start_from_that_device(store, people, client):
    alice, bob = store.authenticate(people["alice"]), store.authenticate(people["bob"])
    last = store.last_event_id()
    started = store.start_call(alice, "BOB")  # usernames are case-insensitive, as over HTTP
    assert (started.outcome, started.record["state"]) == ("ringing", "ringing")
    assert store.membership(started.call_id).caller_session_id == alice.session_id
    assert store.start_call(alice, "bob").call_id == started.call_id  # "existing"
    assert [event.kind for event in store.events_after(last, [])] == ["call.ringing"]
    for callee, code in (("nobody", "user_not_found"), ("alice", "cannot_call_self")):
        with pytest.raises(CallServiceError) as refused:
            store.start_call(alice, callee)
        assert (refused.value.code, refused.value.call_id) == (code, None)
    store.call_action("accept", bob, started.call_id)
    client.post("/register", json={"username": "carol", "password": "correct horse battery"})
    carol = client.post("/login", json={"username": "carol", "password": "correct horse battery"})
    with pytest.raises(CallServiceError) as refused:  # bob is in the call: recorded as busy
        store.start_call(store.authenticate(carol.json["token"]), "bob")
    assert refused.value.code == "callee_busy" and refused.value.call_id is not None
    assert store.membership(refused.value.call_id).call["end_reason"] == "busy"


def test_expire_unanswered_marks_old_ringing_calls_missed(app, store, people, client, clock):
    call_id = start_call(client, people["alice"], "bob")
    clock.advance(seconds=app.config["RING_TIMEOUT"] + 1)
    assert store.expire_unanswered() == [call_id]
    assert store.membership(call_id).state == "ended"


def test_events_after_also_returns_requested_gaps(store, people, client):
    start_call(client, people["alice"], "bob")
    newest = store.last_event_id()
    assert store.events_after(newest, []) == []
    assert [e.id for e in store.events_after(newest, [newest])] == [newest]


def test_outbox_and_ring_sweep_run_on_their_own_runner(app, people, client):
    """They must not queue behind call control in the shared pool (rings came 1-2 s late)."""
    used = []

    def runner(name):
        def run(job):
            used.append(name)
            return job()

        return run

    store = Store(app, runner("shared"), runner("poll"))
    store.events_after(0, [])
    store.expire_unanswered()
    assert used == ["poll", "poll"]
    store.authenticate(people["alice"])
    assert used[-1] == "shared"


def test_outbox_rows_carry_the_participants_of_the_call(store, people, client, app):
    call_id = start_call(client, people["alice"], "bob")
    (event,) = [e for e in store.events_after(0, []) if e.call_id == call_id]
    with app.app_context():
        ids = {u.username: u.id for u in db.session.scalars(select(User))}
    assert event.kind == "call.ringing" and event.created_at is not None
    assert (event.data["caller_id"], event.data["callee_id"]) == (ids["alice"], ids["bob"])
    assert event.user_ids == sorted(ids.values())


def test_an_accept_over_the_socket_is_one_update_one_insert(app, store, people, client):
    """A guard on the daemon's share of a call setup: the conditional UPDATE returns the
    answered call (with both names), its outbox event is inserted, and nothing is read
    before or after. PostgreSQL adds one SELECT ... FOR KEY SHARE of the pair's user rows,
    so the one-active-call check sees the other's commit."""
    call_id = start_call(client, people["alice"], "bob")
    bob = store.authenticate(people["bob"])
    with statements_run(app) as statements:
        accepted = store.call_action("accept", bob, call_id)
    assert (accepted.state, accepted.callee, accepted.call["state"]) == ("active", "bob", "active")
    assert accepted.call == store.membership(call_id).call  # what was committed
    on_sqlite = app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    locks, notify = ([], []) if on_sqlite else (["SELECT"], ["NOTIFY"])  # + daemons' wake-up
    assert statements == [*locks, "UPDATE", "INSERT", *notify], statements


@pytest.mark.parametrize(
    "case, code",
    [
        ("twice", "call_not_ringing"),
        ("ended", "call_not_ringing"),
        ("by_the_caller", "not_callee"),
        ("unknown_call", "call_not_found"),
        ("disabled_callee", "unauthorized"),
    ],
)
def test_an_accept_that_is_not_the_common_case_is_refused_as_before(
    app, store, people, client, case, code
):
    call_id = start_call(client, people["alice"], "bob")
    alice, bob = store.authenticate(people["alice"]), store.authenticate(people["bob"])
    who = bob
    if case == "twice":
        store.call_action("accept", bob, call_id)
    elif case == "ended":
        store.call_action("hangup", alice, call_id)
    elif case == "by_the_caller":
        who = alice
    elif case == "unknown_call":
        call_id += 1000
    elif case == "disabled_callee":
        with app.app_context():
            db.session.get(User, bob.user_id).is_disabled = True
            db.session.commit()
    last, before = store.last_event_id(), store.membership(call_id)
    with pytest.raises(CallServiceError) as refused:
        store.call_action("accept", who, call_id)
    assert refused.value.code == code
    assert store.events_after(last, []) == []  # nothing announced ...
    assert store.membership(call_id) == before  # ... and nothing changed


def test_hellos_that_arrive_together_are_checked_and_recorded_with_one_statement_each(
    app, store, auth, client
):
    tokens = []
    for i in range(8):
        auth.register(f"user{i}")
        tokens.append(auth.login(f"user{i}").json["token"])
    with statements_run(app) as statements:
        checks = [gevent.spawn(store.authenticate, token) for token in [*tokens, "ccs_nope"]]
        gevent.joinall(checks, raise_error=True)
    who = [check.value for check in checks]
    assert [w.username for w in who[:-1]] == [f"user{i}" for i in range(8)] and who[-1] is None
    assert statements.count("SELECT") == 1, statements
    with statements_run(app) as statements:
        connects = [
            gevent.spawn(store.connect, w, f"conn-{i}", "n") for i, w in enumerate(who[:-1])
        ]
        gevent.joinall(connects, raise_error=True)
    assert statements.count("INSERT") == 1 and statements.count("SELECT") <= 2, statements
    with statements_run(app) as statements:
        gone = [
            gevent.spawn(store.disconnect, f"conn-{i}", w.user_id) for i, w in enumerate(who[:-1])
        ]
        gevent.joinall(gone, raise_error=True)
    assert statements.count("DELETE") == 1, statements
    assert not store.is_connected(who[0].user_id, None)


def test_a_connect_that_fails_in_a_batch_fails_alone(app, store, people):
    alice, bob = store.authenticate(people["alice"]), store.authenticate(people["bob"])
    ghost = Identity(user_id=10_000, username="ghost", display_name="ghost", session_id=10_000)
    jobs = [gevent.spawn(store.connect, w, f"c-{w.username}", "n") for w in (alice, ghost, bob)]
    gevent.joinall(jobs)
    assert jobs[0].successful() and jobs[2].successful()
    assert not jobs[1].successful()  # no such user: the foreign key refuses its row
    assert store.is_connected(alice.user_id, None) and store.is_connected(bob.user_id, None)


def test_a_sweep_finds_orphaned_devices_with_one_connection_query_however_many_calls(
    app, store, auth, client
):
    """After a daemon dies, the sweep asks which devices of every active call have no counted
    connection: one query for all of them, not one per participant; and the answer is exact
    (a connected device is not an orphan, even when the same user is unconnected elsewhere)."""
    tokens = {}
    for i in range(8):
        auth.register(f"user{i}")
        tokens[i] = auth.login(f"user{i}").json["token"]
    who = {i: store.authenticate(tokens[i]) for i in tokens}
    for caller in (0, 2, 4, 6):
        call_id = start_call(client, tokens[caller], f"user{caller + 1}")
        store.call_action("accept", who[caller + 1], call_id)
    for i in (0, 3, 4, 5):
        store.connect(who[i], f"conn-{i}", "n")
    with statements_run(app) as statements:
        orphans = store.orphans()
    assert sorted(user_id for _call, user_id in orphans.calls) == sorted(
        who[i].user_id for i in (1, 2, 6, 7)
    )
    assert orphans.seats == []
    assert statements.count("SELECT") == 3, statements  # calls, seats, connections
