"""Presence as others see it, from the real daemon's connection rows: in a meeting is busy."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.calling import close_all, make_person

pytestmark = pytest.mark.timeout(60)


def test_someone_in_a_meeting_is_in_a_call_for_the_others(stack):
    host, carol = make_person(stack, "host"), make_person(stack, "carol")
    meeting_id = host.api.call("POST", "/meetings", {"name": "Busy"})["meeting"]["id"]

    def presence() -> str:
        return carol.api.call("GET", f"/users/{host.name}")["presence"]

    async def scenario():
        await host.connect(stack.signaling_url)
        try:
            online = await asyncio.to_thread(presence)
            await host.sig.join_meeting(meeting_id)
            busy = await asyncio.to_thread(presence)
            await host.sig.leave_meeting(meeting_id)
            free = await asyncio.to_thread(presence)
            return online, busy, free
        finally:
            await close_all(host)

    assert asyncio.run(scenario()) == ("online", "in_call", "online")
    # The daemon deletes the connection row after the close reaches it: a moment later.
    deadline = time.monotonic() + 5
    while (seen := presence()) != "offline":
        assert time.monotonic() < deadline, f"still {seen} 5 s after the socket closed"
        time.sleep(0.05)
