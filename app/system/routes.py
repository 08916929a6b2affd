"""GET /healthz, /readyz, /openapi.json."""

from __future__ import annotations

import functools
import os

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app, jsonify
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from app.api import ErrorOut, PlainText, endpoint
from app.dbprobe import probe_for
from app.errors import error_response
from app.metrics import render as render_metrics
from app.openapi import build_openapi
from app.system import bp


class HealthOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    status: str
    revision: str | None


class OpenApiOut(BaseModel):
    """An OpenAPI 3.1 document."""

    model_config = ConfigDict(extra="allow")
    openapi: str
    info: dict
    paths: dict


@functools.lru_cache(maxsize=4)
def _head_revision(directory: str) -> str | None:
    return ScriptDirectory(directory).get_current_head()


@bp.get("/healthz")
@endpoint("The process is up", responses={200: HealthOut}, auth=False, tag="system")
def healthz():
    """The process is up (no dependencies checked)."""
    return jsonify(status="ok")


@bp.get("/readyz")
@endpoint(
    "Ready: database reachable, migrations current",
    responses={200: ReadyOut, 503: ErrorOut},
    auth=False,
    tag="system",
)
def readyz():
    """Ready for traffic: the database answers (within READYZ_TIMEOUT, on a connection of
    its own, so a dead network cannot hang it) and its schema is at the latest migration."""
    directory = current_app.config["MIGRATIONS_DIR"]
    probe = probe_for(current_app._get_current_object())  # type: ignore[attr-defined]
    try:
        current = probe.check(_revision, current_app.config["READYZ_TIMEOUT"])
    except (SQLAlchemyError, TimeoutError):
        return error_response(503, "database_unavailable", "The database is not reachable.")
    head = _head_revision(directory) if os.path.isdir(directory) else current
    if current != head:
        return error_response(
            503,
            "migrations_pending",
            f"Database at {current}, code expects {head}; run 'flask db upgrade'.",
        )
    return jsonify(status="ready", revision=current)


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@bp.get("/metrics")
@endpoint("Prometheus metrics", responses={200: PlainText}, auth=False, tag="system")
def metrics():
    """Prometheus metrics (text exposition format)."""
    return render_metrics(current_app)


@bp.get("/openapi.json")
@endpoint("This document", responses={200: OpenApiOut}, auth=False, tag="system")
def openapi():
    """The OpenAPI document generated from the routes."""
    return jsonify(build_openapi(current_app))
