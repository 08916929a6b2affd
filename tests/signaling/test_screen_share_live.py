"""One screen sharer per meeting, enforced by the real daemon; the host may take over."""

from __future__ import annotations

import pytest

from tests.signaling.test_meetings_live import connect, create, run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


def share(meeting_id: int, sharing: bool) -> dict:
    return {"type": "screen_share", "meeting_id": meeting_id, "sharing": sharing}


def test_one_sharer_at_a_time_and_the_host_takes_over(stack, people):
    host, ann, ben = people("host", "ann", "ben")
    meeting_id, invite = create(host)

    async def scenario():
        await connect(stack, host, ann, ben)
        for person in (host, ann, ben):
            await person.sig.join_meeting(meeting_id, invite)

        started = await ann.sig.request(share(meeting_id, True))
        assert started["type"] == "ack" and started["meeting"]["sharer"] == ann.name
        for person in (host, ann, ben):
            told = await person.sig.wait_for("screen_share", meeting_id=meeting_id, user=ann.name)
            assert told["taken_from"] is None

        refused = await ben.sig.request(share(meeting_id, True))
        assert (refused["type"], refused["code"]) == ("error", "screen_in_use")
        assert ann.name in refused["message"]

        # The host takes over: everyone hears it, ann is told hers was stopped.
        taken = await host.sig.request(share(meeting_id, True))
        assert taken["type"] == "ack" and taken["meeting"]["sharer"] == host.name
        for person in (host, ann, ben):
            told = await person.sig.wait_for("screen_share", meeting_id=meeting_id, user=host.name)
            assert told["taken_from"] == ann.name

        # Stopping someone else's share changes nothing; the sharer's own stop frees it.
        ignored = await ann.sig.request(share(meeting_id, False))
        assert ignored["type"] == "ack" and ignored["meeting"]["sharer"] == host.name
        stopped = await host.sig.request(share(meeting_id, False))
        assert stopped["type"] == "ack" and stopped["meeting"]["sharer"] is None
        for person in (ann, ben):
            await person.sig.wait_for("screen_share", meeting_id=meeting_id, user=None)
        again = await ben.sig.request(share(meeting_id, True))
        assert again["type"] == "ack" and again["meeting"]["sharer"] == ben.name

        # A sharer who leaves frees the screen: the next one may share.
        await ben.sig.leave_meeting(meeting_id)
        await ann.sig.wait_for("participant_left", meeting_id=meeting_id, user=ben.name)
        after = await ann.sig.request(share(meeting_id, True))
        assert after["type"] == "ack" and after["meeting"]["sharer"] == ann.name

    run(scenario, host, ann, ben)


def test_only_admitted_participants_may_share(stack, people):
    host, eve = people("host", "eve")
    meeting_id, _invite = create(host)

    async def scenario():
        await connect(stack, host, eve)
        await host.sig.join_meeting(meeting_id)
        refused = await eve.sig.request(share(meeting_id, True))
        assert refused["type"] == "error"
        assert refused["code"] in ("meeting_not_found", "participant_not_found")
        bad = await host.sig.request({"type": "screen_share", "meeting_id": meeting_id})
        assert (bad["type"], bad["code"]) == ("error", "invalid_message")

    run(scenario, host, eve)
