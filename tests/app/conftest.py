"""Fixtures for the HTTP and CLI tests: extra apps with other settings, users, calls, rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask

from app import create_app
from app.extensions import db
from tests.conftest import FAST_HASHING, PASSWORD


@pytest.fixture
def make_app(tmp_path, clock) -> Iterator[Callable[..., Flask]]:
    """Factory: make_app(TRUSTED_PROXIES=1, ...) -> another app on its own SQLite file.

    `create=False` leaves the database empty (no tables, no migrations applied).
    """
    made: list[Flask] = []

    def build(create: bool = True, **overrides) -> Flask:
        path = tmp_path / f"app{len(made)}.db"
        app = create_app(
            {
                "ENV": "testing",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
                "CLOCK": clock,
                **FAST_HASHING,
                **overrides,
            }
        )
        if create:
            with app.app_context():
                db.create_all()
        made.append(app)
        return app

    yield build
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def login(auth) -> Callable[..., dict[str, str]]:
    """login("alice") -> Authorization header of a freshly registered, logged-in user."""
    return lambda username, password=PASSWORD: auth.headers(username, password)


@pytest.fixture
def call(client):
    """call(caller_headers, "bob") -> the JSON of POST /call/start (asserting success)."""

    def start(headers: dict[str, str], callee: str, status: int = 201) -> dict:
        response = client.post("/call/start", json={"callee": callee}, headers=headers)
        assert response.status_code == status, response.json
        return response.json["call"]

    return start


@pytest.fixture
def people(auth):
    """name -> Authorization headers for a registered, logged-in user."""
    return lambda *names: [auth.headers(name) for name in names]
