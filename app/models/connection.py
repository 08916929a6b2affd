"""Live signaling connections, written by the daemon; presence is read from here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.models.base import Base, UTCDateTime


class Connection(Base):
    """One open WebSocket of a user's device on one daemon (`node_id`).

    A row counts only while its node is live (`Node`): a daemon that crashed or stopped
    leaves its rows to the sweep of a live daemon, or deletes them itself when it starts
    again. `node_seen_at` is the time of the connect, no longer refreshed.
    """

    __tablename__ = "connections"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    node_id: Mapped[str] = mapped_column(String(64), index=True)
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    node_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
