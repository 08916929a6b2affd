"""Where the other daemons' connections are: this daemon's replica of the cluster registry.

Each daemon announces its own authenticated connections on the deployment's registry
channel (signaling.state.redis_hub): deltas (`add`/`remove`, numbered per node), a full
`state` when asked, and an `alive` beat carrying its latest number. Every daemon keeps
this replica so that a delivery for a user or session is published only on the channels
of the nodes that hold one of its connections, and not at all when none does.

Contract: a node is trusted only while heard from within `stale_after` seconds; after that
its entries are ignored at once and dropped at the next `expire()`. A delta whose number
does not follow the last one seen from its node (lost, or the node restarted) is not
applied and `apply` returns False, so the caller asks that node for its full state.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

# One connection as announced: (conn id, user id, session id).
Entry = tuple[str, int, int]


class Registry:
    """Remote connections by node, user and session, with each node's last-heard time."""

    def __init__(self, stale_after: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stale_after = stale_after
        self._clock = clock
        self._conns: dict[str, dict[str, tuple[int, int]]] = {}
        self._users: dict[int, dict[str, int]] = defaultdict(dict)
        self._sessions: dict[int, dict[str, int]] = defaultdict(dict)
        self._seen: dict[str, float] = {}
        self._version: dict[str, int] = {}

    # -- what other nodes said ------------------------------------------------------------
    def heard(self, node: str) -> None:
        """`node` spoke just now: it counts as alive for another `stale_after`."""
        self._seen[node] = self._clock()

    def version(self, node: str) -> int | None:
        """The number of the last delta applied from `node` (None: never had its state)."""
        return self._version.get(node)

    def apply(self, node: str, version: int, ops: Iterable[list[Any]]) -> bool:
        """Apply `node`'s deltas ending at `version` ([op, conn, user, session] each, in
        order); False (nothing applied) unless they follow the last version seen."""
        self.heard(node)
        ops = list(ops)
        known = self._version.get(node)
        if known is None or version != known + len(ops):
            return False
        for op, conn_id, user_id, session_id in ops:
            if op == "add":
                self._add(node, conn_id, user_id, session_id)
            else:
                self._remove(node, conn_id)
        self._version[node] = version
        return True

    def replace(self, node: str, version: int, entries: Iterable[Entry]) -> None:
        """`node`'s full state as of `version`: drops whatever was known of it before."""
        self.forget(node)
        self.heard(node)
        for conn_id, user_id, session_id in entries:
            self._add(node, conn_id, user_id, session_id)
        self._version[node] = version

    def forget(self, node: str) -> None:
        """Drop every entry of `node` (it said goodbye, or went silent)."""
        for conn_id in list(self._conns.get(node, ())):
            self._remove(node, conn_id)
        self._conns.pop(node, None)
        self._seen.pop(node, None)
        self._version.pop(node, None)

    def expire(self) -> list[str]:
        """Forget the nodes not heard from within `stale_after`; returns their ids."""
        cutoff = self._clock() - self.stale_after
        dead = [node for node, seen in self._seen.items() if seen < cutoff]
        for node in dead:
            self.forget(node)
        return dead

    # -- routing --------------------------------------------------------------------------
    def nodes_for(self, user_id: int | None, session_id: int | None) -> list[str]:
        """Live nodes holding a connection that may match: of the session when given (else
        of the user), or every live node for a target naming neither."""
        if session_id is not None:
            holders = self._sessions.get(session_id)
        elif user_id is not None:
            holders = self._users.get(user_id)
        else:
            holders = self._seen
        if not holders:
            return []
        cutoff = self._clock() - self.stale_after
        seen = self._seen
        return [node for node in holders if seen.get(node, cutoff) > cutoff]

    def nodes(self) -> list[str]:
        return list(self._seen)

    def __len__(self) -> int:
        return sum(len(conns) for conns in self._conns.values())

    # -- indexes --------------------------------------------------------------------------
    def _add(self, node: str, conn_id: str, user_id: int, session_id: int) -> None:
        conns = self._conns.setdefault(node, {})
        if conn_id in conns:
            return
        conns[conn_id] = (user_id, session_id)
        for index, key in ((self._users, user_id), (self._sessions, session_id)):
            holders = index[key]
            holders[node] = holders.get(node, 0) + 1

    def _remove(self, node: str, conn_id: str) -> None:
        found = self._conns.get(node, {}).pop(conn_id, None)
        if found is None:
            return
        for index, key in ((self._users, found[0]), (self._sessions, found[1])):
            holders = index.get(key)
            if holders is None:
                continue
            holders[node] -= 1
            if holders[node] <= 0:
                del holders[node]
            if not holders:
                del index[key]
