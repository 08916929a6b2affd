"""Calling someone with no connected device: the start answers at once, the call is missed.

The real system (gunicorn + one daemon), so presence comes from the daemon's own
connection and node rows, as in production.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from signaling.client.api import ApiClient
from tests.calling import Person, close_all, make_person
from tests.conftest import PASSWORD

pytestmark = pytest.mark.timeout(60)


def _named(person: Person, display_name: str) -> Person:
    person.api.call("PATCH", "/me", {"display_name": display_name})
    return person


def test_calling_someone_with_no_connected_device_is_missed_at_once(stack):
    alice = make_person(stack, "alice")
    carol = _named(make_person(stack, "carol"), "Carol Jones")

    async def scenario():
        await alice.connect(stack.signaling_url)
        try:
            started = time.monotonic()
            status, body = await asyncio.to_thread(
                alice.api.request, "POST", "/call/start", {"callee": carol.name}
            )
            answered_in = time.monotonic() - started
            missed = await alice.sig.wait_for("missed", call_id=body["call"]["id"], timeout=5)
            return status, body, answered_in, missed
        finally:
            await close_all(alice)

    status, body, answered_in, missed = asyncio.run(scenario())
    assert status == 409, body
    assert body["error"] == "callee_offline"
    assert body["message"] == "Carol Jones is offline and will see your missed call."
    call = body["call"]
    assert (call["state"], call["end_reason"]) == ("ended", "offline")
    assert (call["caller"], call["callee"]) == (alice.name, carol.name)
    assert answered_in < 2, f"the start took {answered_in:.2f}s"
    assert missed["call"]["end_reason"] == "offline"
    # The callee finds it in their history: a call to them that nobody answered.
    (row,) = carol.api.call("GET", "/calls")["items"]
    assert (row["id"], row["caller"], row["end_reason"]) == (call["id"], alice.name, "offline")
    assert row["answered_at"] is None


def test_a_callee_online_on_another_device_still_rings(stack):
    alice = make_person(stack, "alice")
    carol = make_person(stack, "carol")
    laptop = ApiClient(stack.web_url)  # a second device of carol's, never connected
    laptop.login(carol.name, PASSWORD)

    async def scenario():
        await alice.connect(stack.signaling_url)
        await carol.connect(stack.signaling_url)  # her phone
        try:
            status, body = await asyncio.to_thread(
                alice.api.request, "POST", "/call/start", {"callee": carol.name}
            )
            incoming = await carol.sig.wait_for("incoming", call_id=body["call"]["id"], timeout=5)
            return status, body, incoming
        finally:
            await close_all(alice, carol)

    status, body, incoming = asyncio.run(scenario())
    assert status == 201, body
    assert (body["outcome"], body["call"]["state"]) == ("ringing", "ringing")
    assert incoming["from"] == alice.name
