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
