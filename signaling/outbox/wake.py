"""When to read the outbox: on a wake-up from the database, or after a slow fallback interval.

Polling the `events` table 40 times a second was most of an idle daemon's CPU (a thread-pool
hop and a SELECT each time). Instead the outbox is read when the database says something
was written, and otherwise once per `outbox_fallback_interval` (1 s), so a lost wake-up only
delays an event, it never loses one. The wake-up comes from the database itself, so every
writer (web app workers, CLI, other daemons) is covered, nothing new listens on the network
and no other local process can forge one:

- **PostgreSQL**: `app.events.publish` issues `pg_notify('chimecast_outbox', '')` in the
  event's transaction; PostgreSQL delivers it at commit (never for a rollback) and folds
  duplicates of one transaction. A dedicated thread `LISTEN`s on its own connection.
- **SQLite** (WAL mode): every commit appends to `<database>-wal`; a greenlet compares its
  `stat()` (size, mtime, inode) every `outbox_poll_interval`. A stat is ~1 µs in the
  daemon's own thread against ~0.7 ms for the SELECT it replaces. Two commits in one mtime
  tick of the same size after a checkpoint reset can look unchanged: the fallback covers it.

Redis (`CHIMECAST_REDIS_URL`) is not used for this: every deployment has the database, and
the database's own signal is ordered after the commit, which a publish from the web app
after its commit would also be but with one more failure mode.

However many wake-ups arrive, the outbox is read at most once per `outbox_poll_interval`
(they are folded into one flag), so a flood costs at most what the old polling did.
"""

from __future__ import annotations

import logging
import os
import time

import gevent
from gevent.event import Event
from sqlalchemy.engine import make_url

from app import logs
from signaling import metrics

log = logging.getLogger(__name__)

CHANNEL = "chimecast_outbox"
CHECK_WITHIN = 5.0  # s an idle LISTEN connection has to answer its check


class OutboxWake:
    """A flag set by wake-up sources; `pause()` is the outbox loop's wait between reads."""

    def __init__(self, min_interval: float, fallback: float) -> None:
        self.min_interval, self.fallback = min_interval, fallback
        self._flag = Event()
        self._last = 0.0
        self.cause = "start"

    def wake(self) -> None:
        """Ask for a read soon (idempotent; safe from the hub's thread only)."""
        self._flag.set()

    def pause(self) -> None:
        """Wait for a wake-up (at most `fallback` s), then for `min_interval` since the last
        read, so a flood of wake-ups is one read per `min_interval`."""
        woken = self._flag.wait(self.fallback)
        self._flag.clear()
        self.cause = "wake" if woken else "fallback"
        delay = self._last + self.min_interval - time.monotonic()
        if delay > 0:
            gevent.sleep(delay)
        self._last = time.monotonic()
        metrics.OUTBOX_READS.inc(self.cause)


def start_sources(
    database_url: str, mode: str, wake: OutboxWake, quiet: float = 20.0
) -> list[gevent.Greenlet]:
    """Start the wake-up source for this database (`mode` "off": the fallback poll only).
    PostgreSQL's LISTEN connection is checked after each `quiet` seconds without a
    notification (the daemon passes its heartbeat interval)."""
    if mode == "off":
        logs.event(log, "outbox.wake", source="none", fallback=wake.fallback)
        return []
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        dsn = url.set(drivername="postgresql").render_as_string(False)
        logs.event(log, "outbox.wake", source="notify", fallback=wake.fallback)
        return [_PgListener(dsn, wake, quiet).start()]
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        wal = f"{url.database}-wal"
        logs.event(log, "outbox.wake", source="wal", path=wal, fallback=wake.fallback)
        return [gevent.spawn(_watch_file, wal, wake)]
    logs.event(log, "outbox.wake", source="none", fallback=wake.fallback)
    return []


def _signature(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


def _watch_file(path: str, wake: OutboxWake) -> None:
    seen = _signature(path)
    while True:
        gevent.sleep(wake.min_interval)
        now = _signature(path)
        if now != seen:
            seen = now
            wake.wake()


KEEPALIVE = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


class ListenerSilent(Exception):
    """The LISTEN connection did not answer a check in time."""


class _PgListener:
    """LISTEN on a connection of its own, in a greenlet: psycopg sees gevent's patched
    `select` and waits cooperatively (psycopg.waiting), so a silent or cut database holds
    up only this greenlet. Each batch of notifications wakes the outbox once.

    An idle LISTEN connection that went silent (a middlebox that lost it, a server that
    stopped answering it; its socket may still acknowledge, so keepalives pass) would
    leave every ring to the fallback poll for good: after `quiet` seconds without a
    notification it must answer `SELECT 1` within CHECK_WITHIN, or it is replaced.

    Not a "real" thread: `threading.Thread` (even gevent's saved original) starts a
    greenlet once `_thread` is patched, and an unpatched `time.sleep` there stopped the
    whole daemon for the backoff (tests/scale/test_database_outage.py: /readyz did not
    answer during a cut)."""

    def __init__(self, dsn: str, wake: OutboxWake, quiet: float) -> None:
        self.dsn, self.wake, self.quiet = dsn, wake, quiet

    def start(self) -> gevent.Greenlet:
        return gevent.spawn(self._run)

    def _run(self) -> None:
        import psycopg

        delay = 0.5
        while True:
            try:
                # A blackholed network must end in an error, not a wait for ever: a
                # connect timeout, and TCP keepalives for the idle LISTEN connection.
                with psycopg.connect(self.dsn, autocommit=True, **KEEPALIVE) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    delay = 0.5
                    self.wake.wake()  # events committed while not listening
                    while True:
                        if any(True for _ in conn.notifies(timeout=self.quiet, stop_after=1)):
                            self.wake.wake()
                            # Fold the rest of a burst into this wake-up (one read later).
                            for _ in conn.notifies(timeout=0.0):
                                pass
                            continue
                        silent = ListenerSilent(f"no answer within {CHECK_WITHIN:g} s")
                        with gevent.Timeout(CHECK_WITHIN, silent):
                            conn.execute("SELECT 1")
                        self.wake.wake()  # in case a notification came with the answer
            except Exception as exc:  # the fallback poll covers the outage; retry slowly
                logs.event(log, "outbox.listen_failed", logging.WARNING, error=repr(exc))
                gevent.sleep(delay)
                delay = min(delay * 2, 10.0)
