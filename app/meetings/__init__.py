"""Meetings: mesh group calls with a host, a waiting room and moderation."""

from flask import Blueprint

bp = Blueprint("meetings", __name__)

from app.meetings import routes  # noqa: E402,F401  (routes attach themselves to bp)
