"""Who is calling: Flask-Login's request loader reads `Authorization: Bearer <token>`."""

from __future__ import annotations

from flask import Flask, g, request
from flask.sessions import SessionInterface
from flask_login import current_user

from app.auth.tokens import LiveSession, find_live_session, load_session
from app.errors import ApiError
from app.extensions import login_manager
from app.models import AuthSession, User


class Principal(LiveSession):
    """Flask-Login's `current_user` for a request with a live token: ids and names only.

    The `User` and `AuthSession` objects are loaded only for views that ask for them
    (`require_login`, `current_session`); the hottest views need no more than this."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        return str(self.user_id)


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _load_user_from_request(_request) -> Principal | None:
    token = bearer_token()
    if token is None:
        return None
    live = find_live_session(token)
    return Principal(**vars(live)) if live is not None else None


def _unauthorized() -> ApiError:
    return ApiError(
        401,
        "unauthorized",
        "Send a valid session token as 'Authorization: Bearer <token>'.",
        headers={"WWW-Authenticate": 'Bearer realm="chimecast"'},
    )


def require_principal() -> Principal:
    """Who is calling, or ApiError 401 (same answer for missing, bad or dead tokens)."""
    if not current_user.is_authenticated:
        raise _unauthorized()
    return current_user._get_current_object()  # type: ignore[attr-defined]


def require_login() -> User:
    """The authenticated user as an object, or ApiError 401 (see `require_principal`)."""
    return current_session().user


def current_session() -> AuthSession:
    """The session behind this request, with its user (loaded once per request); 401 if
    there is none, or if it was deleted since the token was checked."""
    session = g.get("auth_session")
    if session is None:
        session = load_session(require_principal().session_id)
        if session is None:
            raise _unauthorized()
        g.auth_session = session
    return session


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
