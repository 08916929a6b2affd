"""Live signaling connections, written by the daemon; presence is read from here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.models.base import Base, UTCDateTime


class Connection(Base):
    """One open WebSocket of a user's device on one daemon (`node_id`).

    A daemon deletes its rows on clean shutdown and on start-up (after a crash), and
    refreshes `node_seen_at` of its rows on its heartbeat, so rows of a dead node age out.
    """

    __tablename__ = "connections"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    node_id: Mapped[str] = mapped_column(String(64), index=True)
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    node_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
