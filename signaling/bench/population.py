"""Users, connections and active calls for a scenario, made the way a client makes them.

On ChimeCast: `POST /register` + `POST /login` (over the tool's kept-alive `HttpPool`),
`hello` on the socket, `POST /call/start`, `incoming` at the callee,
`accept` over the socket, `accepted` at the caller. On the reference relay a user is just
a name (its token) and a call just a number.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from signaling.bench.http_pool import HttpPool
from signaling.bench.load_client import (
    CLIENTS,
    DEFAULT_CLIENT,
    BenchConn,
    PeerJSConn,
    RelayHandler,
)
from signaling.bench.target import Target
from signaling.client.api import ApiError


@dataclass
class User:
    name: str
    token: str


@dataclass
class Pair:
    """Two connected users in an active call: `caller` made it, `callee` answered it."""

    caller: User
    callee: User
    caller_conn: BenchConn
    callee_conn: BenchConn
    call_id: int


class Population:
    """Creates users on a target; remembers them so repeated runs reuse them."""

    def __init__(self, target: Target, http: HttpPool | None, client: str = DEFAULT_CLIENT) -> None:
        self.target = target
        self.http = http  # None on the reference relay, which has no API
        self.conn_class = CLIENTS[client]
        self.prefix = "bench-" + secrets.token_hex(3)
        self.password = "bench-pass-" + secrets.token_hex(8)
        self._names = itertools.count(1)
        self._fake_call_ids = itertools.count(1)

    async def users(self, count: int, done: Callable[[], None] = lambda: None) -> list[User]:
        """`count` new users, registered and logged in (in parallel, bounded by the pool)."""
        names = [f"{self.prefix}-{next(self._names)}" for _ in range(count)]
        if not self.target.has_api:
            for _ in names:
                done()
            return [User(name, name) for name in names]
        assert self.http is not None
        http = self.http

        async def make(name: str) -> User:
            credentials = {"username": name, "password": self.password}
            try:
                await http.call("POST", "/register", credentials)
            except ApiError as exc:
                if exc.code != "username_taken":
                    raise
            answer = await http.call("POST", "/login", credentials)
            done()
            return User(name, answer["token"])

        return list(await asyncio.gather(*(make(n) for n in names)))

    def conn(self, user: User, on_relay: RelayHandler | None = None) -> BenchConn:
        """A (not yet opened) signaling connection for `user`."""
        kind = PeerJSConn if self.target.protocol == "peerjs" else self.conn_class
        return kind(self.target.signaling_url, user.token, on_relay)

    def fake_call_id(self) -> int:
        """A call number for the reference relay, which has no calls."""
        return next(self._fake_call_ids)

    async def start_call(self, caller: User, callee: User) -> tuple[dict, int, int]:
        """POST /call/start as `caller`: (call record, perf_counter_ns sent, ns returned).

        Waiting for a free connection of the pool is not counted (see `HttpPool.request`).
        """
        assert self.http is not None
        status, answer, sent, returned = await self.http.request(
            "POST", "/call/start", {"callee": callee.name}, caller.token
        )
        if status != 201:
            raise ApiError(status, answer)
        return answer["call"], sent, returned

    async def make_pair(
        self, caller: User, callee: User, on_relay: RelayHandler | None = None
    ) -> Pair:
        """Connect both users and put them in an active call (a fake one on the reference)."""
        caller_conn, callee_conn = self.conn(caller, on_relay), self.conn(callee, on_relay)
        await asyncio.gather(caller_conn.open(), callee_conn.open())
        if not self.target.has_api:
            return Pair(caller, callee, caller_conn, callee_conn, self.fake_call_id())
        call, *_ = await self.start_call(caller, callee)
        await answer(callee_conn, caller_conn, call["id"])
        return Pair(caller, callee, caller_conn, callee_conn, call["id"])

    async def hang_up(self, pair: Pair) -> None:
        """End the call from the caller's socket (no-op on the reference)."""
        if self.target.has_api:
            await pair.caller_conn.request(
                {"type": "hangup", "call_id": pair.call_id}, f"h{pair.call_id}", timeout=15
            )


async def answer(
    callee_conn: BenchConn, caller_conn: BenchConn, call_id: int, incoming: dict | None = None
) -> None:
    """Wait for `incoming` (unless given), send `accept`, wait for the ack and `accepted`."""
    accepted = caller_conn.expect("accepted", call_id=call_id)
    if incoming is None:
        incoming = await asyncio.wait_for(callee_conn.expect("incoming", call_id=call_id), 30)
    if incoming["type"] != "incoming":
        raise RuntimeError(f"expected incoming for call {call_id}, got {incoming}")
    ack = await callee_conn.request({"type": "accept", "call_id": call_id}, f"a{call_id}", 30)
    if ack["type"] != "ack":
        raise RuntimeError(f"accept of call {call_id} refused: {ack}")
    message = await asyncio.wait_for(accepted, 30)
    if message["type"] != "accepted":
        raise RuntimeError(f"expected accepted for call {call_id}, got {message}")
