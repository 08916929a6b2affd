"""A database check for /readyz (web app and daemon) with a deadline no dead network can stretch.

A pooled connection may be stuck waiting for a reply that will never come (the network
drops every packet), and pre-pinging it would hang too; so a probe opens a connection of its
own (bounded by the driver's connect timeout), runs one check on it and closes it. At the
deadline the caller stops waiting and `abort()` shuts the probe's socket down, so a probe
cut off mid-query fails at once instead of holding a thread and a connection for ever.
One probe runs at a time: a caller that finds one still running is told the database is
not answering.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from gevent.monkey import get_original
from sqlalchemy import URL, Connection, create_engine
from sqlalchemy.pool import NullPool

from app.dbwatchdog import shutdown_socket
from app.extensions import db

T = TypeVar("T")


class DatabaseProbe:
    """`run(check)` in any thread; `abort()` from another; `check(fn, timeout)` for OS threads."""

    def __init__(self, url: str | URL, connect_args: Mapping[str, Any]) -> None:
        self._engine = create_engine(url, poolclass=NullPool, connect_args=dict(connect_args))
        self._lock = threading.Lock()  # check()'s one-at-a-time (the daemon does not call it)
        # Between the probe's thread and abort(), which in the daemon runs on the hub: an OS
        # thread lock, held only to publish or shut down the connection.
        self._raw_lock = get_original("threading", "Lock")()
        self._raw: Any = None  # the DBAPI connection of the probe in progress
        self._thread: threading.Thread | None = None

    def run(self, check: Callable[[Connection], T]) -> T:
        """Connect, run `check(connection)`, close; SQLAlchemy errors propagate."""
        with self._engine.connect() as connection:
            with self._raw_lock:
                self._raw = connection.connection.dbapi_connection
            try:
                return check(connection)
            finally:
                with self._raw_lock:  # before the close: abort() never sees a reused fd
                    self._raw = None

    def abort(self) -> None:
        """Shut down the socket of the probe in progress (PostgreSQL; SQLite has none)."""
        with self._raw_lock:
            if self._raw is not None:
                shutdown_socket(self._raw)

    def check(self, fn: Callable[[Connection], T], timeout: float) -> T:
        """`run(fn)` in a thread of its own; TimeoutError if it has not answered in `timeout`
        seconds (or a previous probe is still running)."""
        outcome: dict[str, Any] = {}

        def probe() -> None:
            try:
                outcome["value"] = self.run(fn)
            except Exception as exc:  # handed to the caller below
                outcome["error"] = exc

        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise TimeoutError("the previous database probe has not answered yet")
            self._thread = thread = threading.Thread(target=probe, daemon=True)
            thread.start()
        thread.join(timeout)
        if thread.is_alive():
            self.abort()
            raise TimeoutError(f"the database did not answer within {timeout} s")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]


def probe_for(app: Any) -> DatabaseProbe:
    """The app's probe, made on first use from its engine's URL and connection arguments."""
    probe = app.extensions.get("chimecast_db_probe")
    if probe is None:
        options = app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}
        with app.app_context():
            url = db.engine.url
        probe = DatabaseProbe(url, options.get("connect_args") or {})
        app.extensions["chimecast_db_probe"] = probe
    return probe
