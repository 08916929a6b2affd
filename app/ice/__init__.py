"""STUN/TURN configuration for clients, with coturn REST-API credentials."""

from flask import Blueprint

bp = Blueprint("ice", __name__)

from app.ice import routes  # noqa: E402,F401  (routes attach themselves to bp)
