"""GET / (the web client page) and GET /client-config (what a client needs to connect).

The page is static HTML plus ES modules from /static; it carries no inline script or style,
so the Content-Security-Policy can forbid both. The signaling URL reaches the page through
/client-config, never through a templated script.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, make_response, render_template, request, send_file
from pydantic import BaseModel, Field

from app.api import endpoint

bp = Blueprint("web", __name__)


class ClientConfigOut(BaseModel):
    signaling_url: str = Field(description="absolute ws:// or wss:// URL of the signaling socket")
    protocol: int = Field(description="signaling protocol version (PROTOCOL.md)")


def signaling_url() -> str:
    """CHIMECAST_SIGNALING_URL as an absolute ws(s) URL; default `/ws` on CHIMECAST_PUBLIC_URL.

    A configured path (e.g. `/signal/ws`) is taken relative to CHIMECAST_PUBLIC_URL. Only
    when that is unset (development: production refuses to start without it) does the
    request's own scheme and Host header stand in for it.
    """
    configured = current_app.config.get("SIGNALING_URL") or "/ws"
    if "://" in configured:
        return configured
    public = current_app.config.get("PUBLIC_URL")
    if public:
        scheme, _, authority = public.rstrip("/").partition("://")
    else:
        scheme, authority = request.scheme, request.host
    socket_scheme = "wss" if scheme == "https" else "ws"
    return f"{socket_scheme}://{authority}/{configured.lstrip('/')}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def content_security_policy(socket_url: str, media_urls: tuple[str, ...] = ()) -> str:
    """A strict policy: own scripts and styles only, connections only to us, the daemon
    and the Janus nodes of SFU meetings (`media_urls`)."""
    origins = dict.fromkeys(filter(None, [_origin(socket_url), *map(_origin, media_urls)]))
    connect = " ".join(["'self'", *origins])
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "media-src 'self' blob: mediastream:",
            f"connect-src {connect}",
            "manifest-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


@bp.get("/")
def index():
    """The web client. Everything it does goes through the JSON API and the socket."""
    response = make_response(render_template("index.html"))
    headers = response.headers
    janus = tuple(node["api"] for node in current_app.config.get("JANUS_URLS") or [])
    headers["Content-Security-Policy"] = content_security_policy(signaling_url(), janus)
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Permissions-Policy"] = "camera=(self), microphone=(self), geolocation=()"
    return response


@bp.get("/client-config")
@endpoint(
    "Where a client connects: the signaling WebSocket URL and protocol version",
    responses={200: ClientConfigOut},
    auth=False,
    tag="client",
)
def client_config():
    return ClientConfigOut(signaling_url=signaling_url(), protocol=1)


@bp.get("/vendor/janus.js")
def janus_js():
    """The Janus browser library (Debian's libjs-janus-gateway), served from this origin."""
    path = current_app.config["JANUS_JS"]
    if not os.path.isfile(path):
        abort(404)
    return send_file(path, mimetype="text/javascript", max_age=3600)
