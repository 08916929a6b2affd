"""Request and response shapes for accounts, sessions and user search."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.api import Input, Query
from app.models import AuthSession, User

USERNAME_PATTERN = r"^[a-z0-9_.-]{3,32}$"  # as stored
# As accepted, and declared in the OpenAPI document: ASCII letters in either case (stored
# lower-case), with surrounding spaces ignored. Exactly what `normalize_username` enforces.
USERNAME_INPUT_PATTERN = r"^ *[A-Za-z0-9_.-]{3,32} *$"
USERNAME_RULES = "3-32 characters: lower-case letters, digits, '_', '.', '-' (case-insensitive)"


class UserOut(BaseModel):
    username: str
    display_name: str
    created_at: datetime

    @classmethod
    def from_user(cls, user: User) -> UserOut:
        return cls(
            username=user.username, display_name=user.display_name, created_at=user.created_at
        )


class PublicUserOut(UserOut):
    presence: str = Field(description="online, in_call (in a call or a meeting) or offline")


class UserListQuery(Query):
    q: str = Field(default="", max_length=64)
    limit: int = Field(default=20, ge=1, le=100)


class UserListOut(BaseModel):
    items: list[PublicUserOut]


class ContactQuery(Query):
    limit: int = Field(default=8, ge=1, le=50)


class ContactOut(PublicUserOut):
    last_call_at: datetime = Field(description="when the latest call between you began")


class ContactListOut(BaseModel):
    items: list[ContactOut]


class RegisterIn(Input):
    # The pattern is documented, not enforced by pydantic: `normalize_username` applies the
    # same one and answers with its own code (400 invalid_username).
    username: str = Field(
        max_length=64,
        description=USERNAME_RULES,
        json_schema_extra={"pattern": USERNAME_INPUT_PATTERN},
    )
    password: str = Field(max_length=1024)
    display_name: str = Field(default="", max_length=64)


class LoginIn(Input):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class LoginOut(BaseModel):
    token: str = Field(description="send as 'Authorization: Bearer <token>'; shown only once")
    expires_at: datetime
    user: UserOut


class ProfileIn(Input):
    display_name: str = Field(max_length=64)


class PasswordChangeIn(Input):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


class PasswordConfirmIn(Input):
    password: str = Field(max_length=1024)


class SessionOut(BaseModel):
    id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip: str
    user_agent: str
    current: bool

    @classmethod
    def from_session(cls, session: AuthSession, current_id: int) -> SessionOut:
        return cls(
            id=session.id,
            created_at=session.created_at,
            last_seen_at=session.last_seen_at,
            expires_at=session.expires_at,
            ip=session.ip,
            user_agent=session.user_agent,
            current=session.id == current_id,
        )


class SessionListOut(BaseModel):
    items: list[SessionOut]
