"""Unbound Flask extensions, bound to an app in `create_app`, and the SQLite connection setup."""

from __future__ import annotations

import sqlite3

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection, _record) -> None:
    """Make a SQLite file safe to share between gunicorn workers and the signaling daemon.

    WAL lets readers run beside a writer; NORMAL is durable enough under WAL. The busy
    timeout, which makes a writer wait for the lock instead of failing with "database is
    locked", is the driver's `timeout` (CHIMECAST_DB_BUSY_TIMEOUT, see app.config.finalize).
    """
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
