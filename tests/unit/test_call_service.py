"""The call state machine (app.calls.service) used directly, as the signaling daemon does."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, func, select

from app.calls import service
from app.errors import ApiError
from app.extensions import db
from app.models import Call, Event, User
from app.users.service import create_user
from tests.app.helpers import statements_run


@pytest.fixture
def users(app):
    with app.app_context():
        for name in ("alice", "bob", "carol"):
            create_user(name, "correct horse battery staple")
        db.session.commit()
    return app


def user(name: str) -> User:
    return db.session.scalar(select(User).filter_by(username=name))


def kinds(call_id: int) -> list[str]:
    return list(
        db.session.scalars(select(Event.kind).filter_by(call_id=call_id).order_by(Event.id))
    )


def kinds_of_all() -> list[str]:
    return list(db.session.scalars(select(Event.kind).order_by(Event.id)))


def test_a_transition_lost_to_a_concurrent_one_is_refused(users):
    """Two app contexts = two database sessions, like two workers racing on one call."""
    app = users
    with app.app_context():
        call_id = service.start_call(user("alice").id, "bob").call_id
        stale = db.session.get(Call, call_id)  # this worker still sees it ringing
        assert stale.state == "ringing"
        with app.app_context():  # meanwhile another worker answers it
            service.accept_call(user("bob").id, call_id, session_id=7)
        with pytest.raises(ApiError) as caught:
            service.decline_call(user("bob").id, call_id)
        assert caught.value.code == "call_not_ringing"
        db.session.expire_all()
        call = db.session.get(Call, call_id)
        assert (call.state, call.end_reason, call.callee_session_id) == ("active", None, 7)
        assert kinds(call_id) == ["call.ringing", "call.accepted"]


def test_end_call_retries_when_the_state_changed_underneath(users):
    app = users
    with app.app_context():
        call_id = service.start_call(user("alice").id, "bob").call_id
        db.session.get(Call, call_id)  # loaded as ringing in this session
        with app.app_context():
            service.accept_call(user("bob").id, call_id)
        ended = service.end_call(user("alice").id, call_id)
        # It was active by then, so ending it is a hang-up, not a cancel.
        assert (ended.state, ended.end_reason) == ("ended", "hangup")


def test_end_lost_call_ends_with_connection_lost(users):
    app = users
    with app.app_context():
        call_id = service.start_call(user("alice").id, "bob").call_id
        service.accept_call(user("bob").id, call_id)
        assert service.end_lost_call(call_id, user("bob").id) is True
        call = db.session.get(Call, call_id)
        assert (call.state, call.end_reason, call.ended_by_id) == (
            "ended",
            "connection_lost",
            user("bob").id,
        )
        assert service.end_lost_call(call_id) is False  # already ended
        assert service.end_lost_call(999) is False
        assert kinds(call_id)[-1] == "call.ended"


def test_expire_unanswered_only_touches_overdue_ringing_calls(users, clock):
    app = users
    with app.app_context():
        old = service.start_call(user("alice").id, "bob").call_id
        clock.advance(seconds=app.config["RING_TIMEOUT"] - 5)
        young = service.start_call(user("carol").id, "alice").call_id
        clock.advance(seconds=6)
        assert service.expire_unanswered() == [old]
        assert db.session.get(Call, young).state == "ringing"
        assert service.expire_unanswered() == []


def test_record_stats_is_per_participant_and_refused_to_outsiders(users):
    app = users
    with app.app_context():
        call_id = service.start_call(user("alice").id, "bob").call_id
        service.record_stats(user("alice").id, call_id, {"path": "direct"})
        service.record_stats(user("bob").id, call_id, {"path": "relay", "rtt_ms": 80})
        service.record_stats(user("alice").id, call_id, {"path": "relay"})  # replaces her report
        assert db.session.get(Call, call_id).stats == {
            "alice": {"path": "relay"},
            "bob": {"path": "relay", "rtt_ms": 80},
        }
        with pytest.raises(ApiError) as caught:
            service.record_stats(user("carol").id, call_id, {"path": "direct"})
        assert caught.value.status == 404


def test_active_calls_of_lists_ringing_and_active_calls(users):
    app = users
    with app.app_context():
        ended = service.start_call(user("bob").id, "carol").call_id
        service.end_call(user("bob").id, ended)
        ringing = service.start_call(user("alice").id, "bob").call_id
        active = service.start_call(user("carol").id, "alice").call_id
        service.accept_call(user("alice").id, active)
        assert {c.id for c in service.active_calls_of(user("alice").id)} == {ringing, active}
        assert {c.id for c in service.active_calls_of(user("carol").id)} == {active}


def test_simultaneous_glare_the_later_invite_gives_way_before_it_rings(users, monkeypatch):
    """Alice's invite commits (another worker) just after Bob's start looked for it: Bob's
    INSERT must find it, give way unannounced and merge into hers."""
    app = users
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # There Alice's start waits for Bob's row locks, and this test runs both in one
        # thread; the next test covers PostgreSQL's interleaving.
        pytest.skip("SQLite-specific: on PostgreSQL the pair's starts take turns")
    real_look = service._live_calls_around

    def alice_commits_meanwhile(caller, callee):
        monkeypatch.setattr(service, "_live_calls_around", real_look)  # once only
        found = real_look(caller, callee)
        with app.app_context():  # another worker, another database session
            service.start_call(user("alice").id, "bob", session_id=11)
        return found

    with app.app_context():
        monkeypatch.setattr(service, "_live_calls_around", alice_commits_meanwhile)
        result = service.start_call(user("bob").id, "alice", session_id=22)
        calls = list(db.session.scalars(select(Call).order_by(Call.id)))
        assert [(c.caller.username, c.state, c.end_reason) for c in calls] == [
            ("alice", "active", None)
        ]
        assert result.outcome == "merged" and result.call_id == calls[0].id
        assert (calls[0].caller_session_id, calls[0].callee_session_id) == (11, 22)
        assert kinds(calls[0].id) == ["call.ringing", "call.accepted"]
        assert kinds_of_all() == ["call.ringing", "call.accepted"]  # Bob's: never announced


def test_an_invite_over_the_start_limit_is_not_recorded(users):
    app = users
    app.config["CALL_START_LIMIT"] = 2
    with app.app_context():
        for _ in range(2):
            call_id = service.start_call(user("alice").id, "bob").call_id
            service.end_call(user("alice").id, call_id)
        busy = service.start_call(user("carol").id, "bob").call_id
        service.accept_call(user("bob").id, busy)
        recorded = kinds_of_all()
        for callee in ("carol", "bob"):  # free, then busy: refused before either is recorded
            with pytest.raises(ApiError) as refused:
                service.start_call(user("alice").id, callee)
            assert refused.value.status == 429 and refused.value.code == "too_many_calls"
        assert db.session.scalar(select(func.count(Call.id))) == 3
        assert kinds_of_all() == recorded
        assert recorded[:4] == ["call.ringing", "call.cancelled"] * 2


def test_crossing_invites_merge_when_the_first_commits_after_the_second(users, monkeypatch):
    """On PostgreSQL an id is drawn at INSERT, not at commit: Alice's invite (lower id) can
    commit after Bob's. Bob's post-commit check then finds nothing, Alice's finds a higher
    id, and both would keep ringing. The pair's starts must take turns instead.

    Alice's start pauses between its INSERT and its commit while Bob's runs."""
    app = users
    alice_inserted, alice_may_commit = threading.Event(), threading.Event()
    real_announce = service._announce

    def announce_then_pause(kind, *args, **extra):
        record = real_announce(kind, *args, **extra)
        if threading.current_thread().name == "alice" and kind == "call.ringing":
            alice_inserted.set()
            alice_may_commit.wait(10)
        return record

    monkeypatch.setattr(service, "_announce", announce_then_pause)
    outcomes: dict[str, str] = {}

    def start(caller: str, callee: str) -> None:
        with app.app_context():  # a worker of its own: own session, own connection
            try:
                outcomes[caller] = service.start_call(user(caller).id, callee).outcome
            finally:
                db.session.remove()

    alice = threading.Thread(target=start, args=("alice", "bob"), name="alice")
    bob = threading.Thread(target=start, args=("bob", "alice"), name="bob")
    alice.start()
    assert alice_inserted.wait(10)
    bob.start()
    bob.join(0.5)  # done by now unless it waits for Alice's turn to end
    alice_may_commit.set()
    for thread in (alice, bob):
        thread.join(10)

    with app.app_context():
        calls = list(db.session.scalars(select(Call).order_by(Call.id)))
        states = [(c.caller.username, c.state, c.end_reason) for c in calls]
    assert [s[1] for s in states].count("ringing") == 0, (states, outcomes)
    assert ("alice", "active", None) in states, (states, outcomes)
    assert sorted(outcomes.values()) == ["merged", "ringing"], (states, outcomes)


def test_a_call_start_reads_only_the_calls_of_its_two_users(users):
    """The plan of every query of a start (SQLite): no read of every ringing or active call
    in the system through the state index, or of the whole table. With thousands of live
    calls that read was the slowest part of a start."""
    app = users
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite-specific: PostgreSQL plans by its statistics")
    with app.app_context():
        service.start_call(user("carol").id, "alice")  # a live call that is not the pair's
        queries: list[tuple[str, object]] = []

        def record(_conn, _cursor, statement, parameters, *_args) -> None:
            if statement.startswith("SELECT"):
                queries.append((statement, parameters))

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            service.start_call(user("alice").id, "bob")
            service.active_calls_of(user("alice").id)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        raw = db.session.connection().connection.dbapi_connection
        plans = {
            statement: [row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {statement}", params)]
            for statement, params in queries
            if "FROM calls" in statement
        }
    assert len(plans) >= 3, plans  # the live calls (rows and objects), the rate, the glare
    for statement, plan in plans.items():
        reads = " / ".join(plan)
        assert "ix_calls_state_created" not in reads and "SCAN calls" not in reads, statement


def test_calling_again_after_the_ring_timeout_misses_the_old_call_and_rings_anew(users, clock):
    app = users
    with app.app_context():
        first = service.start_call(user("alice").id, "bob").call_id
        clock.advance(seconds=app.config["RING_TIMEOUT"] + 1)
        again = service.start_call(user("alice").id, "bob")
        assert again.outcome == "ringing" and again.call_id != first
        old = db.session.get(Call, first)
        assert (old.state, old.end_reason) == ("ended", "missed")
        assert kinds(first) == ["call.ringing", "call.missed"]


def test_an_overdue_call_from_the_callee_is_missed_not_merged(users, clock):
    app = users
    with app.app_context():
        crossing = service.start_call(user("bob").id, "alice").call_id
        clock.advance(seconds=app.config["RING_TIMEOUT"] + 1)
        result = service.start_call(user("alice").id, "bob")
        assert result.outcome == "ringing" and result.call_id != crossing
        assert db.session.get(Call, crossing).end_reason == "missed"


def test_a_call_start_costs_five_statements(users):
    """A guard on the hot path of 1,000 simultaneous call starts (the token lookup comes
    before): the pair of users, the live calls around them, the call, the glare and rate
    check in its transaction, and its outbox event. It was eleven, then six."""
    app = users
    with app.app_context():
        caller = user("alice")
        with statements_run(app) as statements:
            result = service.start_call(caller.id, "bob", session_id=3)
            assert result.record["state"] == "ringing"
    # PostgreSQL adds the daemons' wake-up, one per transaction that writes an event
    notify = [] if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite") else ["NOTIFY"]
    assert statements == ["SELECT", "SELECT", "INSERT", "SELECT", "INSERT", *notify], statements
