"""Plain helpers for the app tests: reading rows behind the API's back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event, inspect, select

from app.extensions import db
from app.models import AuthEvent, AuthSession, Base, Call, Event, User

TABLES = ("users", "sessions", "auth_events", "calls", "events", "connections")


def rows(app: Flask, model: type[Base], **filters: Any) -> list[dict[str, Any]]:
    """Every row of `model` matching `filters`, as dicts of column values, in id order."""
    with app.app_context():
        statement = select(model).filter_by(**filters).order_by(model.id)
        found = list(db.session.scalars(statement))
        columns = [c.key for c in inspect(model).column_attrs]
        return [{key: getattr(obj, key) for key in columns} for obj in found]


@contextmanager
def statements_run(app: Flask) -> Iterator[list[str]]:
    """The first word (SELECT, INSERT, ...) of every SQL statement run inside the block;
    PostgreSQL's outbox wake-up (`SELECT pg_notify(...)`, once per transaction that writes
    an event: app.events) is recorded as "NOTIFY", so guards can name it."""
    with app.app_context():
        engine = db.engine
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        seen.append("NOTIFY" if "pg_notify(" in statement else statement.split()[0])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def counts(app: Flask) -> dict[str, int]:
    """Row count of each table: a snapshot to prove a failed request changed nothing."""
    models = {"users": User, "sessions": AuthSession, "auth_events": AuthEvent}
    models |= {"calls": Call, "events": Event}
    return {name: len(rows(app, model)) for name, model in models.items()}


def events(app: Flask, call_id: int | None = None) -> list[tuple[str, list[int]]]:
    """(kind, user_ids) of the outbox rows, optionally for one call."""
    filters = {} if call_id is None else {"call_id": call_id}
    return [(row["kind"], row["user_ids"]) for row in rows(app, Event, **filters)]


def user_id(app: Flask, username: str) -> int:
    return rows(app, User, username=username)[0]["id"]


def database_text(app: Flask) -> str:
    """Every value of every table (any database), plus the raw bytes of SQLite's files."""
    parts: list[str] = []
    with app.app_context():
        for table in Base.metadata.sorted_tables:
            for row in db.session.execute(table.select()):
                parts.extend(str(value) for value in row)
        db.session.remove()
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        for file in path.parent.glob(path.name + "*"):
            parts.append(file.read_bytes().decode("latin-1"))
    return "\n".join(parts)


def create(client, host, **options):
    """Create a meeting as `host`; (meeting id, invite code)."""
    response = client.post("/meetings", json={"name": "Standup", **options}, headers=host)
    assert response.status_code == 201, response.json
    return response.json["meeting"]["id"], response.json["invite"]


def join(client, who, meeting_id, invite=None):
    body = {} if invite is None else {"invite": invite}
    return client.post(f"/meetings/{meeting_id}/join", json=body, headers=who)


def act(client, who, meeting_id, action, **body):
    return client.post(f"/meetings/{meeting_id}/{action}", json=body, headers=who)


def documented_max_participants(client) -> int:
    """The maximum of max_participants that /openapi.json states for POST /meetings."""
    schemas = client.get("/openapi.json").json["components"]["schemas"]
    return schemas["MeetingCreateIn"]["properties"]["max_participants"]["anyOf"][0]["maximum"]
