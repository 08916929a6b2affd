"""POST /register, /login, /logout."""

from __future__ import annotations

from flask import Blueprint, current_app
from sqlalchemy.exc import IntegrityError

from app.api import ErrorOut, endpoint
from app.auth import audit
from app.auth.audit import AuthEventKind
from app.auth.current import client_ip, current_session, require_login, user_agent
from app.auth.passwords import burn_verification_time, hash_password, needs_rehash, verify_password
from app.auth.throttle import reserve_login, reserve_registration
from app.auth.tokens import issue_session, revoke_sessions
from app.errors import ApiError
from app.extensions import db
from app.metrics import LOGINS
from app.models import AuthEvent
from app.users.schemas import LoginIn, LoginOut, RegisterIn, UserOut
from app.users.service import create_user, find_user

bp = Blueprint("auth", __name__)


def invalid_credentials() -> ApiError:
    return ApiError(401, "invalid_credentials", "Wrong username or password.")


def registration_closed() -> ApiError:
    return ApiError(
        403, "registration_closed", "Registration is closed; an administrator creates accounts."
    )


@bp.post("/register")
@endpoint(
    "Create an account",
    body=RegisterIn,
    responses={201: UserOut, 400: ErrorOut, 403: ErrorOut, 409: ErrorOut, 429: ErrorOut},
    auth=False,
    tag="auth",
)
def register(body: RegisterIn):
    if current_app.config["REGISTRATION"] == "closed":
        raise registration_closed()
    event = reserve_registration(body.username.strip().lower()[:64])
    try:
        user = create_user(body.username, body.password, body.display_name)
        db.session.flush()
    except IntegrityError as exc:  # a concurrent registration won the name
        db.session.rollback()
        _refuse_registration(event, "username_taken")
        raise ApiError(409, "username_taken", "That username is taken.") from exc
    except ApiError as exc:
        db.session.rollback()
        _refuse_registration(event, exc.code)
        raise
    audit.settle(event, AuthEventKind.REGISTER, user)
    db.session.commit()
    return UserOut.from_user(user), 201


def _refuse_registration(event: AuthEvent, code: str) -> None:
    """The reserved row of a registration that made no account: it no longer counts."""
    audit.settle(event, AuthEventKind.REGISTER_REFUSED, detail=code)
    db.session.commit()


@bp.post("/login")
@endpoint(
    "Log in and receive a session token",
    body=LoginIn,
    responses={200: LoginOut, 401: ErrorOut, 429: ErrorOut},
    auth=False,
    tag="auth",
)
def login(body: LoginIn):
    typed = body.username.strip().lower()[:64]
    try:
        event = reserve_login(typed)
    except ApiError:
        LOGINS.labels("throttled").inc()
        raise
    user = find_user(typed)
    if user is None:
        burn_verification_time(body.password)  # same cost as a wrong password
        ok = False
    else:
        ok = verify_password(user.password_hash, body.password) and not user.is_disabled
    LOGINS.labels("success" if ok else "failure").inc()
    if not ok:
        # The reserved row already says login_failure; it gets the user it names, if any.
        audit.settle(event, AuthEventKind.LOGIN_FAILURE, user)
        db.session.commit()
        raise invalid_credentials()
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(body.password)
    token, session = issue_session(user, client_ip(), user_agent())
    db.session.flush()
    audit.settle(event, AuthEventKind.LOGIN_SUCCESS, user, session_id=session.id)
    db.session.commit()
    return LoginOut(token=token, expires_at=session.expires_at, user=UserOut.from_user(user))


@bp.post("/logout")
@endpoint("Revoke the current session token", responses={204: None, 401: ErrorOut}, tag="auth")
def logout():
    user = require_login()
    session = current_session()
    revoke_sessions([session], "logout")
    audit.record(AuthEventKind.LOGOUT, user, session_id=session.id)
    db.session.commit()
    return None, 204
