"""Who is connected where: users and sessions to their live connections, and delivery to them.

The layering follows python-socketio's managers: `InMemoryHub` keeps the indexes and
delivers to connections of this process; `emit()` is the one entry point for delivery
(deliver here, then `publish()`). A pub/sub hub (signaling.state.redis_hub) subclasses it
and implements only `publish()` (the `Target` and message with this node's id) and a
`listen()` loop that calls `deliver_local()` for what other nodes published, ignoring its
own node id. `local=True` deliveries (work every daemon does for itself, such as the
outbox) stay in this process.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from app import logs

if TYPE_CHECKING:
    from signaling.state.store import Identity

log = logging.getLogger(__name__)


class Connection(Protocol):
    """One client connection as the hub, handlers and presence see it (a
    signaling.transport.peer.Peer, or a fake in tests). `user_id`, `username` and
    `session_id` are those of `identity` once it is authenticated."""

    conn_id: str
    identity: Identity | None
    closing: bool
    started: float  # time.monotonic() when the connection opened (the hello deadline)

    @property
    def user_id(self) -> int: ...

    @property
    def username(self) -> str: ...

    @property
    def session_id(self) -> int: ...

    def send(self, message: dict[str, Any]) -> bool: ...

    def close(self, code: int, reason: str = "") -> None: ...

    def authenticated(self, identity: Identity) -> None: ...

    def welcome(self, message: dict[str, Any]) -> None: ...


class Target(NamedTuple):
    """Whom a message is for: a user's connections, optionally one session or all but one.

    A named tuple: one is made per relayed message (a frozen dataclass cost 4
    `object.__setattr__` calls each)."""

    user_id: int | None = None
    session_id: int | None = None  # only this session (with user_id: only if it is theirs)
    except_session_id: int | None = None
    close_code: int | None = None  # close the matched connections after the message


class InMemoryHub:
    """Connections of this process, indexed by user and by session."""

    # True when other daemons hold connections too (a pub/sub hub): "not connected here"
    # then does not mean "not connected".
    distributed = False

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self._by_user: dict[int, dict[str, Connection]] = defaultdict(dict)
        self._by_session: dict[int, dict[str, Connection]] = defaultdict(dict)
        self._all: dict[str, Connection] = {}

    # -- membership ---------------------------------------------------------------------
    def add(self, conn: Connection) -> int:
        """Register an authenticated connection; returns the user's connection count."""
        self._all[conn.conn_id] = conn
        self._by_user[conn.user_id][conn.conn_id] = conn
        self._by_session[conn.session_id][conn.conn_id] = conn
        return len(self._by_user[conn.user_id])

    def remove(self, conn: Connection) -> int:
        """Forget a connection (idempotent); returns how many the user still has."""
        if self._all.pop(conn.conn_id, None) is None:
            return self.count_user(conn.user_id)
        for index, key in ((self._by_user, conn.user_id), (self._by_session, conn.session_id)):
            bucket = index.get(key)
            if bucket is not None:
                bucket.pop(conn.conn_id, None)
                if not bucket:
                    del index[key]
        return self.count_user(conn.user_id)

    def count_user(self, user_id: int) -> int:
        return len(self._by_user.get(user_id, ()))

    def count_session(self, session_id: int) -> int:
        return len(self._by_session.get(session_id, ()))

    def connections(self) -> list[Connection]:
        return list(self._all.values())

    def connections_of_user(self, user_id: int) -> list[Connection]:
        return list(self._by_user.get(user_id, {}).values())

    def connections_of_session(self, session_id: int) -> list[Connection]:
        return list(self._by_session.get(session_id, {}).values())

    def __len__(self) -> int:
        return len(self._all)

    def start(self) -> None:
        """Begin background work (a pub/sub hub's listener); nothing for this one."""

    def stop(self) -> None:
        """End background work."""

    # -- delivery -----------------------------------------------------------------------
    def emit(self, target: Target, message: dict[str, Any]) -> int:
        """Deliver `message` to `target` here, then publish it for the other daemons;
        returns how many local connections got it."""
        delivered = self.deliver_local(target, message)
        self.publish(target, message)
        return delivered

    def publish(self, target: Target, message: dict[str, Any]) -> bool:
        """Hand `message` to the other daemons; True if the bus took it. No bus here."""
        return False

    def deliver_local(self, target: Target, message: dict[str, Any]) -> int:
        """Send to the matching connections of this process (and close them if asked)."""
        if (
            target.user_id is not None
            and target.except_session_id is None
            and target.close_code is None
        ):
            return self._deliver_to_user(target.user_id, target.session_id, message)
        delivered = 0
        for conn in self._match(target):
            try:
                if conn.send(message):
                    delivered += 1
                if target.close_code is not None:
                    conn.close(target.close_code, message.get("reason", ""))
            except Exception:  # one broken connection must not stop the others' delivery
                logs.event(log, "hub.delivery_failed", logging.ERROR, True, conn=conn.conn_id)
        return delivered

    def _deliver_to_user(
        self, user_id: int, session_id: int | None, message: dict[str, Any]
    ) -> int:
        """`deliver_local` for a user's connections (one session's, if given) that are not
        closed after: every relayed message, so no list of matches is built first."""
        conns = self._by_user.get(user_id)
        if not conns:
            return 0
        delivered = 0
        # A copy of the user's few connections: a send that ends in one of them leaving the
        # index must not change what is being iterated (the general path's list did the same).
        for conn in tuple(conns.values()):
            if session_id is not None and conn.session_id != session_id:
                continue
            try:
                if conn.send(message):
                    delivered += 1
            except Exception:  # one broken connection must not stop the others' delivery
                logs.event(log, "hub.delivery_failed", logging.ERROR, True, conn=conn.conn_id)
        return delivered

    def _match(self, target: Target) -> list[Connection]:
        if target.user_id is not None:
            found = self.connections_of_user(target.user_id)
            if target.session_id is not None:
                found = [c for c in found if c.session_id == target.session_id]
        elif target.session_id is not None:
            found = self.connections_of_session(target.session_id)
        else:
            found = self.connections()
        if target.except_session_id is not None:
            found = [c for c in found if c.session_id != target.except_session_id]
        return found

    # -- shortcuts ------------------------------------------------------------------------
    def send_to_user(
        self,
        user_id: int,
        message: dict[str, Any],
        *,
        session_id: int | None = None,
        except_session_id: int | None = None,
        local: bool = False,
    ) -> int:
        """To the user's connections (one session's, or all but one); `local`: this
        process's only. Returns how many local connections got it."""
        target = Target(user_id, session_id, except_session_id)
        return self.deliver_local(target, message) if local else self.emit(target, message)

    def send_to_session(
        self,
        session_id: int,
        message: dict[str, Any],
        close_code: int | None = None,
        *,
        local: bool = False,
    ) -> int:
        """To a login session's connections, closing them after if `close_code`."""
        target = Target(session_id=session_id, close_code=close_code)
        return self.deliver_local(target, message) if local else self.emit(target, message)
