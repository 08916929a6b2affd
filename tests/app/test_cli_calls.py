"""`flask calls list|show|stats` through the CLI runner."""

from __future__ import annotations

import json
import re

import pytest

from app.calls.service import record_stats
from app.extensions import db
from app.models import User


@pytest.fixture
def history(client, login, call, clock, app):
    """A realistic day: two answered calls (60 s and 120 s), one each of missed, declined,
    busy and cancelled, and one still ringing. Returns {label: call id}."""
    alice, bob, carol = login("alice"), login("bob"), login("carol")

    def act(action, call_id, headers):
        assert (
            client.post(f"/call/{action}", json={"call_id": call_id}, headers=headers).status_code
            == 200
        )

    ids = {}
    ids["answered_60"] = call(alice, "bob")["id"]
    act("accept", ids["answered_60"], bob)
    clock.advance(seconds=60)
    ids["busy"] = client.post("/call/start", json={"callee": "bob"}, headers=carol).json["call"][
        "id"
    ]
    act("end", ids["answered_60"], alice)
    clock.advance(seconds=1)
    ids["missed"] = call(carol, "alice")["id"]
    clock.advance(seconds=app.config["RING_TIMEOUT"] + 1)
    ids["declined"] = call(bob, "carol")["id"]
    act("decline", ids["declined"], carol)
    clock.advance(seconds=1)
    ids["cancelled"] = call(carol, "bob")["id"]
    act("end", ids["cancelled"], carol)
    clock.advance(seconds=1)
    ids["answered_120"] = call(bob, "alice")["id"]
    act("accept", ids["answered_120"], alice)
    clock.advance(seconds=120)
    act("end", ids["answered_120"], bob)
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(username="alice"))
        record_stats(user.id, ids["answered_120"], {"path": "direct", "rtt_ms": 12})
        user = db.session.scalar(db.select(User).filter_by(username="bob"))
        record_stats(user.id, ids["answered_120"], {"path": "relay", "rtt_ms": 48})
    clock.advance(seconds=1)
    ids["ringing"] = call(alice, "carol")["id"]
    return ids


def test_list_prints_newest_first_with_outcomes_and_durations(runner, history):
    result = runner.invoke(args=["calls", "list"])
    assert result.exit_code == 0
    header, *lines = result.stdout.splitlines()
    assert header.split()[:5] == ["ID", "CALLER", "CALLEE", "STATE", "END"]
    table = [line.split() for line in lines]
    assert [int(row[0]) for row in table] == sorted(history.values(), reverse=True)
    by_id = {int(row[0]): row for row in table}
    assert by_id[history["answered_120"]][3:5] == ["ended", "hangup"]
    assert by_id[history["answered_120"]][-1] == "2:00"
    assert by_id[history["answered_60"]][-1] == "1:00"
    assert by_id[history["missed"]][3:5] == ["ended", "missed"]
    assert by_id[history["ringing"]][3:5] == ["ringing", "-"]
    duration_column = header.index("DURATION")
    assert lines[0][duration_column:].strip() == "-"


def test_list_json_matches_the_http_api(runner, history, client, login):
    calls = json.loads(runner.invoke(args=["calls", "list", "--json"]).stdout)
    assert len(calls) == len(history)
    first = calls[-1]
    assert first["id"] == history["answered_60"]
    api = client.get(f"/calls/{first['id']}", headers=login("alice")).json
    assert first == api


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--user", "carol"], {"busy", "missed", "declined", "cancelled", "ringing"}),
        (["--state", "ringing"], {"ringing"}),
        (["--user", "alice", "--state", "ended"], {"answered_60", "missed", "answered_120"}),
        (["--limit", "2"], {"ringing", "answered_120"}),
    ],
)
def test_list_filters(runner, history, args, expected):
    result = runner.invoke(args=["calls", "list", "--json", *args])
    assert result.exit_code == 0
    names = {label for label, call_id in history.items()}
    found = {c["id"] for c in json.loads(result.stdout)}
    assert {label for label in names if history[label] in found} == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "ghost"], "No user named 'ghost'."),
        (["--state", "sleeping"], "Invalid value for '--state'"),
        (["--limit", "0"], "Invalid value for '--limit'"),
    ],
)
def test_list_rejects_bad_options(runner, args, message):
    result = runner.invoke(args=["calls", "list", *args])
    assert result.exit_code != 0 and message in result.stderr


