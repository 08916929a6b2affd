"""A deleted participant's identity is never inherited, through the real daemon: the next
account gets new user and session ids, is not refused as the deleted session, and cannot
signal into the meeting the deleted account sat in."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import create_engine, text

from app.config import normalize_database_url
from tests.calling import close_all, make_person

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

OFFER = {"type": "offer", "sdp": "v=0\r\n"}
PASSWORD = "correct horse battery staple"


def _user_id(stack, username: str) -> int | None:
    engine = create_engine(normalize_database_url(stack.database_url))
    try:
        with engine.connect() as connection:
            return connection.execute(
                text("SELECT id FROM users WHERE username = :u"), {"u": username}
            ).scalar()
    finally:
        engine.dispose()


def test_a_new_account_after_a_deleted_participant_inherits_nothing(stack, people):
    host, ann = people("host", "ann")
    (ben,) = people("ben")  # the newest account: SQLite would hand its ids to the next one
    created = host.api.call("POST", "/meetings", {"name": "Room"})
    meeting_id, invite = created["meeting"]["id"], created["invite"]
    ben_id = _user_id(stack, ben.name)
    ben_session = ben.api.call("GET", "/me/sessions")["items"][0]["id"]

    async def scenario():
        for person in (host, ann, ben):
            await person.connect(stack.signaling_url)
            joined = await person.sig.join_meeting(meeting_id, invite)
            assert joined["state"] == "admitted", joined
        status, _ = await asyncio.to_thread(
            ben.api.request, "DELETE", "/me", {"password": PASSWORD}
        )
        assert status == 204
        await ann.sig.wait_for("participant_left", meeting_id=meeting_id, user=ben.name)

        mal = await asyncio.to_thread(make_person, stack, "mal")
        assert _user_id(stack, mal.name) > ben_id
        assert mal.api.call("GET", "/me/sessions")["items"][0]["id"] > ben_session
        sig = await mal.connect(stack.signaling_url)  # not refused as ben's session
        assert sig.welcome["type"] == "welcome", sig.welcome
        try:
            ann.sig.drain()
            reply = await mal.sig.request(
                {"type": "offer", "meeting_id": meeting_id, "to": ann.name, "payload": OFFER}
            )
            assert reply["type"] == "error" and reply["code"] == "not_a_participant", reply
            with pytest.raises(TimeoutError):
                await ann.sig.wait_for("offer", meeting_id=meeting_id, timeout=1)
        finally:
            await close_all(mal)

    async def wrapper():
        try:
            await scenario()
        finally:
            await close_all(host, ann, ben)

    asyncio.run(wrapper())
