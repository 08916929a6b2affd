"""Meetings (mesh group calls) and their participant records."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.models.base import Base, UTCDateTime
from app.models.user import User


class MeetingState(enum.StrEnum):
    OPEN = "open"
    ENDED = "ended"


class SeatState(enum.StrEnum):
    """Where a participant stands: in the waiting room, in the meeting, or out of it."""

    WAITING = "waiting"
    ADMITTED = "admitted"
    DENIED = "denied"
    LEFT = "left"
    REMOVED = "removed"


class MediaPath(enum.StrEnum):
    """How a meeting's media flows: every participant to every other, or through Janus."""

    MESH = "mesh"
    SFU = "sfu"


class Meeting(Base):
    """A group call: every admitted participant connects to every other (mesh), or each
    publishes once to a Janus VideoRoom and subscribes to the others there (sfu).

    The invite is a capability: only the SHA-256 of its token is stored, with an optional
    expiry and use limit. An SFU meeting records its Janus node (the node's API URL), its
    room and the nonce its secret is derived from (the secret itself is never stored).
    """

    __tablename__ = "meetings"
    # Ids are never reused (SQLite would hand a deleted row's id to the next insert).
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    host_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(16), default=MeetingState.OPEN.value, index=True)
    end_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    waiting_room: Mapped[bool] = mapped_column(Boolean, default=False)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    max_participants: Mapped[int] = mapped_column(default=6)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    invite_token_hash: Mapped[str | None] = mapped_column(String(64), default=None, unique=True)
    invite_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    invite_max_uses: Mapped[int | None] = mapped_column(default=None)
    invite_uses: Mapped[int] = mapped_column(default=0)
    # Who shares a screen now (one at a time); a plain id, cleared when they leave.
    screen_sharer_id: Mapped[int | None] = mapped_column(default=None)
    media: Mapped[str] = mapped_column(
        String(8), default=MediaPath.MESH.value, server_default=MediaPath.MESH.value
    )
    janus_node: Mapped[str | None] = mapped_column(String(255), default=None, index=True)
    janus_room: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # The room's secret is derived, never stored (app/janus/rooms.py): only its nonce is here.
    janus_nonce: Mapped[str | None] = mapped_column(String(32), default=None)

    host: Mapped[User | None] = relationship(foreign_keys=[host_id], lazy="joined")
    seats: Mapped[list[MeetingParticipant]] = relationship(
        back_populates="meeting", order_by="MeetingParticipant.id", cascade="all, delete-orphan"
    )


class MeetingParticipant(Base):
    """One user's record in one meeting: requested, admitted, left; the role is on Meeting."""

    __tablename__ = "meeting_participants"
    __table_args__ = (UniqueConstraint("meeting_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    username: Mapped[str] = mapped_column(String(32))  # kept when the account is deleted
    session_id: Mapped[int | None] = mapped_column(default=None)  # the device in the meeting
    state: Mapped[str] = mapped_column(String(16), default=SeatState.WAITING.value)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    left_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    denials: Mapped[int] = mapped_column(default=0)
    # SFU meetings: the nonce of this seat's current Janus grant while it has one (None
    # otherwise). The stored token is derived from it and the server key, never stored;
    # each grant has a new nonce, so a seat that comes back gets a new token.
    janus_grant: Mapped[str | None] = mapped_column(String(32), default=None)
    # ...and the feed id it publishes under: random (unguessable), kept for the seat.
    janus_feed: Mapped[int | None] = mapped_column(BigInteger, default=None)

    meeting: Mapped[Meeting] = relationship(back_populates="seats")


class JanusWithdrawal(Base):
    """A seat's Janus token still to be taken back from its node (app/janus/withdrawals.py).

    Written in the transaction that revokes the grant, deleted once Janus confirms: only
    nonces are kept, the token and the room's secret are derived from them again."""

    __tablename__ = "janus_withdrawals"

    id: Mapped[int] = mapped_column(primary_key=True)
    node: Mapped[str] = mapped_column(String(255))
    room: Mapped[int] = mapped_column(BigInteger)
    room_nonce: Mapped[str] = mapped_column(String(32))
    seat_id: Mapped[int] = mapped_column()
    grant: Mapped[str] = mapped_column(String(32))
    feed: Mapped[int | None] = mapped_column(BigInteger, default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