def test_list_marks_overdue_ringing_calls_missed(runner, history, clock, app):
    clock.advance(seconds=app.config["RING_TIMEOUT"] + 1)
    calls = json.loads(runner.invoke(args=["calls", "list", "--state", "ringing", "--json"]).stdout)
    assert calls == []
    ended = json.loads(runner.invoke(args=["calls", "list", "--state", "ended", "--json"]).stdout)
    overdue = next(c for c in ended if c["id"] == history["ringing"])
    assert (overdue["state"], overdue["end_reason"]) == ("ended", "missed")


def test_list_when_empty(runner):
    assert runner.invoke(args=["calls", "list"]).stdout == "No calls.\n"


def test_show_includes_each_sides_media_report(runner, history):
    result = runner.invoke(args=["calls", "show", str(history["answered_120"])])
    assert result.exit_code == 0
    shown = {
        k.strip(): v.strip() for k, v in (line.split(":", 1) for line in result.stdout.splitlines())
    }
    assert shown["Caller"] == "bob" and shown["Callee"] == "alice"
    assert shown["State"] == "ended" and shown["End reason"] == "hangup"
    assert shown["Ended by"] == "bob" and shown["Duration"] == "2:00"
    assert shown["Media (alice)"] == "path=direct, rtt_ms=12"
    assert shown["Media (bob)"] == "path=relay, rtt_ms=48"


def test_show_json_and_a_call_without_reports(runner, history):
    data = json.loads(
        runner.invoke(args=["calls", "show", str(history["answered_120"]), "--json"]).stdout
    )
    assert data["stats"] == {
        "alice": {"path": "direct", "rtt_ms": 12},
        "bob": {"path": "relay", "rtt_ms": 48},
    }
    assert data["duration_seconds"] == 120
    plain = runner.invoke(args=["calls", "show", str(history["busy"])]).stdout
    assert "Media:" in plain and "no reports" in plain and "busy" in plain


@pytest.mark.parametrize(("arg", "code"), [("999", 1), ("abc", 2)])
def test_show_unknown_or_malformed_id_fails(runner, arg, code):
    result = runner.invoke(args=["calls", "show", arg])
    assert result.exit_code == code
    if code == 1:
        assert "No call with id 999." in result.stderr


def test_stats_counts_outcomes_and_averages_answered_calls(runner, history):
    result = runner.invoke(args=["calls", "stats", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "total": 7,
        "answered": 2,
        "missed": 1,
        "declined": 1,
        "busy": 1,
        "offline": 0,
        "cancelled": 1,
        "connection_lost": 0,
        "ringing": 1,
        "active": 0,
        "average_duration_seconds": 90.0,
        "meetings": {
            "total": 0,
            "open": 0,
            "participants": 0,
            "average_participants": None,
            "average_duration_seconds": None,
        },
    }


def test_stats_table_and_per_user(runner, history):
    result = runner.invoke(args=["calls", "stats"])
    assert result.exit_code == 0
    shown = {
        k.strip(): v.strip() for k, v in (line.split(":", 1) for line in result.stdout.splitlines())
    }
    assert shown["Answered"] == "2" and shown["Missed"] == "1" and shown["Busy"] == "1"
    assert shown["Average duration"] == "1:30 (90.0 s)"
    carol = json.loads(runner.invoke(args=["calls", "stats", "--user", "carol", "--json"]).stdout)
    assert (carol["total"], carol["answered"], carol["average_duration_seconds"]) == (5, 0, None)
    assert runner.invoke(args=["calls", "stats", "--user", "ghost"]).exit_code == 1


def test_stats_on_an_empty_database(runner):
    data = json.loads(runner.invoke(args=["calls", "stats", "--json"]).stdout)
    assert data["total"] == 0 and data["average_duration_seconds"] is None
    assert re.search(
        r"^Average duration:\s+-$", runner.invoke(args=["calls", "stats"]).stdout, re.M
    )
