"""`GET /readyz` of the daemon: 503, saying what is down, while its database or Redis is.

`/healthz` only says the process is alive (restart it if not); `/readyz` says whether it can
serve new clients (send them elsewhere if not). Each check has a deadline (the app's
READYZ_TIMEOUT, 2 s by default) that a dead network cannot stretch: the database probe runs
in a thread of its own on a connection of its own (`app.dbprobe`) and is aborted at the
deadline; Redis is pinged with socket timeouts on a client of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import gevent
import orjson
from flask import Flask
from gevent.threadpool import ThreadPool
from sqlalchemy import Connection, text

from app.dbprobe import probe_for
from signaling.state.services import Services

log = logging.getLogger(__name__)


def _select_one(connection: Connection) -> Any:
    return connection.execute(text("SELECT 1")).scalar()


def _returning_errors(fn: Callable[[], Any]) -> BaseException | None:
    """Run `fn` in the threadpool; its exception is returned, not raised (gevent's hub
    would print the traceback of a job that raises)."""
    try:
        fn()
    except Exception as exc:
        return exc
    return None


class Readiness:
    """The daemon's readiness checks; `readyz(environ)` is its WSGI route."""

    def __init__(self, app: Flask, services: Services) -> None:
        self.services = services
        self.timeout = float(app.config.get("READYZ_TIMEOUT") or 2.0)
        self._probe = probe_for(app)
        self._pool = ThreadPool(1)  # psycopg would block the hub; one probe at a time
        self._pending: Any = None
        self._redis: Any = None
        if services.settings.redis_url:
            import redis

            self._redis = redis.Redis.from_url(
                services.settings.redis_url,
                socket_connect_timeout=self.timeout,
                socket_timeout=self.timeout,
            )

    def database_ok(self) -> bool:
        """Whether `SELECT 1` on a fresh connection answers within the deadline."""
        if self._pending is not None and not self._pending.ready():
            return False  # the previous probe is still stuck (connecting): not ready
        self._pending = self._pool.spawn(_returning_errors, partial(self._probe.run, _select_one))
        try:
            error = self._pending.get(timeout=self.timeout)
        except gevent.Timeout:
            self._probe.abort()
            return False
        return error is None  # any failure to reach the database is "unavailable"

    def redis_ok(self) -> bool | None:
        """Whether Redis answers PING in time; None when the daemon runs without Redis."""
        if self._redis is None:
            return None
        import redis

        try:
            return bool(self._redis.ping())
        except (redis.RedisError, OSError):
            return False

    def readyz(self, environ: dict[str, Any]) -> tuple[str, str, bytes]:
        draining = self.services.shutting_down
        database, redis_up = self.database_ok(), self.redis_ok()
        ready = database and redis_up is not False and not draining
        body = {
            "status": "ready" if ready else ("draining" if draining else "unavailable"),
            "node_id": self.services.settings.node_id,
            "database": "ok" if database else "unavailable",
            "redis": {None: "not configured", True: "ok", False: "unavailable"}[redis_up],
        }
        status = "200 OK" if ready else "503 Service Unavailable"
        return status, "application/json", orjson.dumps(body)
