"""One writer at a time on a shared SQLite file, queued in the kernel instead of polled.

SQLite has one write lock per database. A connection that finds it taken sleeps in SQLite's
busy handler for 1, 2, 5, 10 ... 100 ms between tries, so under a burst of call starts (the
web app's workers) and accepts (the daemon) the waiters slept past each other's commits: the
lock sat free while the daemon's accepts waited 1-3 s, and both processes idled at ~50 % CPU.

Here the first INSERT/UPDATE/DELETE of a transaction (which is where pysqlite begins it)
first takes this process's thread lock, then an exclusive `flock` on `<database>-writer`
beside the file; both are given back when the connection returns to the pool, after its
commit or rollback. A waiter is woken the moment the holder is done. SQLite's own busy
timeout stays as the fallback for anything that writes without this (the sqlite3 shell).
"""

from __future__ import annotations

import fcntl
import os
import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_HELD = "chimecast_sqlite_writer"  # in the pool record's info: the lock file's fd, if held


def _real_thread_lock() -> Any:
    """A lock between OS threads, even in the daemon, whose `threading` gevent has patched
    (its database work runs in real threads of gevent's threadpool)."""
    try:
        from gevent.monkey import get_original
    except ImportError:  # pragma: no cover - gevent is a dependency
        return threading.Lock()
    return get_original("threading", "Lock")()


class _ProcessWriter:
    """This process's turn at writing: a thread lock, then a file lock between processes.

    The lock file is opened per process (a descriptor inherited across gunicorn's fork
    would share one lock between the workers) and kept open.
    """

    def __init__(self) -> None:
        self._threads = _real_thread_lock()
        self._files: dict[str, int] = {}
        self._pid = os.getpid()

    def _fd(self, database: str) -> int:
        if self._pid != os.getpid():  # forked: the descriptors belong to the parent
            self._files, self._pid = {}, os.getpid()
        fd = self._files.get(database)
        if fd is None:
            fd = os.open(f"{database}-writer", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._files[database] = fd
        return fd

    def acquire(self, database: str) -> int:
        self._threads.acquire()
        try:
            fd = self._fd(database)
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise
        return fd

    def release(self, fd: int) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()


_WRITER = _ProcessWriter()


def _database_file(conn: Any) -> str | None:
    database = conn.engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return os.path.abspath(database)


def _take(conn, _cursor, statement, _params, _context, _many) -> None:
    if conn.dialect.name != "sqlite" or _HELD in conn.info:
        return
    if not statement.lstrip()[:7].upper().startswith(_WRITES):
        return
    database = _database_file(conn)
    if database is not None:
        conn.info[_HELD] = _WRITER.acquire(database)


def _give_back(_dbapi_connection, record, *_exception) -> None:
    fd = record.info.pop(_HELD, None) if record is not None else None
    if fd is not None:
        _WRITER.release(fd)


def install() -> None:
    """Listen on every engine and pool (idempotent; non-SQLite engines are left alone)."""
    if not event.contains(Engine, "before_cursor_execute", _take):
        event.listen(Engine, "before_cursor_execute", _take)
        event.listen(Pool, "checkin", _give_back)
        event.listen(Pool, "invalidate", _give_back)
