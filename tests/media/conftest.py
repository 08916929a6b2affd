"""Fixtures for media tests: real gunicorn + daemon, users, and connected signaling clients."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass

import pytest

from signaling.client import ApiClient, SignalingClient
from signaling.media import MediaPeer, use_loopback_only
from tests.conftest import PASSWORD

pytestmark = pytest.mark.slow

_names = itertools.count(1)


@pytest.fixture(autouse=True)
def _loopback_ice():
    use_loopback_only()


@dataclass
class Person:
    """A user of the running system: HTTP client plus one signaling connection."""

    name: str
    api: ApiClient
    sig: SignalingClient | None = None

    async def connect(self, url: str) -> SignalingClient:
        self.sig = SignalingClient(url, self.api.token)
        await self.sig.connect()
        return self.sig


def make_person(stack, prefix: str) -> Person:
    name = f"{prefix}{next(_names)}"
    api = ApiClient(stack.web_url)
    api.register_and_login(name, PASSWORD)
    return Person(name, api)


@pytest.fixture
def people(stack):
    """Factory: people("alice", "bob") -> registered, logged-in Persons (not yet connected)."""
    return lambda *prefixes: [make_person(stack, p) for p in prefixes]


async def ring_and_answer(caller: Person, callee: Person) -> int:
    """HTTP call start, `incoming` on the callee, accept over the socket, `accepted` on the caller."""
    call = await asyncio.to_thread(caller.api.start_call, callee.name)
    incoming = await callee.sig.wait_for("incoming", call_id=call["id"], timeout=5)
    assert incoming["from"] == caller.name
    ack = await callee.sig.accept(call["id"])
    assert ack["type"] == "ack", ack
    await caller.sig.wait_for("accepted", call_id=call["id"], timeout=5)
    return call["id"]


@contextlib.asynccontextmanager
async def media_pair(caller: Person, callee: Person, call_id: int, **options):
    """Two aiortc peers negotiating through the daemon; closed afterwards whatever happens."""
    offerer = MediaPeer(caller.sig, call_id, callee.name, colour=(220, 20, 20), **options)
    answerer = MediaPeer(callee.sig, call_id, caller.name, colour=(20, 20, 220), **options)
    try:
        await answerer.answer()
        await offerer.offer()
        yield offerer, answerer
    finally:
        await asyncio.gather(offerer.close(), answerer.close())


async def close_all(*people: Person) -> None:
    await asyncio.gather(*(p.sig.close() for p in people if p.sig is not None))
