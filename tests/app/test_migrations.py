"""Migrations: the initial revision builds the schema the models describe, both ways."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from app.extensions import db
from app.models import Base

APP_TABLES = {"users", "sessions", "auth_events", "calls", "events", "connections"}


def tables(app) -> set[str]:
    with app.app_context():
        return set(inspect(db.engine).get_table_names())


def revision(app) -> str | None:
    with app.app_context(), db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def pending_diff(app) -> list:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(context, Base.metadata)


def test_upgrade_downgrade_upgrade_round_trip(make_app):
    app = make_app(create=False)
    head = ScriptDirectory(app.config["MIGRATIONS_DIR"]).get_current_head()
    assert tables(app) == set()
    with app.app_context():
        upgrade()
    assert APP_TABLES <= tables(app) and revision(app) == head
    with app.app_context():
        downgrade(revision="base")
    assert tables(app) - {"alembic_version"} == set() and revision(app) is None
    with app.app_context():
        upgrade()
    assert APP_TABLES <= tables(app) and revision(app) == head


def test_migrated_schema_matches_the_models(make_app):
    app = make_app(create=False)
    with app.app_context():
        upgrade()
    assert pending_diff(app) == []


def test_diff_check_notices_a_schema_that_drifted(make_app):
    """The comparison above is not vacuous: a missing index is reported."""
    app = make_app(create=False)
    with app.app_context():
        upgrade()
        with db.engine.begin() as connection:
            connection.exec_driver_sql("DROP INDEX ix_calls_state_created")
    diff = pending_diff(app)
    assert any(op[0] == "add_index" and op[1].name == "ix_calls_state_created" for op in diff)


def test_migrated_constraints_are_named_by_convention(make_app):
    app = make_app(create=False)
    with app.app_context():
        upgrade()
        inspector = inspect(db.engine)
        foreign_keys = {fk["name"] for fk in inspector.get_foreign_keys("sessions")}
        unique = {uc["name"] for uc in inspector.get_unique_constraints("sessions")}
    assert foreign_keys == {"fk_sessions_user_id_users"}
    assert unique == {"uq_sessions_token_hash"}


def test_upgrade_drops_plaintext_janus_credentials_and_ends_open_sfu_meetings(make_app):
    """Rows written before credentials were derived: the secrets vanish with their columns,
    and an open SFU meeting (which could no longer be moderated) is ended."""
    app = make_app(create=False)
    with app.app_context():
        upgrade(revision="d3a91f7c2e60")
        with db.engine.begin() as connection:
            for meeting_id, state, media in ((1, "open", "sfu"), (2, "open", "mesh")):
                connection.exec_driver_sql(
                    "INSERT INTO meetings (id, name, state, waiting_room, locked,"
                    " max_participants, created_at, invite_uses, media, janus_room,"
                    f" janus_secret) VALUES ({meeting_id}, 'm', '{state}', false, false, 30,"
                    f" '2026-12-04 20:00:00', 0, '{media}', 7, 'plain-room-secret')"
                )
                connection.exec_driver_sql(
                    "INSERT INTO meeting_participants (meeting_id, username, state,"
                    " requested_at, denials, janus_token) VALUES"
                    f" ({meeting_id}, 'host', 'admitted', '2026-12-04 20:00:00', 0,"
                    " 'ccj_plain-seat-token')"
                )
        upgrade()
        with db.engine.connect() as connection:
            dump = [
                str(value)
                for table in ("meetings", "meeting_participants")
                for row in connection.exec_driver_sql(f"SELECT * FROM {table}")
                for value in row
            ]
            states = dict(connection.exec_driver_sql("SELECT id, state FROM meetings").all())
            seats = dict(
                connection.exec_driver_sql(
                    "SELECT meeting_id, state FROM meeting_participants"
                ).all()
            )
    assert not any("plain" in value for value in dump)
    assert states == {1: "ended", 2: "open"} and seats == {1: "left", 2: "admitted"}
