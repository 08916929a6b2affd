"""Call records and the outbox of events the signaling daemon pushes to users."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.models.base import Base, UTCDateTime
from app.models.user import User


class CallState(enum.StrEnum):
    RINGING = "ringing"
    ACTIVE = "active"
    ENDED = "ended"


class EndReason(enum.StrEnum):
    HANGUP = "hangup"  # a participant hung up an answered call
    DECLINED = "declined"  # the callee refused
    CANCELLED = "cancelled"  # the caller gave up before an answer
    MISSED = "missed"  # nobody answered within RING_TIMEOUT
    BUSY = "busy"  # the callee was already in a call
    CONNECTION_LOST = "connection_lost"  # a participant vanished and did not come back
    OFFLINE = "offline"  # the callee had no connected device: nothing rang, missed at once


class Call(Base):
    """A 1:1 call. States go ringing -> active -> ended, or ringing -> ended."""

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_caller_created", "caller_id", "created_at"),
        Index("ix_calls_callee_created", "callee_id", "created_at"),
        # Ringing calls past the ring timeout are found by a range scan, not by reading
        # every ringing (or active) call.
        Index("ix_calls_state_created", "state", "created_at"),
        # A user's ringing and active calls, one lookup per side (app/calls/service.py).
        Index("ix_calls_caller_state", "caller_id", "state"),
        Index("ix_calls_callee_state", "callee_id", "state"),
        # Ids are never reused (SQLite would hand a deleted row's id to the next insert).
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    caller_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    callee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The login session (device) on each side that is in the call: the caller's session that
    # started it, the callee's session that answered. The daemon relays only to these.
    caller_session_id: Mapped[int | None] = mapped_column(default=None)
    callee_session_id: Mapped[int | None] = mapped_column(default=None)
    state: Mapped[str] = mapped_column(String(16), default=CallState.RINGING.value)
    end_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    ended_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    # Which process ended a `connection_lost` call: the daemon (node id) whose grace
    # timer ran out, or "web" when no daemon was left to do it (app/liveness.py).
    ended_by_node: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # What each side reported about the media path: {"alice": {"path": "direct", "rtt_ms": 3}}
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Started by a probe user (chimecast-probe): left out of stats, metrics and webhooks.
    probe: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    caller: Mapped[User | None] = relationship(foreign_keys=[caller_id], lazy="joined")
    callee: Mapped[User | None] = relationship(foreign_keys=[callee_id], lazy="joined")
    ended_by: Mapped[User | None] = relationship(foreign_keys=[ended_by_id], lazy="joined")

    @property
    def participant_ids(self) -> tuple[int, ...]:
        return tuple(uid for uid in (self.caller_id, self.callee_id) if uid is not None)

    @property
    def duration_seconds(self) -> float | None:
        """Talk time: answered to ended (None if never answered, or still going)."""
        if self.answered_at is None or self.ended_at is None:
            return None
        return round((self.ended_at - self.answered_at).total_seconds(), 3)


class Event(Base):
    """Outbox row written in the same transaction as the change it announces.

    The signaling daemon reads rows with `id` greater than the last one it saw and delivers
    `data` to the connected devices of `user_ids`.
    """

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    call_id: Mapped[int | None] = mapped_column(default=None, index=True)
    user_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
