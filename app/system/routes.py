"""GET /healthz, /readyz, /openapi.json."""

from __future__ import annotations

import functools

from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from flask import Blueprint, current_app, jsonify
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from app.api import ErrorOut, PlainText, endpoint
from app.dbprobe import probe_for
from app.errors import error_response
from app.janus.nodes import pool as janus_pool
from app.metrics import render as render_metrics
from app.openapi import build_openapi

bp = Blueprint("system", __name__)


class HealthOut(BaseModel):
    status: str


class JanusNodeOut(BaseModel):
    url: str
    up: bool
    rooms: int = Field(description="open SFU meetings placed on the node")


class ReadyOut(BaseModel):
    status: str = Field(description="ready, or degraded when a Janus node is down")
    revision: str | None
    janus: list[JanusNodeOut] | None = Field(
        default=None, description="Janus nodes (when configured): a dead one degrades, never 503"
    )


class OpenApiOut(BaseModel):
    """An OpenAPI 3.1 document."""

    model_config = ConfigDict(extra="allow")
    openapi: str
    info: dict
    paths: dict


@functools.lru_cache(maxsize=4)
def _scripts(directory: str) -> ScriptDirectory | None:
    """The code's migrations, read once (None when they cannot be read)."""
    try:
        script = ScriptDirectory(directory)
        script.get_heads()  # read them all now: an upgrade replaces the files under us
    except CommandError:
        return None
    return script


def _unapplied_heads(script: ScriptDirectory, current: frozenset[str]) -> list[str]:
    """The code's heads the database has not reached (behind, or on another branch).

    A database revision the code does not know is a newer release's migration: the upgrade
    order is "migrate, then web", so the old processes stay ready until they are replaced.
    """
    try:
        applied = {rev.revision for rev in script.revision_map.iterate_revisions(current, "base")}
    except RevisionError:
        return []
    return sorted(set(script.get_heads()) - applied)


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
        current = probe.check(_current_heads, current_app.config["READYZ_TIMEOUT"])
    except (SQLAlchemyError, TimeoutError):
        return error_response(503, "database_unavailable", "The database is not reachable.")
    script = _scripts(directory)
    if script is None:
        # Never "ready" on a schema we cannot check (a wheel once shipped without them).
        message = f"Migrations not found at {directory}; reinstall ChimeCast."
        return error_response(503, "migrations_pending", message)
    missing = _unapplied_heads(script, current)
    if missing:
        found = ",".join(sorted(current)) or None
        message = f"Database at {found}, code expects {','.join(missing)}; run 'flask db upgrade'."
        return error_response(503, "migrations_pending", message)
    revision = ",".join(sorted(current))
    nodes = janus_pool()
    if nodes is None:
        return jsonify(status="ready", revision=revision)
    # Mesh meetings and everything else still work with a Janus node down: degraded, not 503.
    janus = nodes.status()
    status = "ready" if all(node["up"] for node in janus) else "degraded"
    return jsonify(status=status, revision=revision, janus=janus)


def _current_heads(connection: Connection) -> frozenset[str]:
    """The revisions the database is at, read from Alembic's own table. Not through
    MigrationContext: that logs two INFO lines per call, i.e. per load-balancer probe."""
    if not inspect(connection).has_table("alembic_version"):
        return frozenset()
    return frozenset(connection.scalars(text("SELECT version_num FROM alembic_version")))


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
