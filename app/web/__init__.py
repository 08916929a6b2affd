"""The single-page web client: `/`, its security headers and `/client-config`."""

from flask import Blueprint

bp = Blueprint("web", __name__)

from app.web import routes  # noqa: E402,F401  (routes attach themselves to bp)
