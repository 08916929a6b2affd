"""Login sessions (bearer tokens) and the session log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.models.base import Base, UTCDateTime
from app.models.user import User


class AuthSession(Base):
    """One login. Only the SHA-256 of the token is stored; the token itself is shown once."""

    __tablename__ = "sessions"
    # Ids are never reused (SQLite would hand a deleted row's id to the next insert).
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoke_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(256), default="")

    user: Mapped[User] = relationship(lazy="joined")


class AuthEvent(Base):
    """The session log: register, logins (good and bad), logouts, revocations, password changes.

    `username` is what was typed (it may name nobody); it never holds a secret.
    """

    __tablename__ = "auth_events"
    __table_args__ = (
        Index("ix_auth_events_username_at", "username", "at"),
        Index("ix_auth_events_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    username: Mapped[str] = mapped_column(String(64), default="")
    session_id: Mapped[int | None] = mapped_column(default=None)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(256), default="")
    detail: Mapped[str] = mapped_column(String(128), default="")
