"""/readyz says `migrations_pending` whenever the database is not exactly at the code's head."""

from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory
from flask_migrate import upgrade
from sqlalchemy import text

from app import create_app
from app.extensions import db
from tests.conftest import FAST_HASHING


@pytest.fixture
def make_app(tmp_path):
    """make_app(**config) -> an app on an empty SQLite file of its own."""
    made = []

    def build(**overrides):
        database = tmp_path / f"ready{len(made)}.db"
        app = create_app(
            {"ENV": "testing", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}"}
            | FAST_HASHING
            | overrides
        )
        made.append(app)
        return app

    yield build
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_readyz_is_503_when_the_database_is_one_migration_behind(make_app):
    app = make_app()
    script = ScriptDirectory(app.config["MIGRATIONS_DIR"])
    head = script.get_revision(script.get_current_head())
    with app.app_context():
        upgrade(revision=head.down_revision)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["error"] == "migrations_pending"
    assert head.revision in response.json["message"]
    with app.app_context():
        upgrade()
    assert app.test_client().get("/readyz").status_code == 200


def test_readyz_stays_ready_on_a_database_a_newer_release_migrated(make_app):
    """Upgrade order is "migrate, then web": the old web processes must stay in rotation."""
    app = make_app()
    with app.app_context():
        upgrade()
        with db.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'f00dfeedbeef'"))
    response = app.test_client().get("/readyz")
    assert response.status_code == 200 and response.json["revision"] == "f00dfeedbeef"


def test_readyz_is_503_on_an_empty_database(make_app):
    response = make_app().test_client().get("/readyz")
    assert response.status_code == 503 and response.json["error"] == "migrations_pending"


def test_readyz_is_503_when_the_migrations_cannot_be_found(make_app, tmp_path):
    """What a wheel without its migrations looked like: never "ready" on a database it
    cannot check, whatever that database holds."""
    app = make_app(MIGRATIONS_DIR=str(tmp_path / "no-such-migrations"))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["error"] == "migrations_pending"
    assert "no-such-migrations" in response.json["message"]


def test_the_migrations_are_found_through_the_app_package_not_the_working_directory():
    from importlib.resources import files

    app = create_app({"ENV": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["MIGRATIONS_DIR"] == str(files("app.migrations"))
    assert ScriptDirectory(app.config["MIGRATIONS_DIR"]).get_current_head()
