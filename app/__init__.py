"""ChimeCast web application: accounts, sessions, call records and the web client."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app import (
    auth,
    calls,
    cli,
    dbwatchdog,
    headers,
    ice,
    logs,
    meetings,
    metrics,
    shipped,
    sqlite_writer,
    system,
    users,
    web,
)
from app.auth import current
from app.config import finalize, load_settings
from app.errors import register_error_handlers
from app.extensions import db, migrate
from app.janus import nodes as janus_nodes
from app.webhooks import cli as webhook_cli


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from `CHIMECAST_*` settings, overridden by `config` (tests)."""
    app = Flask(__name__, instance_relative_config=True)
    register_config(app, config)
    register_extensions(app)
    register_blueprints(app)
    register_errors(app)
    register_headers(app)
    register_metrics(app)
    register_commands(app)
    register_proxy(app)
    return app


def register_config(app: Flask, overrides: Mapping[str, Any] | None) -> None:
    app.config.from_mapping(load_settings())
    logs.configure(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    app.config["MIGRATIONS_DIR"] = shipped.migrations_dir()
    app.config["JSON_SORT_KEYS"] = False
    if overrides:
        app.config.from_mapping(overrides)
    os.makedirs(app.instance_path, exist_ok=True)
    finalize(app.config, app.instance_path)  # type: ignore[arg-type]
    app.testing = app.config["ENV"] == "testing"


def register_extensions(app: Flask) -> None:
    sqlite_writer.install()  # SQLite writes serialized per process; idempotent
    db.init_app(app)
    with app.app_context():  # PostgreSQL: no command waits for ever (app/dbwatchdog.py)
        dbwatchdog.install(db.engine, app.config["DB_STATEMENT_TIMEOUT"] or 0)
    migrate.init_app(app, db, directory=app.config["MIGRATIONS_DIR"], render_as_batch=True)
    current.init_app(app)
    janus_nodes.init_app(app)


def register_blueprints(app: Flask) -> None:
    for package in (auth, users, calls, meetings, ice, system, web):
        app.register_blueprint(package.bp)


def register_errors(app: Flask) -> None:
    register_error_handlers(app)


def register_headers(app: Flask) -> None:
    headers.init_app(app)


def register_metrics(app: Flask) -> None:
    metrics.init_app(app)


def register_commands(app: Flask) -> None:
    cli.init_app(app)
    webhook_cli.init_app(app)


def register_proxy(app: Flask) -> None:
    """Honour X-Forwarded-For only from the configured number of trusted proxies."""
    hops = app.config["TRUSTED_PROXIES"]
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
