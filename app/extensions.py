"""Unbound Flask extensions, bound to an app in `create_app`, and the SQLite connection setup."""

from __future__ import annotations

import sqlite3
import threading

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

from app.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection, _record) -> None:
    """Make a SQLite file safe to share between gunicorn workers and the signaling daemon.

    WAL lets readers run beside a writer; busy_timeout makes a writer wait for the lock
    instead of failing with "database is locked"; NORMAL is durable enough under WAL.
    """
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


# -- one SQLite writer per process ------------------------------------------------------------
# SQLite has one write lock per database file. A thread that finds it taken sleeps in SQLite's
# busy handler for 1, 2, 5, 10 ... 100 ms between tries, so under a burst of call starts the
# waiting threads of a process sleep past each other's commits (the lock sat free while the
# daemon's accepts waited ~1 s). Here the threads of one process queue on a Python lock
# instead, which hands over the moment a commit is done; only one thread per process ever
# waits in SQLite's busy handler, for another process.
#
# pysqlite begins a transaction right before the first INSERT/UPDATE/DELETE, and our
# connections go back to the pool when a transaction ends, so the lock is taken at the first
# write and given back at check-in (after the commit or rollback).


def _original_lock() -> threading.Lock:
    """A real thread lock, even in the daemon (whose `threading` gevent has patched: its
    database work runs in real threads of gevent's threadpool)."""
    try:
        from gevent.monkey import get_original
    except ImportError:  # pragma: no cover - gevent is a dependency
        return threading.Lock()
    return get_original("threading", "Lock")()


_SQLITE_WRITER = _original_lock()
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_HOLDS_WRITER = "chimecast_sqlite_writer"


@event.listens_for(Engine, "before_cursor_execute")
def _take_sqlite_writer(conn, _cursor, statement, _params, _context, _many) -> None:
    if conn.dialect.name != "sqlite" or conn.info.get(_HOLDS_WRITER):
        return
    if statement.lstrip()[:7].upper().startswith(_WRITES):
        _SQLITE_WRITER.acquire()
        conn.info[_HOLDS_WRITER] = True


@event.listens_for(Pool, "checkin")
@event.listens_for(Pool, "invalidate")
def _give_back_sqlite_writer(_dbapi_connection, record, *_exception) -> None:
    if record is not None and record.info.pop(_HOLDS_WRITER, False):
        _SQLITE_WRITER.release()
