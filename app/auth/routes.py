"""POST /register, /login, /logout."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from app.api import ErrorOut, endpoint
from app.auth import audit, bp
from app.auth.audit import AuthEventKind
from app.auth.current import client_ip, current_session, require_login, user_agent
from app.auth.passwords import burn_verification_time, hash_password, needs_rehash, verify_password
from app.auth.throttle import check_login_allowed
from app.auth.tokens import issue_session, revoke_sessions
from app.errors import ApiError
from app.extensions import db
from app.metrics import LOGINS
from app.users.schemas import LoginIn, LoginOut, RegisterIn, UserOut
from app.users.service import create_user, find_user


def invalid_credentials() -> ApiError:
    return ApiError(401, "invalid_credentials", "Wrong username or password.")


@bp.post("/register")
@endpoint(
    "Create an account",
    body=RegisterIn,
    responses={201: UserOut, 400: ErrorOut, 409: ErrorOut},
    auth=False,
    tag="auth",
)
def register(body: RegisterIn):
    user = create_user(body.username, body.password, body.display_name)
    try:
        db.session.flush()
    except IntegrityError as exc:  # a concurrent registration won the name
        db.session.rollback()
        raise ApiError(409, "username_taken", "That username is taken.") from exc
    audit.record(AuthEventKind.REGISTER, user)
    db.session.commit()
    return UserOut.from_user(user), 201


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
        check_login_allowed(typed, client_ip())
    except ApiError:
        LOGINS.labels("throttled").inc()
        audit.record(AuthEventKind.LOGIN_THROTTLED, username=typed)
        db.session.commit()
        raise
    user = find_user(typed)
    if user is None:
        burn_verification_time(body.password)  # same cost as a wrong password
        ok = False
    else:
        ok = verify_password(user.password_hash, body.password) and not user.is_disabled
    LOGINS.labels("success" if ok else "failure").inc()
    if not ok:
        audit.record(AuthEventKind.LOGIN_FAILURE, user, username=typed)
        db.session.commit()
        raise invalid_credentials()
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(body.password)
    token, session = issue_session(user, client_ip(), user_agent())
    db.session.flush()
    audit.record(AuthEventKind.LOGIN_SUCCESS, user, session_id=session.id)
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
