"""GET /healthz, /readyz, /openapi.json."""

from __future__ import annotations

import functools
import os

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

from app.errors import error_response
from app.extensions import db
from app.metrics import render as render_metrics
from app.openapi import build_openapi
from app.system import bp


@functools.lru_cache(maxsize=4)
def _head_revision(directory: str) -> str | None:
    return ScriptDirectory(directory).get_current_head()


@bp.get("/healthz")
def healthz():
    """The process is up (no dependencies checked)."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Ready for traffic: the database answers and its schema is at the latest migration."""
    directory = current_app.config["MIGRATIONS_DIR"]
    try:
        with db.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError:
        return error_response(503, "database_unavailable", "The database is not reachable.")
    head = _head_revision(directory) if os.path.isdir(directory) else current
    if current != head:
        return error_response(
            503,
            "migrations_pending",
            f"Database at {current}, code expects {head}; run 'flask db upgrade'.",
        )
    return jsonify(status="ready", revision=current)


@bp.get("/metrics")
def metrics():
    """Prometheus metrics (text exposition format)."""
    return render_metrics(current_app)


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI document generated from the routes."""
    return jsonify(build_openapi(current_app))
