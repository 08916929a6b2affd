"""/me, /me/password, /me/sessions, /users."""

from __future__ import annotations

from flask import Blueprint
from sqlalchemy import select

from app.api import ErrorOut, endpoint
from app.auth import audit
from app.auth.audit import AuthEventKind
from app.auth.current import current_session, require_login
from app.auth.passwords import verify_password
from app.auth.tokens import is_live, revoke_sessions
from app.errors import ApiError
from app.extensions import db
from app.models import AuthSession
from app.users.contacts import recent_contacts
from app.users.schemas import (
    ContactListOut,
    ContactOut,
    ContactQuery,
    PasswordChangeIn,
    PasswordConfirmIn,
    ProfileIn,
    PublicUserOut,
    SessionListOut,
    SessionOut,
    UserListOut,
    UserListQuery,
    UserOut,
)
from app.users.service import (
    clean_display_name,
    delete_user,
    find_user,
    presence_of,
    search_users,
    set_password,
)

bp = Blueprint("users", __name__)


def wrong_password() -> ApiError:
    return ApiError(403, "wrong_password", "The password is not correct.")


@bp.get("/me")
@endpoint("The signed-in user", responses={200: UserOut, 401: ErrorOut}, tag="account")
def me():
    return UserOut.from_user(require_login())


@bp.patch("/me")
@endpoint(
    "Change the display name",
    body=ProfileIn,
    responses={200: UserOut, 400: ErrorOut, 401: ErrorOut},
    tag="account",
)
def update_me(body: ProfileIn):
    user = require_login()
    name = clean_display_name(body.display_name)
    if not name:
        raise ApiError(400, "invalid_field", "display_name: must not be empty.")
    user.display_name = name
    db.session.commit()
    return UserOut.from_user(user)


@bp.post("/me/password")
@endpoint(
    "Change the password; every other session is revoked",
    body=PasswordChangeIn,
    responses={204: None, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut},
    tag="account",
)
def change_password(body: PasswordChangeIn):
    user = require_login()
    if not verify_password(user.password_hash, body.current_password):
        raise wrong_password()
    set_password(user, body.new_password, keep_session_id=current_session().id)
    audit.record(AuthEventKind.PASSWORD_CHANGED, user, session_id=current_session().id)
    db.session.commit()
    return None, 204


@bp.delete("/me")
@endpoint(
    "Delete the account (needs the password); call history stays with the other side",
    body=PasswordConfirmIn,
    responses={204: None, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut},
    tag="account",
)
def delete_me(body: PasswordConfirmIn):
    user = require_login()
    if not verify_password(user.password_hash, body.password):
        raise wrong_password()
    audit.record(AuthEventKind.ACCOUNT_DELETED, user, detail=user.username)
    delete_user(user)
    db.session.commit()
    return None, 204


@bp.get("/me/sessions")
@endpoint(
    "My live sessions (devices)", responses={200: SessionListOut, 401: ErrorOut}, tag="account"
)
def my_sessions():
    user = require_login()
    sessions = db.session.scalars(
        select(AuthSession)
        .where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
        .order_by(AuthSession.created_at.desc())
    )
    current_id = current_session().id
    items = [SessionOut.from_session(s, current_id) for s in sessions if is_live(s)]
    return SessionListOut(items=items)


@bp.delete("/me/sessions/<int:session_id>")
@endpoint(
    "Revoke one of my sessions (a lost phone)",
    responses={204: None, 401: ErrorOut, 404: ErrorOut},
    tag="account",
)
def revoke_my_session(session_id: int):
    user = require_login()
    session = db.session.get(AuthSession, session_id)
    if session is None or session.user_id != user.id or session.revoked_at is not None:
        raise ApiError(404, "session_not_found", "No such session.")
    revoke_sessions([session], "revoked_by_user")
    audit.record(AuthEventKind.SESSION_REVOKED, user, session_id=session.id)
    db.session.commit()
    return None, 204


@bp.get("/me/contacts")
@endpoint(
    "People I called or who called me, latest call first, with presence",
    query=ContactQuery,
    responses={200: ContactListOut, 400: ErrorOut, 401: ErrorOut},
    tag="users",
)
def my_contacts(query: ContactQuery):
    user = require_login()
    found = recent_contacts(user.id, query.limit)
    presence = presence_of([other.id for other, _last in found])
    items = [
        ContactOut(
            **UserOut.from_user(other).model_dump(), presence=presence[other.id], last_call_at=last
        )
        for other, last in found
    ]
    return ContactListOut(items=items)


@bp.get("/users")
@endpoint(
    "Find people to call",
    query=UserListQuery,
    responses={200: UserListOut, 400: ErrorOut, 401: ErrorOut},
    tag="users",
)
def list_users(query: UserListQuery):
    require_login()
    users = search_users(query.q.strip(), query.limit)
    presence = presence_of([u.id for u in users])
    items = [
        PublicUserOut(**UserOut.from_user(u).model_dump(), presence=presence[u.id]) for u in users
    ]
    return UserListOut(items=items)


@bp.get("/users/<username>")
@endpoint(
    "One user, with presence",
    responses={200: PublicUserOut, 401: ErrorOut, 404: ErrorOut},
    tag="users",
)
def show_user(username: str):
    require_login()
    user = find_user(username)
    if user is None or user.is_disabled:
        raise ApiError(404, "user_not_found", "No such user.")
    presence = presence_of([user.id])[user.id]
    return PublicUserOut(**UserOut.from_user(user).model_dump(), presence=presence)
