"""A deadline on every PostgreSQL command, enforced from outside the thread that waits for it.

The server cancels a slow statement itself (statement_timeout) and the kernel gives up on a
peer that stopped acknowledging (tcp_user_timeout, keepalives). Neither fires when the
socket still acknowledges but nothing answers: a stopped server process, a hung pooler, a
proxy or middlebox that swallows bytes. libpq then waits for ever, and the thread with it:
a web worker's request thread, a daemon's database thread. A few such commands and the
process has no thread left for the database, even after it comes back.

`CommandWatchdog` looks at each connection of an engine once a `tick`: one that is in the
middle of a command (libpq's transaction status ACTIVE) and has been in the same command
for longer than `deadline` has its socket shut down. libpq's wait then ends with an error
(OperationalError, which callers already treat as the database being unavailable) and
SQLAlchemy's pool discards the connection. "The same command" is told by a counter the
engine's events move on each statement, commit, rollback, check-out and check-in, so a
connection busy with many short commands is never mistaken for one stuck in a long one.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import socket
import threading
import time
import weakref
from typing import Any

import gevent
from gevent.monkey import get_original, is_module_patched
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app import logs

log = logging.getLogger(__name__)

_ACTIVE = 1  # psycopg.pq.TransactionStatus.ACTIVE: a command is in progress
_COMMAND = "chimecast_command"  # key of the command counter in a pool record's info
THREAD_NAME = "db-command-watchdog"

# An OS lock even in the monkey-patched daemon: the engine's events fire in its database
# threads, the watchdog looks from the hub's.
_Lock = get_original("threading", "Lock")


def shutdown_socket(dbapi_connection: Any) -> bool:
    """Shut down a psycopg connection's socket, so a thread blocked on it returns at once;
    False if it has no socket (closed, or not PostgreSQL)."""
    pgconn = getattr(dbapi_connection, "pgconn", None)
    try:
        fd = pgconn.socket if pgconn is not None else -1
    except Exception:  # closed meanwhile: nothing to shut down
        return False
    if fd < 0:
        return False
    # The dup keeps the socket open under us even if its owner closes it now; and since the
    # owner still reported this fd after we dup'ed it only if it was open throughout, a
    # recycled fd number can never make us shut down someone else's socket.
    with socket.socket(fileno=os.dup(fd)) as sock:
        try:
            still_ours = pgconn.socket == fd
        except Exception:
            return False
        if still_ours:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return still_ours


class CommandWatchdog:
    """Shut down connections of `engine` stuck in one command for longer than `deadline`.

    It looks from a daemon thread (started again in a forked child), or under gevent's
    monkey patching (the signaling daemon) from a greenlet: the commands it watches wait
    in other OS threads. It stops once the watchdog is garbage (its engine gone).
    """

    def __init__(self, engine: Engine, deadline: float, tick: float = 1.0) -> None:
        self.deadline, self.tick = deadline, tick
        self.aborted = 0  # connections shut down so far (tests and logs)
        self._commands = itertools.count(1)
        # dbapi connection -> its pool record's info (which holds the command counter)
        self._connections: weakref.WeakKeyDictionary[Any, dict[str, Any]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = _Lock()
        for name in ("before_cursor_execute", "commit", "rollback"):
            event.listen(engine, name, self._on_connection_event)
        event.listen(engine, "checkout", lambda _dbapi, record, _proxy: self._bump(record))
        event.listen(engine, "checkin", lambda _dbapi, record: self._bump(record))
        event.listen(engine, "reset", lambda _dbapi, record, _state: self._bump(record))
        event.listen(engine, "connect", self._on_connect)
        _start(weakref.ref(self), tick)

    # -- the engine's events (in whichever thread uses the connection) ----------------------
    def _on_connect(self, dbapi_connection: Any, record: Any) -> None:
        record.info[_COMMAND] = next(self._commands)
        with self._lock:
            self._connections[dbapi_connection] = record.info

    def _on_connection_event(self, connection: Any, *_args: Any) -> None:
        with contextlib.suppress(Exception):  # a connection already invalidated has no info
            connection.connection.info[_COMMAND] = next(self._commands)

    def _bump(self, record: Any) -> None:
        info = getattr(record, "info", None)  # a detached connection's check-in has no record
        if info is not None:
            info[_COMMAND] = next(self._commands)

    # -- the checking loop ------------------------------------------------------------------
    def look(self, seen: dict[int, tuple[int, float]], now: float) -> None:
        """One round: note the commands in progress and shut down those past the deadline."""
        with self._lock:
            connections = list(self._connections.items())
        busy: dict[int, tuple[int, float]] = {}
        for dbapi_connection, info in connections:
            try:
                if dbapi_connection.info.transaction_status != _ACTIVE:
                    continue
            except Exception:  # closed, or not psycopg
                continue
            command = info.get(_COMMAND, 0)
            key = id(dbapi_connection)
            previous = seen.get(key)
            since = previous[1] if previous is not None and previous[0] == command else now
            busy[key] = (command, since)
            if now - since >= self.deadline and info.get(_COMMAND, 0) == command:
                if shutdown_socket(dbapi_connection):
                    self.aborted += 1
                    logs.event(
                        log, "db.command_abandoned", logging.WARNING, waited=round(now - since, 1)
                    )
                busy.pop(key)
        seen.clear()
        seen.update(busy)


def _start(watchdog: weakref.ref[CommandWatchdog], tick: float) -> None:
    """Look every `tick` seconds while the watchdog lives."""

    def watch() -> None:
        seen: dict[int, tuple[int, float]] = {}  # id(connection) -> (command, busy since)
        while True:
            sleep(tick)
            current = watchdog()
            if current is None:
                return
            try:
                current.look(seen, time.monotonic())
            except Exception:  # never let the watchdog die: log, and look again next tick
                logs.event(log, "db.watchdog_failed", logging.ERROR, True)
            del current

    patched = is_module_patched("threading")
    sleep = gevent.sleep if patched else time.sleep
    if patched:  # greenlets live on in a forked child (gevent reinitialises its hub)
        gevent.spawn(watch)
        return

    def start_thread() -> None:
        threading.Thread(target=watch, name=THREAD_NAME, daemon=True).start()

    start_thread()
    # A thread does not: gunicorn --preload builds the app once and forks its workers.
    os.register_at_fork(after_in_child=start_thread)


def install(
    engine: Engine, statement_timeout_ms: int, slack: float = 2.0
) -> CommandWatchdog | None:
    """Watch `engine` (PostgreSQL) with a deadline of the server's statement timeout plus
    `slack`: a command the server is really running is cancelled by the server first. None
    (no watchdog) when statements may run for ever (timeout 0) or the engine is not PostgreSQL."""
    if engine.dialect.name != "postgresql" or statement_timeout_ms <= 0:
        return None
    return CommandWatchdog(engine, statement_timeout_ms / 1000 + slack)
