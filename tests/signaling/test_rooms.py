"""The daemon's meeting rosters: snapshots from actions and from the outbox, in order."""

from __future__ import annotations

from tests.signaling.fakes import make_services


def snapshot(*names: str, version: int | None = None) -> dict:
    seats = [
        {"user_id": i, "username": name, "session_id": 10 + i, "state": "admitted"}
        for i, name in enumerate(names, start=1)
    ]
    data = {"meeting_id": 5, "state": "open", "host_id": 1, "seats": seats}
    return data if version is None else {**data, "version": version}


def test_an_older_outbox_snapshot_does_not_undo_a_newer_join():
    """The host's join event (id 7) arrives after ann's own join (event 8) was applied."""
    services, _store, _timers = make_services()
    rooms = services.rooms
    rooms.apply(snapshot("host", "ann", version=8))  # ann's action, read after event 8
    late = rooms.apply(snapshot("host"), version=7)  # the outbox catches up with event 7
    assert [s.username for s in late.present()] == ["host"]  # the event is translated as it was
    assert rooms.get(5).admitted(2) is not None  # ...but ann stays admitted
    newer = rooms.apply(snapshot("host", "ann", "ben"), version=9)
    assert rooms.get(5) is newer


def test_unversioned_snapshots_are_always_kept():
    services, _store, _timers = make_services()
    rooms = services.rooms
    rooms.apply(snapshot("host", "ann"), version=4)
    rooms.apply(snapshot("host"))
    assert rooms.get(5).admitted(2) is None
