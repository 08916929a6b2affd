"""Admit all: people let in together still arrive one after another, so that of any two of
them exactly one offers (PROTOCOL.md "Who offers")."""

from __future__ import annotations

import asyncio

import pytest

from tests.calling import close_all

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


def test_admit_all_lets_people_in_one_after_another_so_only_one_of_each_pair_offers(stack, people):
    host, ann, ben, cat = people("host", "ann", "ben", "cat")
    created = host.api.call("POST", "/meetings", {"name": "Room", "waiting_room": True})
    meeting_id, invite = created["meeting"]["id"], created["invite"]
    guests = [ann, ben, cat]

    async def scenario():
        for person in (host, *guests):
            await person.connect(stack.signaling_url)
        try:
            await host.sig.join_meeting(meeting_id)
            for guest in guests:
                assert (await guest.sig.join_meeting(meeting_id, invite))["state"] == "waiting"
            names = [g.name for g in guests]
            await host.sig.wait_for("waiting_list", meeting_id=meeting_id, waiting=names)
            ack = await host.sig.request({"type": "admit", "meeting_id": meeting_id})
            assert ack["type"] == "ack", ack

            # Each newcomer is told of those admitted before it (to whom it offers) ...
            for index, guest in enumerate(guests):
                joined = await guest.sig.wait_for("meeting_joined", meeting_id=meeting_id)
                assert joined["participants"] == [host.name, *names[:index]], (guest.name, joined)
            # ... and of those admitted after it (who offer to it), and never of itself.
            for index, guest in enumerate(guests):
                for later in names[index + 1 :]:
                    await guest.sig.wait_for(
                        "participant_joined", meeting_id=meeting_id, user=later, timeout=5
                    )
            await asyncio.sleep(0.5)  # anything wrong would have arrived by now
            for index, guest in enumerate(guests):
                told = [
                    m["user"]
                    for m in guest.sig.drain()
                    if m["type"] == "participant_joined" and m.get("meeting_id") == meeting_id
                ]
                assert not set(told) & set(names[: index + 1]), (guest.name, told)
            for name in names:
                await host.sig.wait_for("participant_joined", meeting_id=meeting_id, user=name)
        finally:
            await close_all(host, *guests)

    asyncio.run(scenario())
