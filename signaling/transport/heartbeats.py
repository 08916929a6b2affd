"""One greenlet that enforces every connection's hello deadline and heartbeat.

A watchdog greenlet per connection cost ~7 kB each and, at 10,000 idle connections, 8,000
wake-ups a second: about 40 % of the daemon's idle CPU (chimecast-bench capacity, py-spy).
One sweeper does the same work, and it looks at a connection only when that connection's
next deadline is due (each `check` says when that is), not on every tick: an idle
connection is checked about once per heartbeat interval instead of 16 times.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

import gevent

from app import logs

log = logging.getLogger(__name__)

_CHECKING = -1  # the slot of a connection whose check is running


class Watched(Protocol):
    def check(self, now: float) -> float | None:
        """Enforce deadlines at `now`; when to be checked next (None: never again)."""
        ...


class Heartbeats:
    """Calls `check(now)` on each registered connection when it asked to be checked.

    Checks happen on ticks of `tick` seconds, at most two ticks after the time asked for
    and never before it. The sweeping greenlet
    starts with the first connection and stops when none is left.
    """

    def __init__(self, hello_timeout: float, heartbeat_interval: float) -> None:
        # A check can run up to two ticks after it is due (see _schedule), so 1/8 of the
        # shortest deadline keeps it within 1/4; a tick with nothing due costs next to nothing.
        self.tick = max(0.05, min(hello_timeout, heartbeat_interval) / 8)
        self._slot_of: dict[Watched, int] = {}
        self._slots: dict[int, set[Watched]] = {}  # tick number -> connections due then
        self._sweeper: gevent.Greenlet | None = None

    def add(self, conn: Watched) -> None:
        """Watch `conn`; its first check is at the next tick."""
        self._schedule(conn, time.monotonic())
        if self._sweeper is None or self._sweeper.dead:
            self._sweeper = gevent.spawn(self._sweep_forever)

    def discard(self, conn: Watched) -> None:
        slot = self._slot_of.pop(conn, None)
        bucket = self._slots.get(slot) if slot is not None else None
        if bucket is not None:
            bucket.discard(conn)
            if not bucket:
                del self._slots[slot]  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self._slot_of)

    def _schedule(self, conn: Watched, due: float) -> None:
        slot = int(due / self.tick) + 1  # the first tick strictly after `due`
        self._slot_of[conn] = slot
        self._slots.setdefault(slot, set()).add(conn)

    def _sweep_forever(self) -> None:
        while self._slot_of:
            gevent.sleep(self.tick)
            self.sweep(time.monotonic())

    def sweep(self, now: float) -> None:
        """Check every connection whose check is due by `now`, and reschedule it."""
        current = int(now / self.tick)
        for slot in sorted(slot for slot in self._slots if slot <= current):
            for conn in self._slots.pop(slot):
                if self._slot_of.get(conn) != slot:
                    continue  # discarded by an earlier check of this sweep
                self._slot_of[conn] = _CHECKING
                try:
                    due = conn.check(now)
                except Exception:  # one connection's failure must not stop the others' checks
                    conn_id = getattr(conn, "conn_id", None)
                    logs.event(log, "heartbeat.failed", logging.ERROR, True, conn=conn_id)
                    due = now
                if self._slot_of.get(conn) != _CHECKING:
                    continue  # discarded while it was being checked
                if due is None:
                    del self._slot_of[conn]
                else:
                    self._schedule(conn, max(due, now))
