"""Meeting seats change one at a time, even when people join at the same instant."""

from __future__ import annotations

import threading

from sqlalchemy import select

from app.extensions import db
from app.meetings import service
from app.models import Event, User
from app.users.service import create_user

GUESTS = 4


def test_simultaneous_joins_each_see_everyone_admitted_before_them(app):
    """Every `meeting.joined` event's roster must contain all earlier admissions; a joiner
    whose roster missed a concurrent one would never offer to (or hear about) that person."""
    with app.app_context():
        names = ["host"] + [f"guest{i}" for i in range(GUESTS)]
        for name in names:
            create_user(name, "correct horse battery staple")
        db.session.commit()
        host = db.session.scalar(select(User).filter_by(username="host"))
        rounds = []
        for _ in range(6):
            meeting, invite = service.create_meeting(host, "race", max_participants=12)
            service.join(host, meeting.id, None, None)
            rounds.append((meeting.id, invite))

    def join(
        name: str, meeting_id: int, invite: str, barrier: threading.Barrier, errors: list
    ) -> None:
        with app.app_context():  # one worker: its own session and connection
            try:
                user = db.session.scalar(select(User).filter_by(username=name))
                barrier.wait(5)
                service.join(user, meeting_id, invite, None)
            except Exception as exc:  # noqa: BLE001 (collected and asserted below)
                errors.append(exc)
            finally:
                db.session.remove()

    errors: list[Exception] = []
    for meeting_id, invite in rounds:
        barrier = threading.Barrier(GUESTS)
        threads = [
            threading.Thread(target=join, args=(f"guest{i}", meeting_id, invite, barrier, errors))
            for i in range(GUESTS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert errors == []

    with app.app_context():
        for meeting_id, _invite in rounds:
            events = db.session.scalars(
                select(Event).where(Event.kind == "meeting.joined").order_by(Event.id)
            )
            seen: set[str] = set()
            for event in events:
                if event.data["roster"]["meeting_id"] != meeting_id:
                    continue
                admitted = {
                    s["username"] for s in event.data["roster"]["seats"] if s["state"] == "admitted"
                }
                assert seen <= admitted, (
                    f"{event.data['user']} joined without seeing {seen - admitted}"
                )
                seen = admitted
            assert len(seen) == GUESTS + 1
