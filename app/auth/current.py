"""Who is calling: Flask-Login's request loader reads `Authorization: Bearer <token>`."""

from __future__ import annotations

from flask import Flask, g, request
from flask.sessions import SessionInterface
from flask_login import current_user

from app.auth.tokens import find_live_session
from app.errors import ApiError
from app.extensions import login_manager
from app.models import AuthSession, User


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _load_user_from_request(_request) -> User | None:
    token = bearer_token()
    if token is None:
        return None
    session = find_live_session(token)
    if session is None:
        return None
    g.auth_session = session
    return session.user


def require_login() -> User:
    """The authenticated user, or ApiError 401 (same answer for missing, bad or dead tokens)."""
    if not current_user.is_authenticated:
        raise ApiError(
            401,
            "unauthorized",
            "Send a valid session token as 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": 'Bearer realm="chimecast"'},
        )
    return current_user._get_current_object()  # type: ignore[attr-defined]


def current_session() -> AuthSession:
    """The session behind this request; call after `require_login()`."""
    return g.auth_session


def client_ip() -> str:
    """Client address; ProxyFix has already applied the trusted X-Forwarded-For hops."""
    return (request.remote_addr or "")[:64]


def user_agent() -> str:
    return request.headers.get("User-Agent", "")[:256]


class NoCookieSessions(SessionInterface):
    """Every request gets Flask's null session: reading it finds nothing, writing to it
    raises, and no cookie is ever read, signed or set. Identity is the bearer token alone."""

    def open_session(self, app, request):
        return self.make_null_session(app)

    def save_session(self, app, session, response) -> None:
        pass


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.request_loader(_load_user_from_request)
    # No cookie sessions: Flask-Login must never remember anyone between requests, and
    # has no session to protect (its per-request IP/User-Agent digest would guard nothing).
    login_manager.user_loader(lambda _id: None)
    login_manager.session_protection = None
    app.session_interface = NoCookieSessions()
