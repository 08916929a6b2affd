"""Nothing ChimeCast keeps in its database can be used against Janus on its own: a dump
(backup, replica, SQL injection elsewhere) must not hand out a room's secret (admin power
over the room) or any seat's stored token (a way into the media)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.janus import rooms
from app.janus.client import JanusError, JanusSession
from app.models import JanusWithdrawal, Meeting
from tests.app.helpers import create, join, rows

pytestmark = pytest.mark.timeout(60)


def _every_value(app) -> list[str]:
    """Every text-like value of every row of every table: what a dump would show."""
    values: list[str] = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(select(table)):
                values += [str(v) for v in row if v is not None]
    return values


def test_a_database_dump_holds_no_room_secret_and_no_seat_token(sfu_app, janus_nodes, users):
    node = janus_nodes()
    app = sfu_app(node)
    client = app.test_client()
    host, ann = users(app, "host", "ann")
    meeting_id, invite = create(client, host, media="sfu", max_participants=30)
    tokens = [join(client, who, meeting_id, invite).json["meeting"]["sfu"]["token"]
              for who in (host, ann)]  # fmt: skip
    room = rows(app, Meeting)[0]["janus_room"]
    # ann is removed but her node was never told: the withdrawal still to make is stored
    with app.app_context():
        meeting = db.session.get(Meeting, meeting_id)
        rooms.revoke(meeting, next(s for s in meeting.seats if s.username == "ann"))
        db.session.commit()
        rooms.discard_pending()
    assert len(rows(app, JanusWithdrawal)) == 1
    dump = _every_value(app)
    for token in tokens:
        assert not any(token in value for value in dump), "a seat's Janus token is stored"
    for value in {v for v in dump if len(v) >= 8}:
        with pytest.raises(JanusError) as refused:  # as the room's secret
            node.admin.kick(room, value, 1)
        assert refused.value.code == 433, (value, refused.value)
        with pytest.raises(JanusError):  # as a stored token
            JanusSession(node.api, value).attach()
    # and the credentials still work for those they were given to
    JanusSession(node.api, tokens[0]).attach()
