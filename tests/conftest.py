"""Shared fixtures: an app on a temporary SQLite file, its clients, an auth helper, a clock,
and a real running system (gunicorn + signaling daemon as subprocesses) for integration tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app import create_app
from app.devstack import Stack
from app.extensions import db

# Cheap Argon2 parameters keep the suite fast; production parameters are tested on their own.
FAST_HASHING = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_KIB": 1024, "ARGON2_PARALLELISM": 1}
PASSWORD = "correct horse battery staple"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def database_url_for(tmp_path: Path) -> str:
    """SQLite in `tmp_path`, unless CHIMECAST_TEST_DATABASE_URL points elsewhere (PostgreSQL).

    A server database is emptied first (schema dropped), so every test starts clean.
    """
    url = os.environ.get("CHIMECAST_TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_path / 'test.db'}"
    reset_server_database(url)
    return url


def reset_server_database(url: str) -> None:
    """Drop and recreate the `public` schema (tables, alembic_version and all)."""
    from sqlalchemy import create_engine, text

    from app.config import normalize_database_url

    engine = create_engine(normalize_database_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


class Clock:
    """A controllable clock for `app.config["CLOCK"]`."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(tmp_path, clock):
    app = create_app(
        {
            "ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": database_url_for(tmp_path),
            "CLOCK": clock,
            **FAST_HASHING,
        }
    )
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@dataclass
class Auth:
    """Register and log in users through the HTTP API of the test client."""

    client: object

    def register(self, username: str, password: str = PASSWORD, **extra):
        return self.client.post(
            "/register", json={"username": username, "password": password, **extra}
        )

    def login(self, username: str, password: str = PASSWORD, **kwargs):
        return self.client.post(
            "/login", json={"username": username, "password": password}, **kwargs
        )

    def headers(self, username: str, password: str = PASSWORD) -> dict[str, str]:
        """Register (if needed) and log in; returns the Authorization header."""
        self.register(username, password)
        response = self.login(username, password)
        assert response.status_code == 200, response.json
        return {"Authorization": f"Bearer {response.json['token']}"}


@pytest.fixture
def auth(client) -> Auth:
    return Auth(client)


@pytest.fixture
def stack_env() -> dict[str, str]:
    """Extra CHIMECAST_* settings for the `stack` fixture; override in a module to change them."""
    return {}


@pytest.fixture
def people(stack):
    """Factory: people("alice", "bob") -> registered, logged-in users of the running `stack`."""
    from tests.calling import make_person

    return lambda *prefixes: [make_person(stack, p) for p in prefixes]


@pytest.fixture
def stack(tmp_path, stack_env) -> Iterator[Stack]:
    """The real system: `flask db upgrade`, gunicorn and one signaling daemon on free ports."""
    env = {
        "CHIMECAST_ENV": "development",
        "CHIMECAST_ARGON2_TIME_COST": "1",
        "CHIMECAST_ARGON2_MEMORY_KIB": "1024",
        **stack_env,
    }
    logs = tmp_path / "logs"
    with Stack(database_url_for(tmp_path), extra_env=env, log_dir=logs) as running:
        yield running
