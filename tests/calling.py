"""Helpers for tests that drive the running system as users: people, calls, media pairs."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass

from signaling.client.api import ApiClient
from signaling.client.media import MediaPeer
from signaling.client.socket import SignalingClient
from tests.conftest import PASSWORD

_names = itertools.count(1)


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
async def media_pair(caller: Person, callee: Person, call_id: int, ice_servers=((), ()), **options):
    """Two aiortc peers negotiating through the daemon; closed afterwards whatever happens.

    `ice_servers` is (caller's list, callee's list), e.g. each from GET /ice-servers.
    """
    offerer = MediaPeer(
        caller.sig, call_id, callee.name, ice_servers[0], colour=(220, 20, 20), **options
    )
    answerer = MediaPeer(
        callee.sig, call_id, caller.name, ice_servers[1], colour=(20, 20, 220), **options
    )
    try:
        await answerer.answer()
        await offerer.offer()
        yield offerer, answerer
    finally:
        await asyncio.gather(offerer.close(), answerer.close())


async def close_all(*people: Person) -> None:
    await asyncio.gather(*(p.sig.close() for p in people if p.sig is not None))


@contextlib.asynccontextmanager
async def online(url: str, *people: Person):
    """Connect each person's signaling socket to `url`; close them all afterwards."""
    try:
        for person in people:
            await person.connect(url)
        yield people
    finally:
        await close_all(*people)
