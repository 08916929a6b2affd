"""Accounts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String, false
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.models.base import Base, UTCDateTime


class User(Base):
    """A person who can log in and call. `username` is stored lower-case and is unique."""

    __tablename__ = "users"
    # Ids are never reused (SQLite would hand a deleted row's id to the next insert).
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    display_name: Mapped[str] = mapped_column(String(64), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    is_disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # A monitoring account (`flask users create --probe`): the calls it starts are probes.
    is_probe: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # Flask-Login protocol. Authentication is per request (Bearer token), never a cookie.
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return not self.is_disabled

    def get_id(self) -> str:
        """Flask-Login id: the current session's public id, not the user's primary key."""
        from flask import g

        session = g.get("auth_session")
        return str(session.id) if session is not None else ""

    def __repr__(self) -> str:
        return f"<User {self.username}>"
