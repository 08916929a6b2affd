"""Fake connections, store and timers: handlers, hub, outbox and presence run with no network.

In the peerjs-server style, a `FakeConn` records what the daemon would have written to the
socket, and checks every message against the protocol's server shapes as it goes.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from typing import Any

from signaling.errors import CallServiceError
from signaling.protocol import check_server_message, parse
from signaling.settings import Settings
from signaling.state.call_cache import ACTIVE, ENDED, RINGING, Membership
from signaling.state.services import Services, build_services
from signaling.state.store import ConnectInfo, Identity, OutboxEvent

_conn_ids = itertools.count(1)


class FakeConn:
    """A connection that records sent messages and its close code."""

    def __init__(self, identity: Identity | None = None) -> None:
        self.conn_id = f"c{next(_conn_ids)}"
        self.identity = identity
        self.sent: list[dict[str, Any]] = []
        self.closing = False
        self.started = time.monotonic()
        self.closed: tuple[int, str] | None = None

    @property
    def user_id(self) -> int:
        return self.identity.user_id if self.identity else 0

    @property
    def username(self) -> str:
        return self.identity.username if self.identity else ""

    @property
    def session_id(self) -> int:
        return self.identity.session_id if self.identity else 0

    def send(self, message: dict[str, Any]) -> bool:
        assert check_server_message(message) == [], message
        if self.closing:
            return False
        self.sent.append(message)
        return True

    def close(self, code: int, reason: str = "") -> None:
        if not self.closing:
            self.closing, self.closed = True, (int(code), reason)

    def authenticated(self, identity: Identity) -> None:
        self.identity = identity

    def welcome(self, message: dict[str, Any]) -> None:
        self.send(message)

    def types(self) -> list[str]:
        return [message["type"] for message in self.sent]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [message for message in self.sent if message["type"] == kind]


class FakeTimers:
    """Timers that fire only when the test says so."""

    @dataclasses.dataclass
    class Pending:
        delay: float
        fn: Any
        args: tuple
        cancelled: bool = False

        def cancel(self) -> None:
            self.cancelled = True

    def __init__(self) -> None:
        self.scheduled: list[FakeTimers.Pending] = []

    def call_later(self, delay: float, fn: Any, *args: Any) -> Pending:
        pending = self.Pending(delay, fn, args)
        self.scheduled.append(pending)
        return pending

    def live(self) -> list[Pending]:
        return [p for p in self.scheduled if not p.cancelled]

    def fire_all(self) -> None:
        for pending in self.live():
            pending.cancelled = True
            pending.fn(*pending.args)


class FakeStore:
    """Users, sessions and calls in dicts, with a tiny copy of the call state machine."""

    def __init__(self) -> None:
        self.tokens: dict[str, Identity] = {}
        self.calls: dict[int, Membership] = {}
        self.events: list[OutboxEvent] = []
        self.online: set[int] = set()
        self.elsewhere: set[tuple[int, int | None]] = set()  # (user, session) on other nodes
        self.loads = 0
        self.connections: dict[str, int] = {}
        self.lost: list[tuple[int, int]] = []
        self.stats: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def user(self, username: str, user_id: int, session_id: int) -> Identity:
        """Create a logged-in device; its token is `token-<username>-<session_id>`."""
        who = Identity(user_id, username, username.title(), session_id)
        self.tokens[f"token-{username}-{session_id}"] = who
        return who

    def add_call(self, caller: Identity, callee: Identity, state: str = RINGING, **extra) -> int:
        call_id = next(self._ids) + 40
        self.calls[call_id] = Membership(
            call_id=call_id,
            state=state,
            caller_id=caller.user_id,
            callee_id=callee.user_id,
            caller=caller.username,
            callee=callee.username,
            caller_session_id=caller.session_id,
            callee_session_id=extra.pop("callee_session_id", None),
            call={"id": call_id, "state": state},
        )
        return call_id

    def _copy(self, call_id: int) -> Membership | None:
        call = self.calls.get(call_id)
        return dataclasses.replace(call, call=dict(call.call)) if call else None

    def _set_state(self, call_id: int, state: str, **values: Any) -> Membership:
        call = self.calls[call_id]
        call.state = state
        call.call = {**call.call, "state": state}
        for name, value in values.items():
            setattr(call, name, value)
        return self._copy(call_id)  # type: ignore[return-value]

    # -- the Store interface ------------------------------------------------------------
    def authenticate(self, token: str, wanted: Any = None) -> Identity | None:
        return self.tokens.get(token)

    def mine(self, user_id: int) -> list[Membership]:
        return [
            self._copy(c.call_id)  # type: ignore[misc]
            for c in self.calls.values()
            if user_id in (c.caller_id, c.callee_id) and c.state in (RINGING, ACTIVE)
        ]

    def connect(self, who: Identity, conn_id: str, node_id: str) -> ConnectInfo:
        self.connections[conn_id] = who.user_id
        return ConnectInfo(
            [{"urls": ["stun:stun.test:3478"]}], self.mine(who.user_id), frozenset(self.online)
        )

    def disconnect(self, conn_id: str, user_id: int) -> list[Membership]:
        self.connections.pop(conn_id, None)
        return self.mine(user_id)

    def membership(self, call_id: int) -> Membership | None:
        self.loads += 1
        return self._copy(call_id)

    def call_action(self, action: str, who: Identity, call_id: int) -> Membership:
        call = self.calls.get(call_id)
        if call is None or who.user_id not in (call.caller_id, call.callee_id):
            raise CallServiceError("call_not_found", "No such call.")
        if action == "hangup":
            return self._set_state(call_id, ENDED)
        if call.callee_id != who.user_id:
            raise CallServiceError("not_callee", "Only the person being called can do that.")
        if call.state != RINGING:
            raise CallServiceError("call_not_ringing", f"The call is {call.state}.")
        if action == "accept":
            return self._set_state(call_id, ACTIVE, callee_session_id=who.session_id)
        return self._set_state(call_id, ENDED)

    def record_stats(self, who: Identity, call_id: int, stats: dict[str, Any]) -> Membership:
        self.stats[call_id] = stats
        return self._copy(call_id)  # type: ignore[return-value]

    def is_connected(self, user_id: int, session_id: int | None) -> bool:
        return (user_id, session_id) in self.elsewhere

    def end_lost_call(self, call_id: int, lost_user_id: int) -> bool:
        self.lost.append((call_id, lost_user_id))
        self._set_state(call_id, ENDED)
        return True

    def last_event_id(self) -> int:
        return max((e.id for e in self.events), default=0)

    def events_after(self, last_id: int, gaps: list[int], limit: int = 500) -> list[OutboxEvent]:
        found = [e for e in self.events if e.id > last_id or e.id in gaps]
        return sorted(found, key=lambda e: e.id)[:limit]


def make_services(**settings: Any) -> tuple[Services, FakeStore, FakeTimers]:
    store, timers = FakeStore(), FakeTimers()
    options = {"node_id": "test-node", **settings}
    return build_services(Settings(**options), store, timers), store, timers


def message(text: str | dict) -> Any:
    """A validated client message from JSON text or a dict."""
    import json

    return parse(text if isinstance(text, str) else json.dumps(text))
